// imapd end to end: Python's imaplib and Cyrus's cyradm against a real
// master + imapd, then the sync log checked for imapd's mutations.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "harness.h"
#include "test_certs.h"

namespace replimail::testing {
namespace {

Instance::Options imap_options() {
  return serving({{"imap", "imapd"}}, {{"alice", "alicepw"}, {"bob", "bobpw"}});
}

void create_users(const Instance& inst) {
  ASSERT_EQ(create_mailboxes(inst, {"user.alice", "user.bob"}), "");
}

void run_cases(const Instance& inst, const std::vector<std::string>& cases) {
  std::vector<std::string> args = {"--port", std::to_string(inst.port("imap"))};
  for (const auto& c : cases) {
    args.push_back("--case");
    args.push_back(c);
  }
  auto r = inst.python("imap_cases.py", args);
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out.rfind("ok ", 0), 0u) << r.out;
}

TEST(Imap, ConnectionAndAuthentication) {
  Instance inst(imap_options());
  ASSERT_EQ(inst.start(), "");
  create_users(inst);
  run_cases(inst, {"basic"});
}

TEST(Imap, MailboxCommandsReachTheSyncLog) {
  Instance inst(imap_options());
  ASSERT_EQ(inst.start(), "");
  create_users(inst);
  run_cases(inst, {"mailboxes"});
  std::string log = inst.channel_log("replica");
  EXPECT_NE(log.find("MAILBOX user.alice.Work"), std::string::npos) << log;
  EXPECT_NE(log.find("RENAME user.alice.Work user.alice.Jobs"), std::string::npos) << log;
  // delete_mode: delayed (the default): DELETE keeps it under DELETED.
  EXPECT_NE(log.find("RENAME user.alice.Jobs.2024 DELETED.user.alice.Jobs.2024."),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("SUB alice user.alice.Work"), std::string::npos) << log;
}

TEST(Imap, MessageCommandsReachTheStore) {
  Instance inst(imap_options());
  ASSERT_EQ(inst.start(), "");
  create_users(inst);
  run_cases(inst, {"messages"});
  auto snap = inst.snapshot("user.alice.Arch");
  ASSERT_EQ(snap.error, "");
  EXPECT_EQ(snap.counters.exists, 2u);
  std::string log = inst.channel_log("replica");
  EXPECT_NE(log.find("APPEND user.alice.Msgs"), std::string::npos) << log;
  EXPECT_NE(log.find("APPEND user.alice.Arch"), std::string::npos) << log;
}

TEST(Imap, TwoSessionsAndIdle) {
  Instance inst(imap_options());
  ASSERT_EQ(inst.start(), "");
  create_users(inst);
  run_cases(inst, {"concurrency"});
}

TEST(Imap, AclsAndQuota) {
  Instance inst(imap_options());
  ASSERT_EQ(inst.start(), "");
  create_users(inst);
  run_cases(inst, {"acl_quota"});
  std::string log = inst.channel_log("replica");
  EXPECT_NE(log.find("QUOTA user.carol"), std::string::npos) << log;
  EXPECT_NE(log.find("RENAME user.carol DELETED.user.carol."), std::string::npos) << log;
  EXPECT_NE(log.find("UNUSER carol"), std::string::npos) << log;
}

TEST(Imap, BadInputGetsNoOrBadAndTheConnectionStays) {
  auto o = imap_options();
  o.imapd_extra = {"maxmessagesize: 100000"};
  Instance inst(o);
  ASSERT_EQ(inst.start(), "");
  create_users(inst);
  run_cases(inst, {"bad_input"});
}

TEST(Imap, NothingAfterByeAndNewKeywordsAnnouncedBeforeFetch) {
  Instance inst(imap_options());
  ASSERT_EQ(inst.start(), "");
  create_users(inst);
  run_cases(inst, {"response_order"});
}

TEST(Imap, ServernameWithCapitalsStillLetsUsersLogIn) {
  auto o = imap_options();
  o.servername = "Mail.Example.ORG";
  Instance inst(o);
  ASSERT_EQ(inst.start(), "");
  create_users(inst);
  run_cases(inst, {"login"});
}

TEST(Imap, LargeLiteralsAreRefusedAndNeverAccumulate) {
  auto o = imap_options();
  o.imapd_extra = {"maxliteral: 1048576", "maxargssize: 8388608"};
  Instance inst(o);
  ASSERT_EQ(inst.start(), "");
  create_users(inst);
  auto r = inst.python("imap_cases.py",
                       {"--port", std::to_string(inst.port("imap")), "--master-pid",
                        std::to_string(inst.master_pid()), "--case", "hostile_literals"});
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out.rfind("ok ", 0), 0u) << r.out;
}

TEST(Imap, MultiappendAndRecent) {
  Instance inst(imap_options());
  ASSERT_EQ(inst.start(), "");
  create_users(inst);
  run_cases(inst, {"multiappend_recent"});
  auto snap = inst.snapshot("user.alice.Multi");
  ASSERT_EQ(snap.error, "");
  EXPECT_EQ(snap.counters.exists, 6u);
  EXPECT_EQ(snap.counters.recentuid, 6u);
}

// The peak resident memory (VmHWM, KiB) of `pid`, 0 if unknown.
long peak_rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

