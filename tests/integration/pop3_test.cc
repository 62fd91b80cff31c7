// pop3d end to end: messages delivered with lmtpd, read and deleted with
// Python's poplib, then the store and the sync log checked from outside.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>

#include "harness.h"
#include "test_certs.h"

namespace replimail::testing {
namespace {

using nlohmann::json;

TEST(Pop3, PoplibSessionsRetrieveDeleteAndExpungeAtQuit) {
  Instance inst(serving({{"lmtp", "lmtpd -a"}, {"pop3", "pop3d"}}, {{"alice", "alicepw"}}));
  ASSERT_EQ(inst.start(), "");
  ASSERT_EQ(create_mailboxes(inst, {"user.alice"}), "");
  ASSERT_EQ(deliver(inst, "alice", 3), "");

  auto before = inst.snapshot("user.alice");
  ASSERT_EQ(before.error, "");
  ASSERT_EQ(before.records.size(), 3u);
  uint64_t total = 0;
  for (const auto& r : before.records) total += r.size;

  auto r = inst.python("pop3_cases.py", {"--port", std::to_string(inst.port("pop3")), "--user",
                                         "alice", "--password", "alicepw"});
  ASSERT_TRUE(r.ok()) << r.describe() << inst.master_log();
  json out = json::parse(r.out);

  EXPECT_EQ(out["welcome"], "+OK replimail-test replimail POP3 server ready");
  for (const char* cap : {"TOP", "UIDL", "USER", "SASL", "PIPELINING", "RESP-CODES"}) {
    EXPECT_NE(std::find(out["capa"].begin(), out["capa"].end(), cap), out["capa"].end()) << cap;
  }
  // No certificate configured: no STLS.
  EXPECT_EQ(std::find(out["capa"].begin(), out["capa"].end(), "STLS"), out["capa"].end());
  EXPECT_EQ(out["bad_password"], "-ERR [AUTH] Invalid login");
  EXPECT_EQ(out["pass"], "+OK Mailbox locked and ready");
  EXPECT_EQ(out["stat"], json::array({3, total}));
  EXPECT_EQ(out["list"][0], "1 " + std::to_string(before.records[0].size));
  std::string uv = std::to_string(before.counters.uidvalidity);
  EXPECT_EQ(out["uidl"], json::array({"1 " + uv + ".1", "2 " + uv + ".2", "3 " + uv + ".3"}));
  EXPECT_EQ(out["retr1_octets"].get<uint64_t>(), before.records[0].size);
  EXPECT_EQ(out["top1"].back(), "");  // the blank line ends the header
  EXPECT_EQ(out["retr_deleted"], "-ERR No such message");
  EXPECT_EQ(out["quit"], "+OK");

  EXPECT_EQ(out["auth"], "+OK Mailbox locked and ready");
  EXPECT_EQ(out["stat2"][0], 2);
  EXPECT_EQ(out["uidl2"], json::array({"1 " + uv + ".2", "2 " + uv + ".3"}));
  EXPECT_EQ(out["retr99"], "-ERR No such message");
  EXPECT_EQ(out["stat_before_login"], "-ERR Unrecognized command");

  auto after = inst.snapshot("user.alice");
  ASSERT_EQ(after.error, "");
  EXPECT_TRUE(after.records[0].expunged());
  EXPECT_FALSE(after.records[1].expunged());
  EXPECT_EQ(after.counters.exists, 2u);
  EXPECT_GT(after.counters.pop3_last_login, 0);
  EXPECT_NE(inst.channel_log("replica").find("MAILBOX user.alice"), std::string::npos);
}

TEST(Pop3, StlsAndPop3sWithoutPlaintextLogins) {
  TempDir certs;
  TestCerts made = make_test_certs(certs.path());
  ASSERT_EQ(made.error, "");
  const std::string &key = made.server_key, &cert = made.server_cert;
  Instance::Options opts = serving(
      {{"lmtp", "lmtpd -a"}, {"pop3", "pop3d"}, {"pop3s", "pop3d -s"}}, {{"alice", "alicepw"}});
  opts.imapd_extra = {"tls_server_cert: " + cert, "tls_server_key: " + key, "allowplaintext: no"};
  Instance inst(opts);
  ASSERT_EQ(inst.start(), "");
  ASSERT_EQ(create_mailboxes(inst, {"user.alice"}), "");
  ASSERT_EQ(deliver(inst, "alice", 2), "");

  auto r = inst.python("pop3_cases.py", {"--port", std::to_string(inst.port("pop3")), "--tls-port",
                                         std::to_string(inst.port("pop3s")), "--user", "alice",
                                         "--password", "alicepw"});
  ASSERT_TRUE(r.ok()) << r.describe() << inst.master_log();
  json out = json::parse(r.out);
  auto has = [](const json& list, const char* cap) {
    return std::find(list.begin(), list.end(), cap) != list.end();
  };
  EXPECT_TRUE(has(out["capa"], "STLS")) << out["capa"];
  EXPECT_FALSE(has(out["capa"], "USER")) << out["capa"];
  EXPECT_EQ(out["user_before_stls"], "-ERR [AUTH] USER command only available under a layer");
  EXPECT_EQ(out["stls"], "+OK Begin TLS negotiation now");
  EXPECT_FALSE(has(out["capa_tls"], "STLS")) << out["capa_tls"];
  EXPECT_TRUE(has(out["capa_tls"], "USER")) << out["capa_tls"];
  EXPECT_EQ(out["stls_again"], "-ERR STLS not available");
  EXPECT_EQ(out["pass"], "+OK Mailbox locked and ready");
  EXPECT_EQ(out["stat"][0], 2);
  EXPECT_FALSE(has(out["capa_pop3s"], "STLS")) << out["capa_pop3s"];
  EXPECT_EQ(out["pass_pop3s"], "+OK Mailbox locked and ready");
  EXPECT_EQ(out["stat_pop3s"][0], 2);
}

}  // namespace
}  // namespace replimail::testing
