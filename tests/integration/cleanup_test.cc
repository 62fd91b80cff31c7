// The operator's clean-up (issue 16): LMTP duplicate suppression, cyr_expire
// -X (delayed expunge) and -D (delayed delete) on a primary and its replica,
// ipurge by age and size. Changes reach the replica by replaying the
// primary's channel log with sync_client -f, the normal sync path.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "digest_check.h"
#include "harness.h"

namespace replimail::testing {
namespace {

namespace fsys = std::filesystem;

bool has_file(const Instance::Snapshot& s, uint32_t uid) {
  return fsys::exists(s.dir + "/" + std::to_string(uid) + ".");
}

Instance::Options with_imap(std::vector<std::string> extra) {
  Instance::Options o;
  o.services = {{"lmtp", "lmtpd -a"}, {"imap", "imapd"}, {"csync", "sync_server"}};
  o.users = {{"admin", "adminpw"}, {"alice", "alicepw"}};
  extra.insert(extra.end(),
               {"failedloginpause: 0", "sync_authname: admin", "sync_password: adminpw"});
  o.imapd_extra = extra;
  return o;
}

// A primary and a replica, both with `extra`, alice's INBOX made and the
// replica brought level with sync_client -A; the channel log emptied.
struct Pair {
  Instance replica, primary;
  std::string target;
  explicit Pair(const std::vector<std::string>& extra)
      : replica(with_imap(extra)), primary(with_imap(extra)) {}
  std::string start() {
    if (std::string e = replica.start(); !e.empty()) return e;
    if (std::string e = primary.start(); !e.empty()) return e;
    target = "127.0.0.1:" + std::to_string(replica.port("csync"));
    if (!primary.tool("cyr_mbox", {"create", "user.alice"}).ok()) return "create";
    return "";
  }
  // Replays what the primary logged since the last replay.
  RunResult replay() const {
    return primary.tool("sync_client",
                        {"-v", "-S", target, "-f", primary.channel_log_path("replica")});
  }
  RunResult full() const { return primary.tool("sync_client", {"-v", "-S", target, "-A"}); }
};

TEST(Cleanup, LmtpSameMessageTwiceIsDeliveredOnce) {
  Instance inst(with_imap({}));
  ASSERT_EQ(inst.start(), "");
  ASSERT_TRUE(inst.tool("cyr_mbox", {"create", "user.alice"}).ok());
  // The same two messages (same Message-IDs) twice: an MTA's retry.
  ASSERT_EQ(deliver(inst, "alice", 2, "same"), "");
  ASSERT_EQ(deliver(inst, "alice", 2, "same"), "");  // 250 for each
  EXPECT_EQ(live_records(inst, "user.alice"), 2u);
  EXPECT_NE(inst.master_log().find("dupelim: eliminated duplicate message to user.alice"),
            std::string::npos)
      << inst.master_log();
  // cyr_expire -E 0 forgets them: the next copy is delivered.
  until_next_second();
  auto e = inst.tool("cyr_expire", {"-E", "0", "-v"});
  ASSERT_TRUE(e.ok()) << e.describe();
  EXPECT_NE(e.out.find("Expired 2 duplicate entries, 0 left"), std::string::npos) << e.out;
  ASSERT_EQ(deliver(inst, "alice", 2, "same"), "");
  EXPECT_EQ(live_records(inst, "user.alice"), 4u);
}

TEST(Cleanup, LmtpDuplicateSuppressionOffDeliversEveryCopy) {
  Instance inst(with_imap({"duplicatesuppression: no"}));
  ASSERT_EQ(inst.start(), "");
  ASSERT_TRUE(inst.tool("cyr_mbox", {"create", "user.alice"}).ok());
  ASSERT_EQ(deliver(inst, "alice", 2, "same"), "");
  ASSERT_EQ(deliver(inst, "alice", 2, "same"), "");
  EXPECT_EQ(live_records(inst, "user.alice"), 4u);
}

// expunge_mode: delayed keeps an expunged message's file on both sides
// until cyr_expire -X; each side's cyr_expire purges its own (expunged
// records are in no CRC, count or quota, so nothing replicated changes).
TEST(Cleanup, DelayedExpungeThenMinusXRemovesRecordsAndFilesOnPrimaryAndReplica) {
  Pair p({"expunge_mode: delayed"});
  ASSERT_EQ(p.start(), "");
  ASSERT_EQ(deliver(p.primary, "alice", 3, "x"), "");
  ASSERT_TRUE(p.full().ok());
  auto ex =
      imap_script(p.primary, "alice:alicepw", {"SELECT INBOX", "STORE 2 +FLAGS (\\Deleted)", "EXPUNGE"});
  ASSERT_TRUE(ex.ok()) << ex.describe();
  auto r = p.replay();
  ASSERT_TRUE(r.ok()) << r.describe();
  for (const Instance* side : {&p.primary, &p.replica}) {
    auto s = side->snapshot("user.alice");
    ASSERT_EQ(s.records.size(), 3u);
    EXPECT_TRUE(s.records[1].expunged());
    EXPECT_TRUE(has_file(s, s.records[1].uid)) << "delayed: the file stays";
  }
  EXPECT_SAME_DIGEST(p.primary, p.replica);
  // reconstruct leaves the kept file alone.
  auto check = p.primary.tool("cyr_mbox", {"reconstruct", "-n", "user.alice"});
  EXPECT_TRUE(check.ok()) << check.describe();

  until_next_second();
  auto e = p.primary.tool("cyr_expire", {"-X", "0", "-v"});
  ASSERT_TRUE(e.ok()) << e.describe();
  EXPECT_NE(e.out.find("user.alice: purged 1 expunged records"), std::string::npos) << e.out;
  auto s = p.primary.snapshot("user.alice");
  ASSERT_EQ(s.records.size(), 2u);
  EXPECT_FALSE(has_file(s, 2));
  EXPECT_TRUE(has_file(s, 1) && has_file(s, 3));
  // The logged MAILBOX replays cleanly: nothing the replica holds differs.
  r = p.replay();
  ASSERT_TRUE(r.ok()) << r.describe();
  // The replica's own cyr_expire purges its copy.
  e = p.replica.tool("cyr_expire", {"-X", "0"});
  ASSERT_TRUE(e.ok()) << e.describe();
  auto rs = p.replica.snapshot("user.alice");
  ASSERT_EQ(rs.records.size(), 2u);
  EXPECT_FALSE(has_file(rs, 2));
  EXPECT_SAME_DIGEST(p.primary, p.replica);
  // Mail goes on replicating afterwards.
  ASSERT_EQ(deliver(p.primary, "alice", 1, "after"), "");
  ASSERT_TRUE(p.replay().ok());
  EXPECT_EQ(live_records(p.replica, "user.alice"), 3u);
  EXPECT_SAME_DIGEST(p.primary, p.replica);
}

// delete_mode: delayed (the default). The replica keeps what the primary
// deletes under DELETED. (imapd's DELETE on the primary is immediate); its
// own cyr_expire -D removes them. A DELETED.* mailbox on the primary (here
// renamed there by hand, as Cyrus's delayed DELETE would) is removed by the
// primary's cyr_expire -D, and the replica's copy goes through the sync log
// (UNMAILBOX).
TEST(Cleanup, DelayedDeleteThenMinusDRemovesDeletedMailboxesOnBothSides) {
  Pair p({});
  ASSERT_EQ(p.start(), "");
  ASSERT_TRUE(p.primary.tool("cyr_mbox", {"create", "user.alice.Old"}).ok());
  ASSERT_TRUE(p.primary.tool("cyr_mbox", {"create", "user.alice.Older"}).ok());
  ASSERT_EQ(deliver(p.primary, "alice", 2, "d"), "");
  ASSERT_TRUE(p.full().ok());
  auto del = imap_script(p.primary, "alice:alicepw", {"DELETE Old"});
  ASSERT_TRUE(del.ok()) << del.describe();
  until_next_second();
  const std::string kept = "DELETED.user.alice.Older.5F000000";
  ASSERT_TRUE(p.primary.tool("cyr_mbox", {"rename", "user.alice.Older", kept}).ok());
  auto r = p.replay();
  ASSERT_TRUE(r.ok()) << r.describe();
  auto deleted_on = [](const Instance& inst) {
    return inst.tool("cyr_mbox", {"list", "DELETED."}).out;
  };
  EXPECT_NE(deleted_on(p.replica).find("DELETED.user.alice.Old."), std::string::npos)
      << deleted_on(p.replica);
  EXPECT_NE(deleted_on(p.primary).find(kept), std::string::npos) << deleted_on(p.primary);
  EXPECT_NE(deleted_on(p.replica).find(kept), std::string::npos) << deleted_on(p.replica);

  // The primary's -D: its DELETED mailbox (from 2020) goes, on both sides.
  auto e = p.primary.tool("cyr_expire", {"-D", "7", "-v"});
  ASSERT_TRUE(e.ok()) << e.describe();
  EXPECT_NE(e.out.find("Removed 1 deleted mailboxes"), std::string::npos) << e.out;
  EXPECT_EQ(deleted_on(p.primary), "");
  r = p.replay();
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(deleted_on(p.replica).find(kept), std::string::npos) << deleted_on(p.replica);
  // The replica's own copy of the IMAP DELETE: -D 1 (a day) keeps it, -D 0
  // removes it.
  e = p.replica.tool("cyr_expire", {"-D", "1", "-v"});
  ASSERT_TRUE(e.ok()) << e.describe();
  EXPECT_NE(e.out.find("Removed 0 deleted mailboxes"), std::string::npos) << e.out;
  // The name holds the second the replica applied the delete: one later.
  until_next_second();
  e = p.replica.tool("cyr_expire", {"-D", "0", "-v"});
  ASSERT_TRUE(e.ok()) << e.describe();
  EXPECT_NE(e.out.find("Removed 1 deleted mailboxes"), std::string::npos) << e.out;
  EXPECT_EQ(deleted_on(p.replica), "");
  EXPECT_EQ(live_records(p.replica, "user.alice"), 2u);
  EXPECT_SAME_DIGEST(p.primary, p.replica);
  // Replication goes on.
  ASSERT_EQ(deliver(p.primary, "alice", 1, "later"), "");
  ASSERT_TRUE(p.replay().ok());
  EXPECT_SAME_DIGEST(p.primary, p.replica);
}

// ipurge expunges through the store: by size (-k), by age (-d, the Date:
// header: lmtpkit's messages are dated 2 Nov 2026), and the replica follows.
TEST(Cleanup, IpurgeBySizeAndAgeReachesTheReplica) {
  Pair p({});
  ASSERT_EQ(p.start(), "");
  ASSERT_EQ(deliver(p.primary, "alice", 2, "small", 600), "");
  ASSERT_EQ(deliver(p.primary, "alice", 2, "big", 20000), "");
  ASSERT_TRUE(p.full().ok());
  // Without -f user mailboxes are left alone, as in Cyrus.
  auto r = p.primary.tool("ipurge", {"-k", "10"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(live_records(p.primary, "user.alice"), 4u);
  r = p.primary.tool("ipurge", {"-f", "-v", "-k", "10", "user.alice"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_NE(r.out.find("user.alice: total messages 4"), std::string::npos) << r.out;
  EXPECT_EQ(live_records(p.primary, "user.alice"), 2u);
  // Dry run by age: says, changes nothing.
  r = p.primary.tool("ipurge", {"-f", "-n", "-d", "20", "user.alice"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_NE(r.out.find("would delete UID 1"), std::string::npos) << r.out;
  EXPECT_EQ(live_records(p.primary, "user.alice"), 2u);
  // Not older than a year: nothing; older than 20 days: both.
  ASSERT_TRUE(p.primary.tool("ipurge", {"-f", "-d", "365", "user.alice"}).ok());
  EXPECT_EQ(live_records(p.primary, "user.alice"), 2u);
  ASSERT_TRUE(p.primary.tool("ipurge", {"-f", "-d", "20", "user.alice"}).ok());
  EXPECT_EQ(live_records(p.primary, "user.alice"), 0u);
  ASSERT_TRUE(p.replay().ok());
  EXPECT_EQ(live_records(p.replica, "user.alice"), 0u);
  EXPECT_SAME_DIGEST(p.primary, p.replica);
  // Bad arguments: a usage error naming the problem.
  r = p.primary.tool("ipurge", {"-d", "1", "-b", "2"});
  EXPECT_EQ(r.exit_code, 64) << r.describe();
  EXPECT_NE(r.err.find("only one of -d, -b, -k or -m"), std::string::npos) << r.err;
  r = p.primary.tool("cyr_expire", {"-t"});
  EXPECT_EQ(r.exit_code, 64) << r.describe();
}

}  // namespace
}  // namespace replimail::testing
