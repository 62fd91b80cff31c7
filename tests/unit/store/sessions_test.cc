// Several processes work on one mailbox the way imapd sessions do, for a
// bounded time: each has its own Instance (reopened now and then, as a new
// worker process would), keeps a few Mailbox objects (pooled index
// connections) open across commands and closes them in any order, and
// appends, stores flags, expunges and reads. Afterwards every database is
// intact, every acknowledged append is in the index exactly once under the
// UID it was given, UIDs never went backwards, every acknowledged expunge and
// keyword change holds.
//
// This is issue 13's item 1: a second descriptor on a database file, closed
// while another connection of the same process was open, dropped that
// connection's POSIX locks, and other processes then checkpointed and
// removed the WAL under it ("disk I/O error", "database disk image is
// malformed", "Rowid out of order").
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "store/mailbox_index.h"
#include "store/sqlite_db.h"
#include "store_test_util.h"

namespace replimail::store {
namespace {

using testing::sha1_hex;
using testing::TempInstance;

constexpr int kProcs = 6;
constexpr auto kRunFor = std::chrono::seconds(8);

// Appends one line to `path` with a single write(2), so that what a child
// reported survives however it ends.
void report(const std::string& path, const std::string& line) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return;
  std::string l = line + "\n";
  ssize_t n = ::write(fd, l.data(), l.size());
  (void)n;
  ::close(fd);
}

class Session {
 public:
  Session(const Config& cfg, int child, const std::string& root)
      : cfg_(cfg),
        child_(child),
        acks_(fmt::format("{}/acks.{}", root, child)),
        errors_(fmt::format("{}/errors.{}", root, child)),
        rng_(static_cast<unsigned>(child * 7919 + 17)) {}

