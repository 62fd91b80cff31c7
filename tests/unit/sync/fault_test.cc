// Faults at the OS boundary (os::FaultEnv) on a replica: APPLY MESSAGE
// (upload, flush) then APPLY MAILBOX with one file call failing at any
// step either completes or leaves no trace, and the master's retry (the
// same commands again, as sync_client sends them) then completes.
#include <dirent.h>
#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "os/fault_env.h"
#include "store/check.h"
#include "store/mailbox.h"
#include "store/sync_crc.h"
#include "sync/replica.h"

namespace replimail::sync {
namespace {

using os::Fault;
using os::FaultEnv;
using os::Op;

const std::string kText = "Subject: a\r\n\r\n" + std::string(100000, 'a') + "\r\n";
const std::string kBox = "user.alice";

std::string sha1_hex(const std::string& text) {
  unsigned char md[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), md);
  Guid g;
  std::copy(md, md + SHA_DIGEST_LENGTH, g.bytes.begin());
  return g.hex();
}

size_t count_files(const std::string& dir) {
  std::error_code ec;
  size_t n = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file()) n++;
  return n;
}

// A replica instance and one connection's reserve list.
struct Replica1 {
  std::string dir;
  std::unique_ptr<store::Instance> inst;
  std::unique_ptr<ReserveList> reserve;
  std::unique_ptr<Replica> replica;
  Replica1() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "syncfault-XXXXXX").string();
    EXPECT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir = tmpl;
    auto cfg = Config::parse("configdirectory: " + dir + "/conf\npartition-default: " + dir +
                                 "/spool\ndefaultpartition: default\n",
                             "t.conf");
    EXPECT_TRUE(cfg.ok());
    auto i = store::Instance::open(*cfg);
    EXPECT_TRUE(i.ok()) << i.status().to_string();
    inst = std::move(*i);
    reserve = std::make_unique<ReserveList>(*inst);
    replica = std::make_unique<Replica>(*inst, *reserve);
  }
  ~Replica1() {
    replica.reset();
    reserve.reset();
    inst.reset();
    std::filesystem::remove_all(dir);
  }
};

MailboxState master_state(const std::string& guid) {
  RecordItem r;
  r.record.uid = 1;
  r.record.modseq = 2;
  r.record.last_updated = 1700000002;
  r.record.internaldate = 1700000000;
  r.record.size = kText.size();
  r.record.guid = guid;
  r.record.savedate = 1700000000;
  r.record.createdmodseq = 2;
  MailboxState m;
  m.uniqueid = "0f6ab43c-7e2e-4b0c-9d6f-1c2d3e4f5a6b";
  m.mboxname = kBox;
  m.partition = "default";
  m.acl = "alice\tlrswipkxtecdan\t";
  m.options = "P";
  m.uidvalidity = 1700000001;
  m.createdmodseq = 1;
  m.foldermodseq = 1;
  m.last_uid = 1;
  m.highestmodseq = 2;
  m.sync_crc = store::record_crc(r.record);
  m.sync_crc_annot = store::kAnnotCrcSeed ^ store::record_annot_crc(r.record, {});
  m.records = std::vector<RecordItem>{r};
  return m;
}

// What sync_client makes the replica do for one new message: APPLY RESERVE
// (which GUIDs are missing), APPLY MESSAGE for those (upload, then the
// flush started on the list's thread, as sync_server answers it), APPLY
// MAILBOX (which waits for that flush). OK only if every command was.
Status replicate(Replica1& r) {
  const std::string guid = sha1_hex(kText);
  auto missing = r.reserve->reserve("default", {kBox}, {guid});
  if (!missing.ok()) return missing.status();
  if (!missing->empty()) {
    auto msg = r.reserve->begin_upload("default", guid);
    if (!msg.ok()) return msg.status();
    Status s = (*msg)->write(kText);
    if (s) s = (*msg)->finish();
    if (s) s = r.reserve->finish_upload(guid, std::move(*msg)).status();
    if (s) s = r.reserve->start_sync();
    if (!s) return s;
  }
  return r.replica->apply_mailbox(master_state(guid));
}

