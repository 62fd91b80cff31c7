// COMPRESS=DEFLATE, BINARY, CATENATE, APPENDLIMIT, UNAUTHENTICATE and
// LOGINDISABLED with real clients, against replimail and against a live
// Cyrus 3.6 (skipped, with the reason, where Cyrus cannot run).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "cyrus_peer.h"
#include "harness.h"

namespace replimail::testing {
namespace {

Instance::Options options() {
  Instance::Options o;
  o.users = {{"admin", "adminpw"}, {"alice", "alicepw"}};
  o.services = {{"imap", "imapd"}};
  return o;
}

// A self-signed certificate for STARTTLS; empty strings if openssl failed.
struct Cert {
  TempDir dir;
  std::string key = dir.path() + "/key.pem";
  std::string cert = dir.path() + "/cert.pem";
  bool made() {
    return run({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", "/CN=replimail-test", "-keyout", key, "-out", cert})
        .ok();
  }
};

TEST(ImapExtensions, WholeSessionThroughCompressDeflatePlainAndAfterStarttls) {
  Cert c;
  ASSERT_TRUE(c.made());
  auto o = options();
  o.imapd_extra = {"tls_server_cert: " + c.cert, "tls_server_key: " + c.key};
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
  TempDir tmp;
  ASSERT_EQ(chmod(tmp.path().c_str(), 0755), 0);
  std::string dir = tmp.path() + "/cyrus";
  int port = free_port();
  CyrusGuard guard(dir);
  auto started = run({"/usr/bin/python3", py_script("cyrus_instance.py"), "start", dir,
                      "--servername", "cyrus-ext", "--imap-port", std::to_string(port), "--users",
                      "admin:adminpw,alice:alicepw", "--admins", "admin"});
  ASSERT_TRUE(started.ok()) << started.describe();
  auto r = run({"/usr/bin/python3", py_script("compress_session.py"), "--port",
                std::to_string(port), "--user", "alice:alicepw", "--create-inbox"});
  EXPECT_TRUE(r.ok()) << r.describe();
}

}  // namespace
}  // namespace replimail::testing
