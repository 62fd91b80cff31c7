// Faults at the OS boundary (os::FaultEnv): a delivery whose file calls fail
// at any one step either completes or leaves no trace. Each test runs the
// operation once to count its calls of a kind, then once per call with that
// call failing, each time on a fresh instance.
#include <dirent.h>
#include <gtest/gtest.h>

#include <set>

#include "../small_fs.h"
#include "os/fault_env.h"
#include "store/check.h"
#include "store/mailbox.h"
#include "store/staged_message.h"
#include "store_test_util.h"

namespace replimail::store {
namespace {

using os::Fault;
using os::FaultEnv;
using os::Op;
using testing::TempInstance;

const std::string kBody = "Subject: fault\r\n\r\n" + std::string(200000, 'x') + "\r\n";
const std::string kBox = "user.alice";
// Faults are injected on the spool (the partition), or on the sync log.
const std::string kSpool = "/part/";

std::set<std::string> list(const std::string& dir) {
  std::set<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (struct dirent* de = ::readdir(d)) {
    std::string n = de->d_name;
    if (n != "." && n != "..") out.insert(n);
  }
  ::closedir(d);
  return out;
}

struct Spool {
  TempInstance t;
  std::string mbox_dir;
  std::string stage_dir;
  Spool() {
    EXPECT_TRUE(t.inst().create_mailbox(kBox).ok());
    EXPECT_TRUE(t.inst().set_quota(kBox, 100000, 1000).is_ok());
    mbox_dir = (*t.inst().open_mailbox(kBox))->dir();
    stage_dir = t.root() + "/part/stage.";
    t.take_log();
  }
};

// One delivery: stage, finish, append (lmtpd defers the staged file's
// fsync to the commit). OK only if every step was.
Status deliver(Instance& inst, std::string_view body,
               StagedMessage::Durability durability = StagedMessage::Durability::kFsyncNow) {
  auto msg = inst.stage_message();
  if (!msg.ok()) return msg.status();
  Status s = (*msg)->write(body);
  if (s) s = (*msg)->finish(durability);
  if (!s) return s;
  AppendRequest req;
  req.mailbox = kBox;
  req.message = msg->get();
  return inst.append({req})[0].status;
}

// The path of IMAP APPEND (and of a replica's APPLY MAILBOX): the caller
// holds the mailbox transaction and finishes it with Instance::commit.
Status append_in_txn(Instance& inst, std::string_view body) {
  auto msg = inst.stage_message();
  if (!msg.ok()) return msg.status();
  Status s = (*msg)->write(body);
  if (s) s = (*msg)->finish();
  if (!s) return s;
  auto mbox = inst.open_mailbox(kBox);
  if (!mbox.ok()) return mbox.status();
  auto txn = (*mbox)->begin();
  if (!txn.ok()) return txn.status();
  auto rec = (*txn)->append_new(**msg, 0, {"$Fault"}, 0);
  if (!rec.ok()) return rec.status();
  return inst.commit(**mbox, **txn);
}

// What a delivery that answered `acknowledged` must have left: the message
// exactly once with its file, its log lines and its quota; or nothing.
void expect_complete_or_no_trace(Spool& s, bool acknowledged, const std::string& what) {
  SCOPED_TRACE(what);
  auto mbox = s.t.inst().open_mailbox(kBox);
  ASSERT_TRUE(mbox.ok());
  std::vector<IndexRecord> records;
  ASSERT_TRUE((*mbox)->for_each_record(0, [&](const IndexRecord& r) {
    records.push_back(r);
    return true;
  }));
  std::set<std::string> files = list(s.mbox_dir);
  for (auto it = files.begin(); it != files.end();)
    it = it->starts_with("cyrus.index.db") ? files.erase(it) : std::next(it);
  auto quota = s.t.inst().quota().get(kBox);
  ASSERT_TRUE(quota.ok());
  if (acknowledged) {
    ASSERT_EQ(records.size(), 1u);
    EXPECT_FALSE(records[0].expunged());
    EXPECT_EQ(records[0].guid, testing::sha1_hex(kBody));
    EXPECT_EQ(files, std::set<std::string>{"1."});
    auto data = fs::read_file((*mbox)->message_path(records[0].uid));
    ASSERT_TRUE(data.ok());
    EXPECT_TRUE(*data == kBody);
    EXPECT_EQ(quota->storage_used, kBody.size());
    EXPECT_EQ(quota->message_used, 1u);
    auto lines = s.t.take_log();
    EXPECT_NE(std::find(lines.begin(), lines.end(), testing::L("APPEND", {kBox})), lines.end());
  } else {
    EXPECT_TRUE(records.empty()) << records.size() << " records";
    EXPECT_TRUE(files.empty()) << *files.begin();
    EXPECT_EQ(quota->storage_used, 0u);
    EXPECT_EQ(quota->message_used, 0u);
  }
  EXPECT_TRUE(list(s.stage_dir).empty()) << "staging file left: " << *list(s.stage_dir).begin();
  auto report = check_mailbox(s.t.inst(), kBox, {});
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->problems[0].detail;
}

// Runs `op_fn` (the operation under test) once to count its calls of `op`
// on paths containing `path_part`, then once per such call, on a fresh
// spool, with that call failing with `error`; `check` sees each outcome
// with the faults cleared.
template <typename Op_fn, typename Check>
void at_every_call(Op op, int error, const std::string& path_part, Op_fn op_fn, Check check) {
  int n = 0;
  {
    Spool s;
    FaultEnv f;
    os::ScopedEnv scope(&f);
    ASSERT_TRUE(op_fn(s).is_ok());
    n = f.calls(op, path_part);
  }
  ASSERT_GT(n, 0) << os::op_name(op);
  for (int i = 1; i <= n; i++) {
    Spool s;
    FaultEnv f;
    os::ScopedEnv scope(&f);
    f.inject({op, i, false, path_part, error});
    Status st = op_fn(s);
    EXPECT_EQ(f.injected(), 1) << os::op_name(op) << " call " << i;
    f.clear();
    check(s, st,
          std::string(os::op_name(op)) + " call " + std::to_string(i) + ": " + st.to_string());
  }
}

struct Case {
  Op op;
  int error;
};

class DeliveryFault : public ::testing::TestWithParam<Case> {};

TEST_P(DeliveryFault, CompletesOrLeavesNoTraceAndTheNextDeliveryWorks) {
  Case c = GetParam();
  at_every_call(
      c.op, c.error, kSpool, [](Spool& s) { return deliver(s.t.inst(), kBody); },
      [](Spool& s, const Status& st, const std::string& what) {
        expect_complete_or_no_trace(s, st.is_ok(), what);
        if (st) return;
        // It recovers by itself: the same delivery, retried, goes in once.
        Status again = deliver(s.t.inst(), kBody);
        EXPECT_TRUE(again.is_ok()) << again.to_string();
        expect_complete_or_no_trace(s, true, what + ", then retried");
      });
}

TEST_P(DeliveryFault, LmtpDeferredFsyncCompletesOrLeavesNoTrace) {
  Case c = GetParam();
  constexpr auto kDefer = StagedMessage::Durability::kDeferFsync;
  at_every_call(
      c.op, c.error, kSpool, [](Spool& s) { return deliver(s.t.inst(), kBody, kDefer); },
      [](Spool& s, const Status& st, const std::string& what) {
        expect_complete_or_no_trace(s, st.is_ok(), what);
        if (st) return;
        Status again = deliver(s.t.inst(), kBody, kDefer);
        EXPECT_TRUE(again.is_ok()) << again.to_string();
        expect_complete_or_no_trace(s, true, what + ", then retried");
      });
}

// The deferred fsync is not skipped: the commit flushes the staged file
// (once, though the delivery links it into two mailboxes), and a staged
// file whose flush fails is never committed.
TEST(DeferredFsync, TheCommitFlushesTheStagedFileOnceAndRefusesOnFailure) {
  Spool s;
  ASSERT_TRUE(s.t.inst().create_mailbox("user.bob").ok());
  FaultEnv f;
  os::ScopedEnv scope(&f);
  auto msg = s.t.inst().stage_message();
  ASSERT_TRUE(msg.ok());
  ASSERT_TRUE((*msg)->write(kBody).is_ok());
  ASSERT_TRUE((*msg)->finish(StagedMessage::Durability::kDeferFsync).is_ok());
  EXPECT_FALSE((*msg)->durable());
  EXPECT_EQ(f.calls(Op::kFsync, "/stage."), 0);
  AppendRequest a, b;
  a.mailbox = kBox;
  a.message = msg->get();
  b.mailbox = "user.bob";
  b.message = msg->get();
  auto results = s.t.inst().append({a, b});
  EXPECT_TRUE(results[0].status.is_ok() && results[1].status.is_ok());
  EXPECT_TRUE((*msg)->durable());
  EXPECT_EQ(f.calls(Op::kFsync, "/stage."), 1);

  auto failing = s.t.inst().stage_message();
  ASSERT_TRUE(failing.ok());
  ASSERT_TRUE((*failing)->write(kBody).is_ok());
  ASSERT_TRUE((*failing)->finish(StagedMessage::Durability::kDeferFsync).is_ok());
  f.inject(Fault::on_path(Op::kFsync, "/stage."));
  AppendRequest c;
  c.mailbox = kBox;
  c.message = failing->get();
  EXPECT_FALSE(s.t.inst().append({c})[0].status.is_ok());
  f.clear();
  auto mbox = s.t.inst().open_mailbox(kBox);
  ASSERT_TRUE(mbox.ok());
  size_t n = 0;
  ASSERT_TRUE((*mbox)->for_each_record(0, [&](const IndexRecord&) {
    ++n;
    return true;
  }));
  EXPECT_EQ(n, 1u);
}

TEST_P(DeliveryFault, ImapAppendPathCompletesOrLeavesNoTrace) {
  Case c = GetParam();
  at_every_call(
      c.op, c.error, kSpool, [](Spool& s) { return append_in_txn(s.t.inst(), kBody); },
      [](Spool& s, const Status& st, const std::string& what) {
        expect_complete_or_no_trace(s, st.is_ok(), what);
        if (st) return;
        Status again = append_in_txn(s.t.inst(), kBody);
        EXPECT_TRUE(again.is_ok()) << again.to_string();
        expect_complete_or_no_trace(s, true, what + ", then retried");
      });
}

INSTANTIATE_TEST_SUITE_P(EveryStep, DeliveryFault,
                         ::testing::Values(Case{Op::kOpen, EIO}, Case{Op::kOpen, ENOSPC},
                                           Case{Op::kMkdir, ENOSPC}, Case{Op::kWrite, EIO},
                                           Case{Op::kWrite, ENOSPC}, Case{Op::kWrite, EDQUOT},
                                           Case{Op::kFsync, EIO}, Case{Op::kFsyncDir, EIO},
                                           Case{Op::kLink, EIO}, Case{Op::kLink, ENOSPC},
                                           Case{Op::kClose, EIO}),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           std::string n = os::op_name(i.param.op);
                           for (auto& ch : n)
                             if (ch == '-') ch = '_';
                           return n + "_" + std::to_string(i.param.error);
                         });

// The sync log's own calls: a change whose line cannot be written (or
// flushed) is refused and leaves nothing, and the next one works.
class LogFault : public ::testing::TestWithParam<Case> {};

TEST_P(LogFault, ADeliveryWhoseLogLineFailsLeavesNoTrace) {
  Case c = GetParam();
  at_every_call(
      c.op, c.error, "/conf/sync/", [](Spool& s) { return deliver(s.t.inst(), kBody); },
      [](Spool& s, const Status& st, const std::string& what) {
        expect_complete_or_no_trace(s, st.is_ok(), what);
        if (st) return;
        Status again = deliver(s.t.inst(), kBody);
        EXPECT_TRUE(again.is_ok()) << again.to_string();
        expect_complete_or_no_trace(s, true, what + ", then retried");
      });
}

INSTANTIATE_TEST_SUITE_P(EveryStep, LogFault,
                         ::testing::Values(Case{Op::kOpen, EIO}, Case{Op::kWrite, ENOSPC},
                                           Case{Op::kFsync, EIO}),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           return std::string(os::op_name(i.param.op));
                         });

