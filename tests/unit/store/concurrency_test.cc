// Several processes deliver to one mailbox at once: no UID is lost,
// duplicated or reused, and the counters add up.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>

#include "mime/message.h"
#include "store/mailbox.h"
#include "store_test_util.h"

namespace replimail::store {
namespace {

using testing::sha1_hex;
using testing::TempInstance;

constexpr int kProcs = 4;
constexpr int kPerProc = 250;

// Waits for each forked child; each must exit normally with status 0.
void expect_children_succeed(const std::vector<pid_t>& pids) {
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
}

// Runs in a forked child: its own Instance, kPerProc single-message batches.
int child_deliver(const Config& cfg, int child) {
  auto inst = Instance::open(cfg);
  if (!inst.ok()) return 2;
  for (int i = 0; i < kPerProc; i++) {
    auto msg = (*inst)->stage_message();
    if (!msg.ok()) return 3;
    std::string body = fmt::format("Subject: child {} message {}\r\n\r\nbody {} {}\r\n", child, i,
                                   child, std::string(static_cast<size_t>(i % 50), 'x'));
    if (!(*msg)->write(body).is_ok() || !(*msg)->finish().is_ok()) return 4;
    AppendRequest req;
    req.mailbox = "user.alice";
    req.message = msg->get();
    auto res = (*inst)->append({req});
    if (!res[0].status.is_ok() || res[0].uid == 0) return 5;
  }
  return 0;
}

TEST(ConcurrencyTest, FourProcessesAppendingToOneMailbox) {
  TempInstance t;
  ASSERT_TRUE(t.inst().create_mailbox("user.alice").ok());
  ASSERT_TRUE(t.inst().set_quota("user.alice", -1, 100000).is_ok());
  t.take_log();
  std::vector<pid_t> pids;
  for (int c = 0; c < kProcs; c++) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) ::_exit(child_deliver(t.cfg(), c));
    pids.push_back(pid);
  }
  expect_children_succeed(pids);

  auto m = t.inst().open_mailbox("user.alice");
  ASSERT_TRUE(m.ok());
  std::set<uint32_t> uids;
  std::set<std::string> guids;
  uint64_t bytes = 0;
  uint64_t max_modseq = 0;
  ASSERT_TRUE((*m)->for_each_record(0,
                                    [&](const IndexRecord& r) {
                                      uids.insert(r.uid);
                                      guids.insert(r.guid);
                                      bytes += r.size;
                                      max_modseq = std::max(max_modseq, r.modseq);
                                      auto data = fs::read_file((*m)->message_path(r.uid));
                                      EXPECT_TRUE(data.ok());
                                      if (data.ok()) {
                                        EXPECT_EQ(data->size(), r.size);
                                        EXPECT_EQ(sha1_hex(*data), r.guid);
                                      }
                                      return true;
                                    })
                  .is_ok());
  const size_t total = kProcs * kPerProc;
  EXPECT_EQ(uids.size(), total);
  EXPECT_EQ(*uids.begin(), 1u);
  EXPECT_EQ(*uids.rbegin(), total);
  EXPECT_EQ(guids.size(), total);
  auto c = (*m)->counters();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->last_uid, total);
  EXPECT_EQ(c->exists, total);
  EXPECT_EQ(c->quota_used, bytes);
  EXPECT_EQ(c->highestmodseq, max_modseq);
  auto q = t.inst().quota().get("user.alice");
  EXPECT_EQ(q->message_used, total);
  EXPECT_EQ(q->storage_used, bytes);
  // Every append was logged, none torn.
  size_t appends = 0, mailboxes = 0;
  for (const auto& l : t.take_log()) {
    if (l.keyword == "APPEND") appends++;
    if (l.keyword == "MAILBOX") mailboxes++;
    EXPECT_EQ(l.args, (std::vector<std::string>{"user.alice"}));
  }
  EXPECT_EQ(appends, total);
  EXPECT_EQ(mailboxes, total);
}

}  // namespace
}  // namespace replimail::store

namespace replimail::store {
namespace {

// Runs in a forked child: creates `name` with the master's uniqueid, as a
// sync_server session applying a new mailbox does. 0 created, 1 exists.
int child_create(const Config& cfg, const std::string& name, const std::string& uniqueid) {
  auto inst = Instance::open(cfg);
  if (!inst.ok()) return 2;
  CreateOptions o;
  o.uniqueid = uniqueid;
  o.uidvalidity = 1700000000;
  auto e = (*inst)->create_mailbox(name, o);
  if (e.ok()) return 0;
  return e.status().code() == Code::kMailboxExists ? 1 : 3;
}

// Two replication sessions applying the same new mailbox share its uniqueid,
// hence its directory: the one that loses must not re-initialise or remove
// the winner's index ("index header missing" on the replica).
TEST(ConcurrencyTest, CreatorsOfOneMailboxWithOneUniqueidTakeTurns) {
  TempInstance t;
  constexpr int kCreators = 6;
  for (int round = 0; round < 20; round++) {
    std::string name = fmt::format("user.u{}", round);
    std::string uniqueid = fmt::format("3f2a9c1e-0000-4000-8000-{:012d}", round);
    std::vector<pid_t> pids;
    for (int c = 0; c < kCreators; c++) {
      pid_t pid = ::fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) ::_exit(child_create(t.cfg(), name, uniqueid));
      pids.push_back(pid);
    }
    int created = 0;
    for (pid_t pid : pids) {
      int st = 0;
      ASSERT_EQ(::waitpid(pid, &st, 0), pid);
      ASSERT_TRUE(WIFEXITED(st));
      ASSERT_LE(WEXITSTATUS(st), 1) << "creator failed otherwise, round " << round;
      if (WEXITSTATUS(st) == 0) created++;
    }
    EXPECT_EQ(created, 1) << "round " << round;
    auto mbox = t.inst().open_mailbox(name);
    ASSERT_TRUE(mbox.ok()) << "round " << round << ": " << mbox.status().to_string();
    auto c = (*mbox)->counters();
    ASSERT_TRUE(c.ok()) << "round " << round << ": " << c.status().to_string();
    EXPECT_EQ(c->uidvalidity, 1700000000u);
  }
}

}  // namespace
}  // namespace replimail::store

