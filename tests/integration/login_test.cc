// Login limits and read-only mode (docs/OPERATIONS.md, "Login limits and
// read-only mode"), seen by real clients through master's services.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>

#include "harness.h"

namespace replimail::testing {
namespace {

using nlohmann::json;

Instance::Options all_services() {
  Instance::Options opts;
  opts.users = {{"admin", "adminpw"}, {"alice", "alicepw"}, {"bob", "bobpw"}};
  opts.services = {
      {"lmtp", "lmtpd -a"}, {"imap", "imapd"}, {"pop3", "pop3d"}, {"csync", "sync_server"}};
  opts.imapd_extra = {"failedloginpause: 0"};
  return opts;
}

TEST(Login, ReadOnlyModeRefusesWritesInEveryProtocolAndReadsGoOn) {
  Instance inst(all_services());
  ASSERT_EQ(inst.start(), "");
  ASSERT_TRUE(inst.tool("cyr_mbox", {"create", "user.alice"}).ok());
  ASSERT_EQ(deliver(inst, "alice", 1), "");

  std::string flag = inst.config_dir() + "/readonly";
  auto r = inst.python("readonly_cases.py", {"--imap", std::to_string(inst.port("imap")), "--pop3",
                                             std::to_string(inst.port("pop3")), "--lmtp",
                                             std::to_string(inst.lmtp_port()), "--csync",
                                             std::to_string(inst.port("csync")), "--flag", flag});
  ASSERT_TRUE(r.ok()) << r.describe() << inst.master_log();
  json out = json::parse(r.out);
  const std::string unavailable = "NO [UNAVAILABLE] Server is in read-only mode, try again later";

  EXPECT_NE(out["select_writable"].get<std::string>().find("OK"), std::string::npos);
  EXPECT_EQ(out["store"], unavailable) << out.dump();
  EXPECT_NE(out["fetch"].get<std::string>().find("OK"), std::string::npos) << out.dump();
  EXPECT_EQ(out["flags_after_fetch"].get<std::string>().find("\\Seen"), std::string::npos)
      << out.dump();
  EXPECT_TRUE(out["select_readonly"].get<bool>()) << out.dump();
  EXPECT_EQ(out["create"], unavailable) << out.dump();
  EXPECT_NE(out["append"].get<std::string>().find("[UNAVAILABLE]"), std::string::npos)
      << out.dump();

  EXPECT_EQ(out["pop_pass"], "+OK Mailbox locked and ready");
  EXPECT_EQ(out["pop_retr"], "+OK Message follows");
  EXPECT_EQ(out["pop_dele"], "-ERR [SYS/TEMP] Server is in read-only mode, try again later");

  EXPECT_EQ(out["lmtp_readonly"]["mail"], 250);
  EXPECT_EQ(out["lmtp_readonly"]["rcpt"], "451 4.3.2 Server is in read-only mode, try again later");

  EXPECT_TRUE(out["csync"]["auth"].get<std::string>().starts_with("OK")) << out.dump();
  EXPECT_TRUE(out["csync"]["get"].get<std::string>().starts_with("OK")) << out.dump();
  EXPECT_EQ(out["csync"]["apply"], "NO IMAP_READ_ONLY Server is in read-only mode");

  EXPECT_TRUE(out["store_after"].get<std::string>().starts_with("OK")) << out.dump();
  EXPECT_EQ(out["lmtp_after"], "delivered");

  // Nothing the refused commands asked for reached the store: the first
  // message is not \Seen nor deleted, no Archive; only the later writes are.
  auto snap = inst.snapshot("user.alice");
  ASSERT_EQ(snap.error, "");
  ASSERT_EQ(snap.records.size(), 2u);
  EXPECT_EQ(snap.records[0].system_flags, store::kFlagFlagged);
  EXPECT_FALSE(inst.snapshot("user.alice.Archive").error.empty());
  EXPECT_EQ(inst.stop(), 0);
}

TEST(Login, MaxloginsAndFailureBudgetsAreSharedByEveryWorker) {
  Instance::Options opts = all_services();
  opts.services["lmtp"] = "lmtpd";  // AUTH required over TCP
  opts.prefork = 2;                 // sessions land on different workers
  opts.users["carol"] = "carolpw";
  opts.imapd_extra = {"failedloginpause: 0", "maxlogins_per_user: 2",
                      "maxloginfailures_per_user: 2", "maxloginfailures_per_host: 4"};
  Instance inst(opts);
  ASSERT_EQ(inst.start(), "");
  for (const char* u : {"alice", "bob", "carol"})
    ASSERT_TRUE(inst.tool("cyr_mbox", {"create", std::string("user.") + u}).ok()) << u;

  auto r = inst.python(
      "login_limits_cases.py",
      {"--imap", std::to_string(inst.port("imap")), "--pop3", std::to_string(inst.port("pop3")),
       "--lmtp", std::to_string(inst.lmtp_port()), "--csync", std::to_string(inst.port("csync"))});
  ASSERT_TRUE(r.ok()) << r.describe() << inst.master_log();
  json out = json::parse(r.out);
  const std::string imap_locked = "NO [UNAVAILABLE] Too many failed logins, try again later";
  const std::string pop_locked = "-ERR [SYS/TEMP] Too many failed logins, try again later";

  EXPECT_TRUE(out["alice1"].get<std::string>().starts_with("OK")) << out.dump();
  EXPECT_TRUE(out["alice2"].get<std::string>().starts_with("OK")) << out.dump();
  // Cyrus 3.6's wording; imapd and pop3d sessions count together.
  EXPECT_EQ(out["alice3"], "NO Too many open connections (2 of 2 for alice)");
  EXPECT_EQ(out["alice_pop_third"], "-ERR Too many open connections (2 of 2 for alice)");
  EXPECT_TRUE(out["alice3_after_logout"].get<std::string>().starts_with("OK")) << out.dump();

  EXPECT_TRUE(out["carol_bad0"].get<std::string>().find("AUTHENTICATIONFAILED") !=
              std::string::npos)
      << out.dump();
  EXPECT_EQ(out["carol_right"], imap_locked);  // the user's budget is spent
  EXPECT_EQ(out["carol_pop_right"], pop_locked);
  EXPECT_TRUE(out["bob_right"].get<std::string>().starts_with("OK")) << out.dump();

  EXPECT_EQ(out["bob_bad1"], "-ERR [AUTH] Invalid login");
  EXPECT_EQ(out["alice_host_locked"], imap_locked);  // the host's budget is spent
  EXPECT_EQ(out["alice_pop_host_locked"], pop_locked);
  EXPECT_EQ(out["lmtp_host_locked"], "454 4.7.0 Too many failed logins, try again later");
  EXPECT_EQ(out["csync_host_locked"], "NO Too many failed logins, try again later");
  EXPECT_EQ(inst.stop(), 0);
}

TEST(Login, NoPlaintextMechanismOnACleartextConnectionWithoutAllowplaintext) {
  Instance::Options opts = all_services();
  opts.services["lmtp"] = "lmtpd";  // AUTH over TCP
  opts.imapd_extra = {"failedloginpause: 0", "allowplaintext: no"};
  Instance inst(opts);
  ASSERT_EQ(inst.start(), "");
  ASSERT_TRUE(inst.tool("cyr_mbox", {"create", "user.alice"}).ok());
  auto r = inst.python(
      "plaintext_cases.py",
      {"--imap", std::to_string(inst.port("imap")), "--pop3", std::to_string(inst.port("pop3")),
       "--lmtp", std::to_string(inst.lmtp_port()), "--csync", std::to_string(inst.port("csync"))});
  ASSERT_TRUE(r.ok()) << r.describe() << inst.master_log();
  json out = json::parse(r.out);
  auto has = [](const json& list, const char* v) {
    return std::find(list.begin(), list.end(), v) != list.end();
  };
  // As Cyrus 3.6 (checked against its imapd.c, pop3d.c, sync_server.c):
  EXPECT_TRUE(has(out["imap"]["capabilities"], "LOGINDISABLED")) << out.dump();
  EXPECT_FALSE(has(out["imap"]["capabilities"], "AUTH=PLAIN")) << out.dump();
  EXPECT_EQ(out["imap"]["login"], "NO Login only available under a layer");
  EXPECT_EQ(out["imap"]["authenticate"], "NO encryption needed to use mechanism");
  EXPECT_FALSE(has(out["pop3"]["capa"], "USER")) << out.dump();
  EXPECT_FALSE(has(out["pop3"]["sasl"], "PLAIN")) << out.dump();
  EXPECT_EQ(out["pop3"]["user"], "-ERR [AUTH] USER command only available under a layer");
  EXPECT_EQ(out["pop3"]["auth"], "-ERR [AUTH] authenticating: encryption needed to use mechanism");
  EXPECT_EQ(out["lmtp"]["auth_offered"].get<std::string>().find("PLAIN"), std::string::npos);
  EXPECT_TRUE(out["lmtp"]["auth"].get<std::string>().starts_with("5")) << out.dump();
  for (const auto& line : out["csync"]["banner"])
    EXPECT_EQ(line.get<std::string>().find("PLAIN"), std::string::npos) << out.dump();
  EXPECT_TRUE(out["csync"]["auth"].get<std::string>().starts_with("NO ")) << out.dump();
  EXPECT_EQ(inst.stop(), 0);
}

}  // namespace
}  // namespace replimail::testing