// A disk that fills up at any write of the delivery and stays full.
TEST(DeliveryFault, ADiskFillingUpAtAnyWriteLeavesNoTrace) {
  int n = 0;
  {
    Spool s;
    FaultEnv f;
    os::ScopedEnv scope(&f);
    ASSERT_TRUE(deliver(s.t.inst(), kBody).is_ok());
    n = f.calls(Op::kWrite, kSpool);
  }
  for (int i = 1; i <= n; i++) {
    Spool s;
    FaultEnv f;
    os::ScopedEnv scope(&f);
    f.inject({Op::kWrite, i, true, kSpool, ENOSPC});
    Status st = deliver(s.t.inst(), kBody);
    EXPECT_FALSE(st.is_ok());
    f.set_full(true, kSpool);
    EXPECT_FALSE(deliver(s.t.inst(), kBody).is_ok());
    f.clear();
    expect_complete_or_no_trace(s, false, "full from write " + std::to_string(i));
    EXPECT_TRUE(deliver(s.t.inst(), kBody).is_ok());
    expect_complete_or_no_trace(s, true, "space back after write " + std::to_string(i));
  }
}

// The same on a real full filesystem (a small tmpfs): the error says there
// is no space (LMTP 452 4.3.1, IMAP NO [UNAVAILABLE]), nothing is left, and
// the next delivery after space came back works.
TEST(FullSpool, ADeliveryIsNoSpaceLeavesNoTraceAndWorksOnceSpaceReturns) {
  std::string report;
  int rc = replimail::testing::run_on_small_fs(4096, &report, [](const std::string& dir) {
    auto cfg = Config::parse(fmt::format("configdirectory: {0}/conf\npartition-default: {0}/part\n"
                                         "sync_log: 1\nsync_log_channels: replica\n",
                                         dir),
                             "t.conf");
    if (!cfg.ok()) return std::string("config");
    auto inst = Instance::open(*cfg);
    if (!inst.ok()) return "open: " + inst.status().to_string();
    if (!(*inst)->create_mailbox(kBox).ok()) return std::string("create");
    if (Status s = deliver(**inst, "Subject: small\r\n\r\nx\r\n"); !s)
      return "first: " + s.to_string();
    if (!replimail::testing::fill_filesystem(dir + "/filler")) return std::string("not full");
    Status full = deliver(**inst, kBody);
    if (full.code() != Code::kNoSpace) return "on a full spool: " + full.to_string();
    auto mbox = (*inst)->open_mailbox(kBox);
    if (!mbox.ok() || !(*mbox)->counters().ok() || (*mbox)->counters()->exists != 1)
      return std::string("a record was left");
    if (!list(dir + "/part/stage.").empty())
      return "staging left: " + *list(dir + "/part/stage.").begin();
    ::unlink((dir + "/filler").c_str());
    if (Status s = deliver(**inst, kBody); !s) return "after space returned: " + s.to_string();
    auto check = check_mailbox(**inst, kBox, {.repair = false, .verify_content = true});
    if (!check.ok() || !check->ok()) return std::string("check found problems");
    mbox = (*inst)->open_mailbox(kBox);
    if (!mbox.ok() || !(*mbox)->counters().ok() || (*mbox)->counters()->exists != 2)
      return std::string("the delivery is not there");
    return std::string();
  });
  ASSERT_NE(rc, replimail::testing::kCannotMount) << report;
  EXPECT_EQ(rc, 0) << report;
}

}  // namespace
}  // namespace replimail::store
