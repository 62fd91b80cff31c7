// imapd end to end: Python's imaplib and Cyrus's cyradm against a real
// master + imapd, then the sync log checked for imapd's mutations.
#include <gtest/gtest.h>

#include <string>

#include "harness.h"

namespace replimail::testing {
namespace {

Instance::Options imap_options() {
  Instance::Options o;
  o.users = {{"admin", "adminpw"}, {"alice", "alicepw"}, {"bob", "bobpw"}};
  o.services = {{"imap", "imapd"}};
  return o;
}

void create_users(const Instance& inst) {
  for (const char* m : {"user.alice", "user.bob"}) {
    auto r = inst.tool("cyr_mbox", {"create", m});
    ASSERT_TRUE(r.ok()) << r.describe();
  }
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
  EXPECT_NE(log.find("UNMAILBOX user.alice.Jobs.2024"), std::string::npos) << log;
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
  EXPECT_NE(log.find("UNMAILBOX user.carol"), std::string::npos) << log;
}

TEST(Imap, BadInputGetsNoOrBadAndTheConnectionStays) {
  auto o = imap_options();
  o.imapd_extra = {"maxmessagesize: 100000"};
  Instance inst(o);
  ASSERT_EQ(inst.start(), "");
  create_users(inst);
  run_cases(inst, {"bad_input"});
}

TEST(Imap, StarttlsAndImplicitTls) {
  TempDir certs;
  std::string key = certs.path() + "/key.pem";
  std::string cert = certs.path() + "/cert.pem";
  auto gen = run({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                  "-subj", "/CN=replimail-test", "-keyout", key, "-out", cert});
  ASSERT_TRUE(gen.ok()) << gen.describe();
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
