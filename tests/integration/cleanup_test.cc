// The operator's clean-up (issue 16): LMTP duplicate suppression, cyr_expire
// -X (delayed expunge) and -D (imapd's delayed delete) on a primary and its replica,
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

// delete_mode: delayed (the default), as Cyrus: imapd's DELETE renames the
// mailbox to DELETED.<name>.<HEX time>, an administrator's DELETE of a user
// does it to each of the user's mailboxes. The renames replicate, so the
// replica holds the same DELETED names with the same mailboxes. The
// primary's cyr_expire -D removes them on both sides (UNMAILBOX through the
// sync log); a replica's own -D that runs first removes its copy, and the
// primary's UNMAILBOX later finds nothing to do.
TEST(Cleanup, DelayedDeleteThenMinusDRemovesDeletedMailboxesOnBothSides) {
  Pair p({});
  ASSERT_EQ(p.start(), "");
  for (const char* m : {"user.alice.Old", "user.alice.Older", "user.bob", "user.bob.Sub"})
    ASSERT_TRUE(p.primary.tool("cyr_mbox", {"create", m}).ok()) << m;
  ASSERT_EQ(deliver(p.primary, "alice", 2, "d"), "");
  ASSERT_EQ(deliver(p.primary, "bob", 2, "b"), "");
  ASSERT_TRUE(p.full().ok());
  auto bob_entry = lines_of(p.primary.tool("cyr_mbox", {"list", "user.bob"}).out);
  ASSERT_FALSE(bob_entry.empty());
  const size_t at = bob_entry[0].find('\t') + 1;
  const std::string bob_uniqueid = bob_entry[0].substr(at, bob_entry[0].find('\t', at) - at);

  auto del = imap_script(p.primary, "alice:alicepw", {"DELETE Old"});
  ASSERT_TRUE(del.ok()) << del.describe();
  EXPECT_NE(del.out.find("t1 OK"), std::string::npos) << del.describe();
  auto deluser = imap_script(p.primary, "admin:adminpw", {"DELETE user/bob"});
  ASSERT_TRUE(deluser.ok()) << deluser.describe();
  EXPECT_NE(deluser.out.find("t1 OK"), std::string::npos) << deluser.describe();
  // Hidden from the user.
  auto alice_list = imap_script(p.primary, "alice:alicepw", {"LIST \"\" *"});
  EXPECT_EQ(alice_list.out.find("DELETED"), std::string::npos) << alice_list.out;
  auto r = p.replay();
  ASSERT_TRUE(r.ok()) << r.describe();

  // "name<TAB>uniqueid" of each real mailbox under DELETED.
  auto deleted_on = [](const Instance& inst) {
    std::string out;
    for (const auto& l : lines_of(inst.tool("cyr_mbox", {"list", "DELETED."}).out)) {
      std::vector<std::string> f;
      for (size_t at = 0;;) {
        size_t tab = l.find('\t', at);
        f.push_back(l.substr(at, tab - at));
        if (tab == std::string::npos) break;
        at = tab + 1;
      }
      if (f.size() < 3 || f[2].find_first_of("di") != std::string::npos) continue;
      out += f[0] + "\t" + f[1] + "\n";
    }
    return out;
  };
  std::string kept = deleted_on(p.primary);
  for (const char* name : {"DELETED.user.alice.Old.", "DELETED.user.bob.", "DELETED.user.bob.Sub."})
    EXPECT_NE(kept.find(name), std::string::npos) << name << "\n" << kept;
  EXPECT_EQ(lines_of(kept).size(), 3u) << kept;
  EXPECT_EQ(deleted_on(p.replica), kept);
  for (const Instance* side : {&p.primary, &p.replica}) {
    EXPECT_NE(side->snapshot("user.alice.Old").error, "");
    EXPECT_NE(side->snapshot("user.bob").error, "");
  }
  // The user's INBOX, with its uniqueid and messages, under its DELETED name.
  std::string bob_kept;
  for (const auto& l : lines_of(kept))
    if (l.starts_with("DELETED.user.bob.") && !l.starts_with("DELETED.user.bob.Sub."))
      bob_kept = l.substr(0, l.find('\t'));
  EXPECT_NE(kept.find(bob_kept + "\t" + bob_uniqueid + "\n"), std::string::npos)
      << bob_uniqueid << "\n"
      << kept;
  for (const Instance* side : {&p.primary, &p.replica})
    EXPECT_EQ(live_records(*side, bob_kept), 2u) << bob_kept;
  EXPECT_SAME_DIGEST(p.primary, p.replica);

  // One from 2020 (renamed by hand to age it): the replica's -D goes first.
  const std::string old = "DELETED.user.alice.Older.5F000000";
  ASSERT_TRUE(p.primary.tool("cyr_mbox", {"rename", "user.alice.Older", old}).ok());
  ASSERT_TRUE(p.replay().ok());
  EXPECT_NE(deleted_on(p.replica).find(old), std::string::npos) << deleted_on(p.replica);
  auto e = p.replica.tool("cyr_expire", {"-D", "7", "-v"});
  ASSERT_TRUE(e.ok()) << e.describe();
  EXPECT_NE(e.out.find("Removed 1 deleted mailboxes"), std::string::npos) << e.out;
  e = p.primary.tool("cyr_expire", {"-D", "7", "-v"});
  ASSERT_TRUE(e.ok()) << e.describe();
  EXPECT_NE(e.out.find("Removed 1 deleted mailboxes"), std::string::npos) << e.out;
  r = p.replay();
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(deleted_on(p.primary), kept);
  EXPECT_EQ(deleted_on(p.replica), kept);

  // The primary's -D: a day keeps today's, 0 removes them, on both sides.
  e = p.primary.tool("cyr_expire", {"-D", "1", "-v"});
  ASSERT_TRUE(e.ok()) << e.describe();
  EXPECT_NE(e.out.find("Removed 0 deleted mailboxes"), std::string::npos) << e.out;
  until_next_second();
  e = p.primary.tool("cyr_expire", {"-D", "0", "-v"});
  ASSERT_TRUE(e.ok()) << e.describe();
  EXPECT_NE(e.out.find("Removed 3 deleted mailboxes"), std::string::npos) << e.out;
  EXPECT_EQ(deleted_on(p.primary), "");
  r = p.replay();
  ASSERT_TRUE(r.ok()) << r.describe();
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
