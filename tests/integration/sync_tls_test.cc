// Replication over TLS between two replimail instances (issue 16): a replica
// whose sync_server has a certificate and refuses cleartext
// (allowplaintext: no) and a primary whose sync_client trusts the CA that
// signed it. The client must STARTTLS (the replica offers no PLAIN before
// it), verify the replica's certificate, present its own when asked, and
// compress above TLS; a client trusting another CA is refused before any
// data goes out; a client without TLS gets a clear reason. Certificates are
// made at test time (test_certs.h).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "digest_check.h"
#include "harness.h"
#include "net/socket.h"
#include "net/stream.h"
#include "replication.h"
#include "test_certs.h"

namespace replimail::testing {
namespace {

// A replica that serves csync with `certs`' server certificate, asks the
// client for a certificate signed by their CA, and allows no plaintext
// mechanism before TLS.
Instance::Options tls_replica(const TestCerts& certs,
                              const std::string& sync_server = "sync_server") {
  Instance::Options o;
  o.services = {{"lmtp", "lmtpd -a"}, {"csync", sync_server}};
  o.imapd_extra = {"failedloginpause: 0", "allowplaintext: no",
                   "tls_server_cert: " + certs.server_cert, "tls_server_key: " + certs.server_key,
                   "tls_client_ca_file: " + certs.ca};
  return o;
}

Instance::Options primary(const std::vector<std::string>& tls) {
  Instance::Options o;
  o.imapd_extra = {"sync_authname: admin", "sync_password: adminpw"};
  o.imapd_extra.insert(o.imapd_extra.end(), tls.begin(), tls.end());
  return o;
}

class SyncTls : public TestWithCerts {};

TEST_F(SyncTls, ReplicaRefusingCleartextReplicatesOverTls) {
  Instance replica(tls_replica(certs_));
  ASSERT_EQ(replica.start(), "");
  Instance from(
      primary({"tls_server_ca_file: " + certs_.ca, "tls_client_cert: " + certs_.client_cert,
               "tls_client_key: " + certs_.client_key}));
  ASSERT_EQ(from.start(), "");
  ASSERT_TRUE(from.tool("cyr_mbox", {"create", "user.alice"}).ok());
  ASSERT_EQ(deliver(from, "alice", 20, "t"), "");
  std::string host = "127.0.0.1:" + std::to_string(replica.port("csync"));

  // -z: COMPRESS DEFLATE above TLS (the client fails if it is not on).
  auto r = sync_user(from, host, "alice", {"-z"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_NE((r.out + r.err).find("TLS with 127.0.0.1: TLSv1"), std::string::npos) << r.describe();
  EXPECT_NE(r.out.find("uploaded 20 messages"), std::string::npos) << r.describe();
  EXPECT_SAME_DIGEST(from, replica);
  // The replica asked for the client's certificate and got it.
  EXPECT_NE(replica.master_log().find("peer certificate CN=replimail-primary"), std::string::npos)
      << replica.master_log();

  // Again by name (the certificate names localhost too), uncompressed.
  ASSERT_EQ(deliver(from, "alice", 2, "again"), "");
  auto again = sync_user(from, "localhost:" + std::to_string(replica.port("csync")), "alice");
  ASSERT_TRUE(again.ok()) << again.describe();
  EXPECT_NE(again.out.find("uploaded 2 messages"), std::string::npos) << again.describe();
  EXPECT_SAME_DIGEST(from, replica);
}

TEST_F(SyncTls, WrongOrMissingCaIsRefusedBeforeAnyData) {
  Instance replica(tls_replica(certs_));
  ASSERT_EQ(replica.start(), "");
  std::string host = "127.0.0.1:" + std::to_string(replica.port("csync"));
  // The CA that signed the replica's certificate is not the one trusted;
  // then none is configured (the system's trust store does not know it).
  for (const auto& tls : {std::vector<std::string>{"tls_server_ca_file: " + certs_.other_ca},
                          std::vector<std::string>{}}) {
    Instance from(primary(tls));
    ASSERT_EQ(from.start(), "");
    ASSERT_TRUE(from.tool("cyr_mbox", {"create", "user.alice"}).ok());
    ASSERT_EQ(deliver(from, "alice", 3, "t"), "");
    auto r = sync_user(from, host, "alice");
    EXPECT_FALSE(r.ok()) << r.describe();
    EXPECT_NE(r.err.find("TLS: the certificate of 127.0.0.1 does not verify"), std::string::npos)
        << r.describe();
    EXPECT_NE(r.err.find(tls.empty() ? "trust store" : certs_.other_ca), std::string::npos)
        << r.describe();
    // Nothing reached the replica: no login, no mailbox.
    EXPECT_EQ(replica.master_log().find("login admin"), std::string::npos) << replica.master_log();
    EXPECT_NE(replica.snapshot("user.alice").error, "");
  }
  // A certificate from the trusted CA that names another host is refused
  // too.
  Instance::Options misnamed = tls_replica(certs_);
  misnamed.imapd_extra.push_back("tls_server_cert: " + certs_.misnamed_cert);
  misnamed.imapd_extra.push_back("tls_server_key: " + certs_.misnamed_key);
  Instance other(misnamed);
  ASSERT_EQ(other.start(), "");
  Instance from(primary({"tls_server_ca_file: " + certs_.ca}));
  ASSERT_EQ(from.start(), "");
  ASSERT_TRUE(from.tool("cyr_mbox", {"create", "user.alice"}).ok());
  auto r = sync_user(from, "127.0.0.1:" + std::to_string(other.port("csync")), "alice");
  EXPECT_FALSE(r.ok()) << r.describe();
  EXPECT_NE(r.err.find("does not verify (IP address mismatch)"), std::string::npos) << r.describe();
  EXPECT_NE(other.snapshot("user.alice").error, "");
}

TEST_F(SyncTls, ClientWithoutTlsIsRefusedWithAReason) {
  Instance replica(tls_replica(certs_));
  ASSERT_EQ(replica.start(), "");
  // A client that does not speak TLS: the banner offers STARTTLS and no
  // PLAIN; PLAIN anyway is refused, saying why.
  auto fd = net::connect_to("127.0.0.1", static_cast<uint16_t>(replica.port("csync")),
                            std::chrono::seconds(5));
  ASSERT_TRUE(fd.ok()) << fd.status().to_string();
  net::Stream s(*fd);
  s.set_timeout(std::chrono::seconds(10));
  std::string banner;
  for (;;) {
    auto line = s.read_line(1000);
    ASSERT_TRUE(line.ok()) << line.status().to_string();
    banner += *line + "\n";
    if (line->starts_with("* OK")) break;
  }
  EXPECT_NE(banner.find("* STARTTLS\n"), std::string::npos) << banner;
  EXPECT_EQ(banner.find("PLAIN"), std::string::npos) << banner;
  // "\0admin\0adminpw"
  ASSERT_TRUE(s.write_flush("AUTHENTICATE PLAIN AGFkbWluAGFkbWlucHc=\r\n"));
  auto reply = s.read_line(1000);
  ASSERT_TRUE(reply.ok()) << reply.status().to_string();
  EXPECT_EQ(*reply,
            "NO Encryption needed to use mechanism PLAIN: STARTTLS first (allowplaintext: no)");
  ::close(*fd);

  // Our sync_client towards a replica that refuses cleartext and has no
  // TLS at all: one line saying what to change.
  Instance plain_replica([] {
    Instance::Options o;
    o.services = {{"csync", "sync_server"}};
    o.imapd_extra = {"allowplaintext: no"};
    return o;
  }());
  ASSERT_EQ(plain_replica.start(), "");
  Instance from(primary({"tls_server_ca_file: " + certs_.ca}));
  ASSERT_EQ(from.start(), "");
  ASSERT_TRUE(from.tool("cyr_mbox", {"create", "user.alice"}).ok());
  auto r = sync_user(from, "127.0.0.1:" + std::to_string(plain_replica.port("csync")), "alice");
  EXPECT_FALSE(r.ok()) << r.describe();
  EXPECT_NE(r.err.find("offers no SASL PLAIN (offered: none) and no STARTTLS"), std::string::npos)
      << r.describe();
}

// sync_host's /tls (Cyrus's meaning: TLS from the first byte) against a
// sync_server -s.
TEST_F(SyncTls, SlashTlsStartsTlsAtOnce) {
  Instance replica(tls_replica(certs_, "sync_server -s"));
  ASSERT_EQ(replica.start(), "");
  Instance from(
      primary({"tls_server_ca_file: " + certs_.ca,
               "sync_host: 127.0.0.1:" + std::to_string(replica.port("csync")) + "/tls"}));
  ASSERT_EQ(from.start(), "");
  ASSERT_TRUE(from.tool("cyr_mbox", {"create", "user.alice"}).ok());
  ASSERT_EQ(deliver(from, "alice", 4, "t"), "");
  auto r = from.tool("sync_client", {"-v", "-u", "alice"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_NE((r.out + r.err).find("TLS with 127.0.0.1"), std::string::npos) << r.describe();
  EXPECT_SAME_DIGEST(from, replica);
}

}  // namespace
}  // namespace replimail::testing