TEST(Imap, FiftyMegabyteAppendIsStreamedNotHeld) {
  auto o = imap_options();
  o.imapd_extra = {"maxmessagesize: 60000000"};
  Instance inst(o);
  ASSERT_EQ(inst.start(), "");
  create_users(inst);
  run_cases(inst, {"big_append"});
  auto snap = inst.snapshot("user.alice");
  ASSERT_EQ(snap.error, "");
  ASSERT_EQ(snap.records.size(), 1u);
  EXPECT_GT(snap.records[0].size, 50'000'000u);
  // The worker that took the APPEND (prefork 1: one imapd, kept for the next
  // connection) never held the message: its peak is far below 50 MB.
  int imapds = 0;
  for (pid_t pid : descendants_of(inst.master_pid())) {
    if (slurp("/proc/" + std::to_string(pid) + "/comm") != "imapd\n") continue;
    ++imapds;
    EXPECT_LT(peak_rss_kib(pid), 25 * 1024) << "imapd " << pid;
  }
  EXPECT_GE(imapds, 1);
}

TEST(Imap, AdminDeletesAUser) {
  Instance inst(imap_options());
  ASSERT_EQ(inst.start(), "");
  create_users(inst);
  run_cases(inst, {"delete_user"});
  EXPECT_NE(inst.snapshot("user.alice").error, "");
  EXPECT_EQ(inst.snapshot("user.bob").error, "");
  std::string log = inst.channel_log("replica");
  EXPECT_NE(log.find("RENAME user.alice.Lists.cooking DELETED.user.alice.Lists.cooking."),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("QUOTA user.alice"), std::string::npos) << log;
  EXPECT_NE(log.find("UNUSER alice"), std::string::npos) << log;
}

TEST(Imap, ReplicaDropsAUserDeletedWithCyradm) {
  Instance::Options ro;
  ro.services = {{"csync", "sync_server"}};
  Instance replica(ro);
  ASSERT_EQ(replica.start(), "");
  auto po = imap_options();
  po.imapd_extra = {"sync_authname: admin", "sync_password: adminpw"};
  Instance primary(po);
  ASSERT_EQ(primary.start(), "");
  create_users(primary);
  ASSERT_TRUE(primary.tool("cyr_mbox", {"create", "user.bob.Lists"}).ok());
  std::string target = "127.0.0.1:" + std::to_string(replica.port("csync"));
  auto first = primary.tool("sync_client", {"-v", "-S", target, "-u", "bob"});
  ASSERT_TRUE(first.ok()) << first.describe();
  ASSERT_EQ(replica.snapshot("user.bob.Lists").error, "");

  auto r = run({"/usr/bin/cyradm", "--user", "admin", "--password", "adminpw", "--auth", "PLAIN",
                "--notls", "--norc", "--port", std::to_string(primary.port("imap")), "127.0.0.1"},
               "dm user/bob\nlm\n", std::chrono::seconds(60));
  ASSERT_TRUE(r.ok()) << r.describe();
  // delete_mode: delayed (the default): the administrator's lm shows it
  // kept as DELETED/user/bob/<HEX time>, and nothing else of bob's.
  std::string listed = r.out;
  EXPECT_NE(listed.find("DELETED/user/bob/"), std::string::npos) << r.describe();
  for (size_t at; (at = listed.find("DELETED/user/bob")) != std::string::npos;)
    listed.erase(at, std::string_view("DELETED/user/bob").size());
  EXPECT_EQ(listed.find("user/bob"), std::string::npos) << r.describe();
  EXPECT_EQ(r.err.find("cyradm:"), std::string::npos) << r.describe();
  std::string log = primary.channel_log("replica");
  ASSERT_NE(log.find("UNUSER bob"), std::string::npos) << log;

  auto replay =
      primary.tool("sync_client", {"-v", "-S", target, "-f", primary.channel_log_path("replica")});
  ASSERT_TRUE(replay.ok()) << replay.describe();
  EXPECT_NE(replica.snapshot("user.bob").error, "");
  EXPECT_NE(replica.snapshot("user.bob.Lists").error, "");
}

TEST(Imap, StarttlsAndImplicitTls) {
  TempDir certs;
  TestCerts made = make_test_certs(certs.path());
  ASSERT_EQ(made.error, "");
  const std::string &key = made.server_key, &cert = made.server_cert;
  auto o = imap_options();
  o.services["imaps"] = "imapd -s";
  o.imapd_extra = {"tls_server_cert: " + cert, "tls_server_key: " + key};
  Instance inst(o);
  ASSERT_EQ(inst.start(), "");
  create_users(inst);
  auto r = inst.python("imap_cases.py", {"--port", std::to_string(inst.port("imap")), "--tls-port",
                                         std::to_string(inst.port("imaps")), "--case", "tls"});
  EXPECT_TRUE(r.ok()) << r.describe();
}

TEST(Imap, CyradmCreatesUserSetsAclAndQuotaAndLists) {
  Instance inst(imap_options());
  ASSERT_EQ(inst.start(), "");
  create_users(inst);
  std::string script =
      "cm user/dave\n"
      "sam user/dave alice lrs\n"
      "sq user/dave 2048\n"
      "lq user/dave\n"
      "lam user/dave\n"
      "lm\n"
      "dm user/dave\n"
      "lm\n";
  auto r = run({"/usr/bin/cyradm", "--user", "admin", "--password", "adminpw", "--auth", "PLAIN",
                "--notls", "--norc", "--port", std::to_string(inst.port("imap")), "127.0.0.1"},
               script, std::chrono::seconds(60));
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_NE(r.out.find("STORAGE 0/2048"), std::string::npos) << r.describe();
  EXPECT_NE(r.out.find("alice lrs"), std::string::npos) << r.describe();
  EXPECT_NE(r.out.find("user/dave (\\HasNoChildren)"), std::string::npos) << r.describe();
  EXPECT_EQ(r.err.find("cyradm:"), std::string::npos) << r.describe();
  EXPECT_FALSE(inst.snapshot("user.dave").error.empty());
  std::string log = inst.channel_log("replica");
  EXPECT_NE(log.find("QUOTA user.dave"), std::string::npos) << log;
}

}  // namespace
}  // namespace replimail::testing
