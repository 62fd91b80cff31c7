// Crash consistency: what a kill -9 can leave behind is found and repaired.
#include "store/check.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store_test_util.h"

namespace replimail::store {
namespace {

using testing::TempInstance;

const std::string kMsg = "Subject: crash\r\n\r\nbody\r\n";

bool has(const CheckReport& r, CheckProblem::Kind k, uint32_t uid) {
  for (const auto& p : r.problems)
    if (p.kind == k && p.uid == uid) return true;
  return false;
}

TEST(CheckTest, CrashBetweenLinkAndCommitLeavesAnOrphanThatIsRemoved) {
  TempInstance t;
  ASSERT_TRUE(t.inst().create_mailbox("user.alice").ok());
  ASSERT_EQ(t.deliver("user.alice", kMsg), 1u);
  std::string dir = (*t.inst().open_mailbox("user.alice"))->dir();
  std::string stage_dir;
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The child links message 2 and dies before committing, without
    // running any destructor: what kill -9 leaves.
    auto inst = Instance::open(t.cfg());
    if (!inst.ok()) ::_exit(2);
    auto msg = (*inst)->stage_message();
    if (!msg.ok() || !(*msg)->write(kMsg).is_ok() || !(*msg)->finish().is_ok()) ::_exit(3);
    auto m = (*inst)->open_mailbox("user.alice");
    if (!m.ok()) ::_exit(4);
    auto txn = (*m)->begin();
    if (!txn.ok()) ::_exit(5);
    auto r = (*txn)->append_new(**msg, 0, {}, 0);
    ::_exit(r.ok() && r->uid == 2 ? 0 : 6);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  EXPECT_TRUE(fs::exists(dir + "/2."));

  auto report = check_mailbox(t.inst(), "user.alice", {});
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_TRUE(has(*report, CheckProblem::Kind::kOrphanFile, 2));
  EXPECT_EQ(report->problems.size(), 1u);
  EXPECT_FALSE(report->repaired);
  EXPECT_TRUE(fs::exists(dir + "/2."));
  auto stale = check_staging(t.inst(), false);
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(stale->size(), 1u);

  t.take_log();
  auto repaired = check_mailbox(t.inst(), "user.alice", {.repair = true});
  ASSERT_TRUE(repaired.ok());
  EXPECT_TRUE(repaired->repaired);
  EXPECT_FALSE(fs::exists(dir + "/2."));
  stale = check_staging(t.inst(), true);
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(stale->size(), 1u);
  EXPECT_TRUE(check_staging(t.inst(), false)->empty());
  EXPECT_TRUE(check_mailbox(t.inst(), "user.alice", {})->ok());
  // The unacknowledged message never existed: the next delivery is UID 2.
  EXPECT_EQ(t.deliver("user.alice", "Subject: next\r\n\r\n"), 2u);
}

TEST(CheckTest, AppendOverAnOrphanReplacesIt) {
  TempInstance t;
  ASSERT_TRUE(t.inst().create_mailbox("user.alice").ok());
  std::string dir = (*t.inst().open_mailbox("user.alice"))->dir();
  ASSERT_TRUE(fs::write_file_atomic(dir + "/1.", "left by a crash").is_ok());
  ASSERT_EQ(t.deliver("user.alice", kMsg), 1u);
  EXPECT_EQ(*fs::read_file(dir + "/1."), kMsg);
}

TEST(CheckTest, DamageFromOutsideIsReportedAndRepaired) {
  TempInstance t;
  ASSERT_TRUE(t.inst().create_mailbox("user.alice").ok());
  ASSERT_TRUE(t.inst().set_quota("user.alice", 1000, -1).is_ok());
  t.deliver("user.alice", kMsg);
  t.deliver("user.alice", kMsg + "two");
  t.deliver("user.alice", kMsg + "three");
  auto m = t.inst().open_mailbox("user.alice");
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(fs::remove_file((*m)->message_path(1)).is_ok());
  ASSERT_TRUE(fs::write_file_atomic((*m)->message_path(2), "resized").is_ok());
  std::string same_size = kMsg + "three";
  same_size[0] = 'X';
  ASSERT_TRUE(fs::write_file_atomic((*m)->message_path(3), same_size).is_ok());

  auto quick = check_mailbox(t.inst(), "user.alice", {});
  ASSERT_TRUE(quick.ok());
  EXPECT_TRUE(has(*quick, CheckProblem::Kind::kMissingFile, 1));
  EXPECT_TRUE(has(*quick, CheckProblem::Kind::kWrongSize, 2));
  EXPECT_FALSE(has(*quick, CheckProblem::Kind::kWrongGuid, 3));  // needs content
  auto deep = check_mailbox(t.inst(), "user.alice", {.verify_content = true});
  ASSERT_TRUE(deep.ok());
  EXPECT_TRUE(has(*deep, CheckProblem::Kind::kWrongGuid, 3));

  t.take_log();
  std::vector<std::string> lines;
  auto n = reconstruct(t.inst(), {}, false, {.repair = true, .verify_content = true},
                       [&](const std::string& l) { lines.push_back(l); });
  ASSERT_TRUE(n.ok()) << n.status().to_string();
  EXPECT_GE(*n, 4u);
  EXPECT_FALSE(lines.empty());
  EXPECT_EQ(t.take_log(), (std::vector<synclog::Line>{testing::L("MAILBOX", {"user.alice"})}));
  EXPECT_TRUE((*m)->record(1)->expunged());
  EXPECT_EQ((*m)->record(2)->size, 7u);
  EXPECT_EQ((*m)->record(3)->guid, testing::sha1_hex(same_size));
  auto again = check_mailbox(t.inst(), "user.alice", {.verify_content = true});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->ok());
  auto q = t.inst().quota().get("user.alice");
  EXPECT_EQ(q->message_used, 2u);
  EXPECT_EQ(q->storage_used, 7u + same_size.size());
}

TEST(CheckTest, CountersBehindTheRecordsAreRaised) {
  TempInstance t;
  ASSERT_TRUE(t.inst().create_mailbox("user.alice").ok());
  t.deliver("user.alice", kMsg);
  auto m = t.inst().open_mailbox("user.alice");
  {
    auto txn = (*m)->begin();
    MailboxCounters c = (*txn)->counters();
    c.last_uid = 0;
    c.highestmodseq = 1;
    (*txn)->set_counters(c);
    ASSERT_TRUE(t.inst().commit(**m, **txn).is_ok());
  }
  auto r = check_mailbox(t.inst(), "user.alice", {.repair = true});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(has(*r, CheckProblem::Kind::kCounterBehind, 0));
  auto c = (*m)->counters();
  EXPECT_EQ(c->last_uid, 1u);
  EXPECT_EQ(c->highestmodseq, (*m)->record(1)->modseq);
  EXPECT_EQ(t.deliver("user.alice", kMsg), 2u);
}

}  // namespace
}  // namespace replimail::store