  int run() {
    auto deadline = std::chrono::steady_clock::now() + kRunFor;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!inst_ || pick(40) == 0) {
        // A new worker: every connection of the old one goes, in the order
        // the sessions happen to end.
        held_.clear();
        inst_.reset();
        auto inst = Instance::open(cfg_);
        if (!inst.ok()) return fail("open instance", inst.status());
        inst_ = std::move(*inst);
      }
      if (!step()) return 1;
    }
    held_.clear();
    inst_.reset();
    return 0;
  }

 private:
  unsigned pick(unsigned n) { return std::uniform_int_distribution<unsigned>(0, n - 1)(rng_); }

  bool fail(const std::string& what, const Status& s) {
    report(errors_, fmt::format("child {} op {}: {}: {}", child_, ops_, what, s.to_string()));
    return false;
  }

  // A session that SELECTs and stays, or one that ends (LOGOUT).
  bool churn_sessions() {
    if (held_.size() < 3 && pick(2) == 0) {
      auto m = inst_->open_mailbox("user.alice");
      if (!m.ok()) return fail("open mailbox", m.status());
      held_.push_back(std::move(*m));
    } else if (!held_.empty()) {
      held_.erase(held_.begin() + pick(static_cast<unsigned>(held_.size())));
    }
    return true;
  }

  uint32_t last_uid() {
    auto m = inst_->open_mailbox("user.alice");
    if (!m.ok()) return 0;
    auto c = (*m)->counters();
    return c.ok() ? c->last_uid : 0;
  }

  bool append() {
    auto msg = inst_->stage_message();
    if (!msg.ok()) return fail("stage", msg.status());
    std::string body = fmt::format("Subject: child {} op {}\r\n\r\n{}\r\n", child_, ops_,
                                   std::string(pick(2000), 'x'));
    Status s = (*msg)->write(body);
    if (s) s = (*msg)->finish();
    if (!s) return fail("write staged", s);
    AppendRequest req;
    req.mailbox = "user.alice";
    req.message = msg->get();
    if (pick(2) == 0) req.user_flags = {fmt::format("kw{}", child_)};
    auto res = inst_->append({req});
    if (!res[0].status) return fail("append", res[0].status);
    if (res[0].uid <= last_acked_uid_) {
      report(errors_, fmt::format("child {}: uid {} after {}", child_, res[0].uid, last_acked_uid_));
      return false;
    }
    last_acked_uid_ = res[0].uid;
    own_.push_back(res[0].uid);
    report(acks_, fmt::format("append {} {} {}", res[0].uid, sha1_hex(body),
                              req.user_flags.empty() ? 0 : 1));
    return true;
  }

  // Sets or clears this child's own keyword on one of its messages (no
  // other child touches that keyword, so the last acknowledged state holds
  // unless the message was expunged).
  bool store_flags() {
    if (own_.empty()) return true;
    uint32_t uid = own_[pick(static_cast<unsigned>(own_.size()))];
    bool add = pick(2) == 0;
    Status s = inst_->store_flags("user.alice", {uid}, pick(2) ? kFlagFlagged : kFlagSeen,
                                  {fmt::format("kw{}", child_)}, add);
    if (!s) return fail("store", s);
    report(acks_, fmt::format("flag {} {}", uid, add ? 1 : 0));
    return true;
  }

  bool expunge() {
    uint32_t last = last_uid();
    if (last == 0) return true;
    uint32_t uid = 1 + pick(last);
    Status s = inst_->expunge("user.alice", {uid});
    if (!s) return fail("expunge", s);
    report(acks_, fmt::format("expunge {}", uid));
    return true;
  }

  // A FETCH through one of the held sessions: a snapshot whose records are
  // in strictly increasing UID order and agree with the counters.
  bool read() {
    Mailbox* m = nullptr;
    std::unique_ptr<Mailbox> own;
    if (!held_.empty()) {
      m = held_[pick(static_cast<unsigned>(held_.size()))].get();
    } else {
      auto o = inst_->open_mailbox("user.alice");
      if (!o.ok()) return fail("open mailbox", o.status());
      own = std::move(*o);
      m = own.get();
    }
    Status s = m->begin_read();
    if (!s) return fail("begin read", s);
    auto c = m->counters();
    if (!c.ok()) {
      m->end_read();
      return fail("counters", c.status());
    }
    uint32_t prev = 0, exists = 0;
    bool ordered = true;
    s = m->for_each_record(0, [&](const IndexRecord& r) {
      ordered = ordered && r.uid > prev && r.uid <= c->last_uid;
      prev = r.uid;
      if (!r.expunged()) exists++;
      return true;
    });
    m->end_read();
    if (!s) return fail("read records", s);
    if (!ordered || exists != c->exists) {
      report(errors_, fmt::format("child {}: snapshot out of order or exists {} != {}", child_,
                                  exists, c->exists));
      return false;
    }
    return true;
  }

  bool step() {
    ops_++;
    switch (pick(10)) {
      case 0:
      case 1:
        return churn_sessions();
      case 2:
      case 3:
      case 4:
        return append();
      case 5:
      case 6:
        return store_flags();
      case 7:
        return expunge();
      default:
        return read();
    }
  }

  const Config& cfg_;
  int child_;
  std::string acks_, errors_;
  std::mt19937 rng_;
  std::unique_ptr<Instance> inst_;
  std::vector<std::unique_ptr<Mailbox>> held_;
  std::vector<uint32_t> own_;
  uint32_t last_acked_uid_ = 0;
  int ops_ = 0;
};

std::string integrity(const std::string& path) {
  auto db = SqliteDb::open(path);
  if (!db.ok()) return db.status().to_string();
  auto st = (*db)->prepare("PRAGMA integrity_check");
  if (!st.ok()) return st.status().to_string();
  std::string out;
  while (true) {
    auto row = st->step();
    if (!row.ok()) return out + row.status().to_string();
    if (!*row) return out;
    out += (out.empty() ? "" : "; ") + st->text(0);
  }
}