// After the session: the mailbox holds the message with its file, or the
// message is not there at all; nothing is left in staging; the index agrees
// with the files.
void expect_complete_or_no_trace(Replica1& r, bool acknowledged) {
  auto mbox = r.inst->open_mailbox(kBox);
  std::vector<store::IndexRecord> records;
  if (mbox.ok()) {
    ASSERT_TRUE((*mbox)->for_each_record(0, [&](const store::IndexRecord& rec) {
      records.push_back(rec);
      return true;
    }));
    auto report = store::check_mailbox(*r.inst, kBox, {.verify_content = true});
    ASSERT_TRUE(report.ok());
    EXPECT_TRUE(report->ok()) << report->problems[0].detail;
  } else {
    EXPECT_EQ(mbox.status().code(), Code::kMailboxNonexistent);
  }
  if (acknowledged) {
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].guid, sha1_hex(kText));
  } else {
    EXPECT_TRUE(records.empty());
  }
  r.reserve->clear();
  EXPECT_EQ(count_files(r.dir + "/spool/sync."), 0u);
}

struct Case {
  Op op;
  int error;
};

class ReplicaFault : public ::testing::TestWithParam<Case> {};

TEST_P(ReplicaFault, ApplyCompletesOrLeavesNoTraceAndTheRetryCompletes) {
  Case c = GetParam();
  const std::string spool = "/spool/";
  int n = 0;
  {
    Replica1 r;
    FaultEnv f;
    os::ScopedEnv scope(&f);
    ASSERT_TRUE(replicate(r).is_ok());
    n = f.calls(c.op, spool);
  }
  for (int i = 1; i <= n; i++) {
    SCOPED_TRACE(std::string(os::op_name(c.op)) + " call " + std::to_string(i));
    Replica1 r;
    FaultEnv f;
    os::ScopedEnv scope(&f);
    f.inject({c.op, i, false, spool, c.error});
    Status s = replicate(r);
    f.clear();
    // The connection goes on: the master sends the same commands again.
    if (!s) {
      Status again = replicate(r);
      EXPECT_TRUE(again.is_ok()) << s.to_string() << ", then " << again.to_string();
    }
    expect_complete_or_no_trace(r, true);
  }
}

