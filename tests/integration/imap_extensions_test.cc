// COMPRESS=DEFLATE, BINARY, CATENATE, APPENDLIMIT, UNAUTHENTICATE and
// LOGINDISABLED with real clients, against replimail and against a live
// Cyrus 3.6 (skipped, with the reason, where Cyrus cannot run).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cyrus_peer.h"
#include "harness.h"
#include "test_certs.h"

namespace replimail::testing {
namespace {

Instance::Options options() { return serving({{"imap", "imapd"}}, {{"alice", "alicepw"}}); }

TEST(ImapExtensions, WholeSessionThroughCompressDeflatePlainAndAfterStarttls) {
  TempDir certs;
  TestCerts c = make_test_certs(certs.path());
  ASSERT_EQ(c.error, "");
  auto o = options();
  o.imapd_extra = {"tls_server_cert: " + c.server_cert, "tls_server_key: " + c.server_key};
  Instance inst(o);
  ASSERT_EQ(inst.start(), "");
  auto made = inst.tool("cyr_mbox", {"create", "user.alice"});
  ASSERT_TRUE(made.ok()) << made.describe();
  std::string port = std::to_string(inst.port("imap"));
  auto plain = inst.python("compress_session.py", {"--port", port, "--user", "alice:alicepw"});
  EXPECT_TRUE(plain.ok()) << plain.describe();
  EXPECT_NE(plain.out.find("ok 22 "), std::string::npos) << plain.out;
  auto tls =
      inst.python("compress_session.py", {"--port", port, "--user", "alice:alicepw", "--starttls"});
  EXPECT_TRUE(tls.ok()) << tls.describe();
  EXPECT_NE(tls.out.find("ok 23 "), std::string::npos) << tls.out;
  // The server is still serving, uncompressed, after both.
  auto again = inst.python("compress_session.py", {"--port", port, "--user", "alice:alicepw"});
  EXPECT_TRUE(again.ok()) << again.describe();
}

// The same script against Cyrus 3.6: its expectations (answer texts, the
// refused second COMPRESS) are Cyrus's.
TEST(ImapExtensions, CompressSessionScriptHoldsForCyrus36) {
  std::string why = why_no_cyrus();
  if (!why.empty()) GTEST_SKIP() << "Cyrus 3.6 cannot run here: " << why;
  CyrusPeer cyrus("cyrus-ext", {"--users", "admin:adminpw,alice:alicepw", "--admins", "admin"});
  ASSERT_TRUE(cyrus.started().ok()) << cyrus.started().describe();
  auto r = run({"/usr/bin/python3", py_script("compress_session.py"), "--port",
                std::to_string(cyrus.ports().imap), "--user", "alice:alicepw", "--create-inbox"});
  EXPECT_TRUE(r.ok()) << r.describe();
}

}  // namespace
}  // namespace replimail::testing