TEST(SessionsTest, ProcessesSharingOneMailboxKeepEveryDatabaseIntact) {
  TempInstance t;
  ASSERT_TRUE(t.inst().create_mailbox("user.alice").ok());
  t.close();  // no connection of this process crosses fork()
  std::vector<pid_t> pids;
  for (int c = 0; c < kProcs; c++) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int rc = Session(t.cfg(), c, t.root()).run();
      ::_exit(rc);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  }
  t.reopen();
  for (int c = 0; c < kProcs; c++) {
    std::ifstream errs(fmt::format("{}/errors.{}", t.root(), c));
    std::string line;
    while (std::getline(errs, line)) ADD_FAILURE() << line;
  }

  auto m = t.inst().open_mailbox("user.alice");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  const std::string dir = (*m)->dir();
  for (const std::string& db :
       {dir + "/" + index::kIndexFile, t.root() + "/conf/mailboxes.db", t.root() + "/conf/user.db",
        t.root() + "/conf/quota.db", t.root() + "/conf/annotations.db"})
    EXPECT_EQ(integrity(db), "ok") << db;

  std::map<uint32_t, IndexRecord> records;
  std::map<std::string, int> guid_count;
  ASSERT_TRUE((*m)->for_each_record(0, [&](const IndexRecord& r) {
                     records[r.uid] = r;
                     guid_count[r.guid]++;
                     return true;
                   })
                  .is_ok());

  size_t appended = 0, expunged = 0, flagged = 0;
  for (int c = 0; c < kProcs; c++) {
    std::ifstream acks(fmt::format("{}/acks.{}", t.root(), c));
    std::map<uint32_t, bool> keyword;  // this child's keyword, last acknowledged
    std::set<uint32_t> gone;
    std::string line;
    while (std::getline(acks, line)) {
      std::istringstream in(line);
      std::string what;
      uint32_t uid = 0;
      in >> what >> uid;
      if (what == "append") {
        std::string guid;
        int kw = 0;
        in >> guid >> kw;
        appended++;
        auto it = records.find(uid);
        ASSERT_NE(it, records.end()) << "acknowledged uid " << uid << " missing";
        EXPECT_EQ(it->second.guid, guid) << "uid " << uid;
        EXPECT_EQ(guid_count[guid], 1) << guid;
        keyword[uid] = kw != 0;
      } else if (what == "flag") {
        int add = 0;
        in >> add;
        keyword[uid] = add != 0;
      } else if (what == "expunge") {
        gone.insert(uid);
      }
    }
    for (uint32_t uid : gone) {
      auto it = records.find(uid);
      if (it == records.end()) continue;  // never assigned (a failed append) or not ours
      expunged++;
      EXPECT_TRUE(it->second.expunged()) << "expunged uid " << uid << " is back";
    }
    std::string kw = fmt::format("kw{}", c);
    for (const auto& [uid, want] : keyword) {
      const IndexRecord& r = records[uid];
      if (r.expunged()) continue;
      flagged++;
      bool have = false;
      for (const auto& f : r.user_flags) have = have || f == kw;
      EXPECT_EQ(have, want) << "uid " << uid << " keyword " << kw;
    }
  }
  auto counters = (*m)->counters();
  ASSERT_TRUE(counters.ok());
  uint32_t exists = 0;
  for (const auto& [uid, r] : records) {
    if (r.expunged()) continue;
    exists++;
    auto data = fs::read_file((*m)->message_path(uid));
    ASSERT_TRUE(data.ok()) << "uid " << uid;
    EXPECT_EQ(sha1_hex(*data), r.guid);
  }
  EXPECT_EQ(counters->exists, exists);
  EXPECT_EQ(records.size(), appended) << "an index row nobody was told of";
  EXPECT_GT(appended, 50u);
  std::cout << appended << " appends, " << expunged << " expunges, " << flagged
            << " keyword states checked\n";
}

}  // namespace
}  // namespace replimail::store