namespace replimail::store {
namespace {

constexpr uint32_t kOld = 150;  // messages delivered before search_fields existed

// Runs in a forked child: `rounds` SEARCH-like scans of every live record,
// each in one read snapshot with one SubjectCursor, comparing what it reads
// with the search form of the cached header block; the Mailbox then writes
// the rows it computed. 0 if every form was right.
int child_scan(const Config& cfg, int rounds) {
  auto inst = Instance::open(cfg);
  if (!inst.ok()) return 2;
  for (int i = 0; i < rounds; i++) {
    auto m = (*inst)->open_mailbox("user.alice");
    if (!m.ok()) return 3;
    if (!(*m)->begin_read().is_ok()) return 4;
    std::vector<std::pair<uint32_t, std::string>> live;
    Status s = (*m)->for_each_record(0, [&](const IndexRecord& r) {
      if (!r.expunged()) live.emplace_back(r.uid, r.guid);
      return true;
    });
    if (!s.is_ok()) return 5;
    {
      SubjectCursor cursor(**m);
      std::string header;
      for (const auto& [uid, guid] : live) {
        auto form = cursor.subject(uid, guid);
        if (!form.ok()) return 6;
        std::string got(*form);
        if (!(*m)->cache_column(uid, guid, CacheColumn::kHeader, header).is_ok()) return 7;
        if (got != mime::field_search_form(header, "Subject")) return 8;
      }
    }
    (*m)->end_read();
  }
  return 0;
}

// Runs in a forked child: expunges every third old message, one
// transaction each.
int child_expunge(const Config& cfg) {
  auto inst = Instance::open(cfg);
  if (!inst.ok()) return 2;
  for (uint32_t uid = 1; uid <= kOld; uid += 3) {
    auto m = (*inst)->open_mailbox("user.alice");
    if (!m.ok()) return 3;
    auto txn = (*m)->begin();
    if (!txn.ok() || !(*txn)->expunge(uid).is_ok()) return 4;
    if (!(*inst)->commit(**m, **txn).is_ok()) return 5;
  }
  return 0;
}

std::vector<std::string> index_rows(const std::string& dir, const char* sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open((dir + "/cyrus.index.db").c_str(), &db), SQLITE_OK);
  std::vector<std::string> rows;
  auto collect = [](void* out, int n, char** values, char**) {
    std::string row;
    for (int i = 0; i < n; ++i) row += (i ? "|" : "") + std::string(values[i] ? values[i] : "");
    static_cast<std::vector<std::string>*>(out)->push_back(row);
    return 0;
  };
  EXPECT_EQ(sqlite3_exec(db, sql, collect, &rows, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
  return rows;
}

// An index written before search_fields existed, scanned by two processes
// (which fill the rows) while two append and one expunges: no row is left
// for an expunged record or another file, every row read is the search
// form of its header, and after one more scan every live record has one.
TEST(ConcurrencyTest, ScansFillSearchFieldsWhileOthersAppendAndExpunge) {
  TempInstance t;
  ASSERT_TRUE(t.inst().create_mailbox("user.alice").ok());
  for (uint32_t i = 1; i <= kOld; i++) {
    std::string subject =
        i % 2 ? fmt::format("=?utf-8?q?caf=C3=A9_{}?=", i) : fmt::format("Quarterly {}", i);
    ASSERT_EQ(t.deliver("user.alice", "Subject: " + subject + "\r\n\r\nbody\r\n"), i);
  }
  std::string dir = (*t.inst().open_mailbox("user.alice"))->dir();
  t.close();
  EXPECT_EQ(index_rows(dir, "DROP TABLE search_fields"), std::vector<std::string>{});
  std::vector<pid_t> pids;
  for (int c = 0; c < 5; c++) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::_exit(c < 2   ? child_scan(t.cfg(), 6)
              : c < 4 ? child_deliver(t.cfg(), c)
                      : child_expunge(t.cfg()));
    }
    pids.push_back(pid);
  }
  expect_children_succeed(pids);
  const std::string orphans =
      "SELECT s.uid FROM search_fields s LEFT JOIN records r ON r.uid = s.uid WHERE r.uid IS "
      "NULL OR r.guid != s.guid OR r.system_flags & " +
      std::to_string(kFlagExpunged) + " != 0";
  EXPECT_EQ(index_rows(dir, orphans.c_str()), std::vector<std::string>{});
  EXPECT_EQ(child_scan(t.cfg(), 1), 0);
  const char* missing =
      "SELECT r.uid FROM records r LEFT JOIN search_fields s ON r.uid = s.uid WHERE s.uid IS "
      "NULL AND r.system_flags & 2147483648 = 0";
  EXPECT_EQ(index_rows(dir, missing), std::vector<std::string>{});
  EXPECT_EQ(index_rows(dir, "SELECT count(*) FROM records"),
            std::vector<std::string>{std::to_string(kOld + 2 * kPerProc)});
}

}  // namespace
}  // namespace replimail::store