INSTANTIATE_TEST_SUITE_P(EveryStep, ReplicaFault,
                         ::testing::Values(Case{Op::kOpen, EIO}, Case{Op::kMkdir, ENOSPC},
                                           Case{Op::kWrite, ENOSPC}, Case{Op::kFsync, EIO},
                                           Case{Op::kClose, EIO}, Case{Op::kLink, EIO},
                                           Case{Op::kFsyncDir, EIO}),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           std::string n = os::op_name(i.param.op);
                           for (auto& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

// Stages `n` uploads (texts kText + i, i from `first`) and returns their GUIDs.
std::vector<std::string> stage(Replica1& r, size_t first, size_t n) {
  std::vector<std::string> guids;
  for (size_t i = first; i < first + n; i++) {
    const std::string text = kText + std::to_string(i) + "\r\n";
    guids.push_back(sha1_hex(text));
    auto msg = r.reserve->begin_upload("default", guids.back());
    EXPECT_TRUE(msg.ok());
    if (!msg.ok()) break;
    EXPECT_TRUE((*msg)->write(text));
    EXPECT_TRUE(r.reserve->finish_upload(guids.back(), std::move(*msg)));
  }
  return guids;
}

// PostgreSQL's fsync lesson: an upload whose flush failed is not on disk as
// far as anyone knows, and a later flush that succeeds proves nothing about
// it. The replica must ask for it again, not link it. A few uploads are
// flushed an fsync each, more by one syncfs (ReserveList::sync_uploads).
void expect_failed_flush_asks_again(size_t uploads, Op flush) {
  Replica1 r;
  FaultEnv f;
  os::ScopedEnv scope(&f);
  std::vector<std::string> guids = stage(r, 0, uploads);
  f.inject(Fault::nth_call(flush, 1));
  EXPECT_FALSE(r.reserve->sync_uploads().is_ok());
  EXPECT_EQ(f.calls(flush, "/spool/"), 1);
  auto missing = r.reserve->reserve("default", {kBox}, guids);
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(*missing, guids);
  for (const auto& g : guids) EXPECT_EQ(r.reserve->find(g), "");
}

TEST(ReplicaFault, AnUploadWhoseFsyncFailedIsAskedForAgain) {
  expect_failed_flush_asks_again(1, Op::kFsync);
}

TEST(ReplicaFault, UploadsWhoseSyncfsFailedAreAskedForAgain) {
  expect_failed_flush_asks_again(ReserveList::kFsyncEachUpTo + 1, Op::kSyncfs);
}

// sync_server answers APPLY MESSAGE as soon as its flush has started; the
// flush's failure is the answer to the next command that waits for it. By
// then the next command's uploads were written beside the failing flush:
// they go too, and nothing is found that is not known to be on disk.
TEST(ReplicaFault, AFailedFlushIsTheNextCommandsNoAndDropsEveryUnflushedUpload) {
  Replica1 r;
  FaultEnv f;
  os::ScopedEnv scope(&f);
  f.inject(Fault::nth_call(Op::kSyncfs, 1));
  auto first = stage(r, 0, ReserveList::kFsyncEachUpTo + 1);
  ASSERT_TRUE(r.reserve->start_sync());  // answered before the flush ends
  auto second = stage(r, 100, 2);
  Status s = r.reserve->start_sync();  // waits for the first flush
  EXPECT_FALSE(s.is_ok());
  EXPECT_EQ(f.calls(Op::kSyncfs, "/spool/"), 1);
  std::vector<std::string> all = first;
  all.insert(all.end(), second.begin(), second.end());
  for (const auto& g : all) EXPECT_EQ(r.reserve->find(g), "") << g;
  auto missing = r.reserve->reserve("default", {kBox}, all);
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(*missing, all);
  // Nothing was left to flush: the next wait is OK, and the same uploads
  // sent again are kept.
  EXPECT_TRUE(r.reserve->wait_synced());
  EXPECT_EQ(stage(r, 0, 3), std::vector<std::string>(first.begin(), first.begin() + 3));
  ASSERT_TRUE(r.reserve->sync_uploads());
  for (size_t i = 0; i < 3; i++) EXPECT_NE(r.reserve->find(first[i]), "");
}

// An Env whose fsync of a staged upload takes a while and which notes, in
// order, when that flush starts and ends and every other flush made
// meanwhile or after ("<op> <path>").
class SlowUploadFlushEnv : public FaultEnv {
 public:
  std::vector<std::string> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }

 protected:
  int sys_open(const std::string& path, int flags, unsigned mode) override {
    int fd = FaultEnv::sys_open(path, flags, mode);
    std::lock_guard<std::mutex> lock(mu_);
    if (fd >= 0) paths_[fd] = path;
    return fd;
  }
  int sys_fsync(int fd, Op op, bool data_only) override {
    bool staged = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const std::string& path = paths_[fd];
      staged = path.find("/sync.") != std::string::npos && op != Op::kFsyncDir;
      events_.push_back(staged ? "upload flush begins" : std::string(os::op_name(op)) + " " + path);
    }
    if (staged) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    int rc = FaultEnv::sys_fsync(fd, op, data_only);
    if (staged) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back("upload flush ends");
    }
    return rc;
  }

 private:
  mutable std::mutex mu_;
  std::map<int, std::string> paths_;
  std::vector<std::string> events_;
};

// Durability: APPLY MAILBOX flushes the directory it linked the upload
// into, and commits, only once the upload's flush is done (the flush runs
// while the rest of APPLY MAILBOX is parsed and applied).
TEST(ReplicaFault, ApplyMailboxCommitsOnlyAfterTheUploadsFlushEnds) {
  Replica1 r;
  SlowUploadFlushEnv f;
  os::ScopedEnv scope(&f);
  ASSERT_TRUE(replicate(r));
  auto mbox = r.inst->open_mailbox(kBox);
  ASSERT_TRUE(mbox.ok());
  const std::string dir_flush = std::string(os::op_name(Op::kFsyncDir)) + " " + (*mbox)->dir();
  auto events = f.events();
  std::string all;
  for (const auto& e : events) all += e + "\n";
  SCOPED_TRACE(all);
  auto begins = std::find(events.begin(), events.end(), "upload flush begins");
  auto ends = std::find(events.begin(), events.end(), "upload flush ends");
  ASSERT_NE(ends, events.end());
  EXPECT_EQ(std::find(begins, ends, dir_flush), ends);
  EXPECT_NE(std::find(ends, events.end(), dir_flush), events.end());
  expect_complete_or_no_trace(r, true);
}

}  // namespace
}  // namespace replimail::sync
