// tls_client_certs with Cyrus 3.6's meaning (imapd.conf(5)) on every TLS
// server: "require" refuses the handshake of an IMAP client (STARTTLS and
// imaps) and of a sync_client that present no certificate and serves those
// whose certificate the CA in tls_client_ca_file signed; "optional" (the
// default) asks and serves a client without one; "off" does not ask;
// "require" without tls_client_ca_* offers no TLS at all. Certificates are
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

// imapd (STARTTLS and imaps) and sync_server with `certs`' server
// certificate, allowing no plaintext login before TLS, asking clients for
// certificates as `mode` says.
Instance::Options tls_server(const TestCerts& certs, const std::string& mode,
                             bool with_ca = true) {
  Instance::Options o;
  o.users = {{"admin", "adminpw"}, {"alice", "alicepw"}};
  o.services = {{"imap", "imapd"}, {"imaps", "imapd -s"}, {"csync", "sync_server"}};
  o.imapd_extra = {"failedloginpause: 0", "allowplaintext: no",
                   "tls_server_cert: " + certs.server_cert, "tls_server_key: " + certs.server_key,
                   "tls_client_certs: " + mode};
  if (with_ca) o.imapd_extra.push_back("tls_client_ca_file: " + certs.ca);
  return o;
}

// A primary trusting the CA, presenting its client certificate if `cert`.
Instance::Options primary(const TestCerts& certs, bool cert) {
  Instance::Options o;
  o.imapd_extra = {"sync_authname: admin", "sync_password: adminpw",
                   "tls_server_ca_file: " + certs.ca};
  if (cert) {
    o.imapd_extra.push_back("tls_client_cert: " + certs.client_cert);
    o.imapd_extra.push_back("tls_client_key: " + certs.client_key);
  }
  return o;
}

// The two IMAP logins of py/tls_client_cert.py: "accepted starttls" or
// "refused starttls: why", then the same for imaps.
std::vector<std::string> imap_logins(const Instance& server, const TestCerts& certs, bool cert) {
  std::vector<std::string> args = {"--port", std::to_string(server.port("imap")), "--tls-port",
                                   std::to_string(server.port("imaps")), "--ca", certs.ca};
  if (cert) args.insert(args.end(), {"--cert", certs.client_cert, "--key", certs.client_key});
  auto r = server.python("tls_client_cert.py", args);
  EXPECT_TRUE(r.ok()) << r.describe();
  return lines_of(r.out);
}

bool starts(const std::vector<std::string>& lines, size_t i, const std::string& prefix) {
  return i < lines.size() && lines[i].starts_with(prefix);
}

// A primary trusting the CA with `user`'s INBOX and Sent.
void make_user(const Instance& primary, const std::string& user) {
  for (const std::string& m : {"user." + user, "user." + user + ".Sent"}) {
    auto r = primary.tool("cyr_mbox", {"create", m});
    ASSERT_TRUE(r.ok()) << r.describe();
  }
}

class TlsClientCerts : public TestWithCerts {};

TEST_F(TlsClientCerts, RequireRefusesEveryClientWithoutACertificate) {
  Instance server(tls_server(certs_, "require"));
  ASSERT_EQ(server.start(), "");

  // Replication: a primary without a client certificate gets nothing
  // across (no login, no mailbox); one with it replicates.
  Instance bare(primary(certs_, false));
  ASSERT_EQ(bare.start(), "");
  ASSERT_NO_FATAL_FAILURE(make_user(bare, "alice"));
  auto refused = sync_user(bare, server, "alice");
  EXPECT_FALSE(refused.ok()) << refused.describe();
  EXPECT_NE(server.snapshot("user.alice").error, "");
  EXPECT_EQ(server.master_log().find("login admin"), std::string::npos) << server.master_log();

  Instance signed_(primary(certs_, true));
  ASSERT_EQ(signed_.start(), "");
  ASSERT_NO_FATAL_FAILURE(make_user(signed_, "alice"));
  auto r = sync_user(signed_, server, "alice");
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_SAME_DIGEST(signed_, server);
  EXPECT_NE(server.master_log().find("peer certificate CN=replimail-primary"), std::string::npos)
      << server.master_log();

  // IMAP, STARTTLS and imaps alike.
  auto without = imap_logins(server, certs_, false);
  EXPECT_TRUE(starts(without, 0, "refused starttls: ")) << ::testing::PrintToString(without);
  EXPECT_TRUE(starts(without, 1, "refused imaps: ")) << ::testing::PrintToString(without);
  auto with = imap_logins(server, certs_, true);
  EXPECT_TRUE(starts(with, 0, "accepted starttls")) << ::testing::PrintToString(with);
  EXPECT_TRUE(starts(with, 1, "accepted imaps")) << ::testing::PrintToString(with);
}

TEST_F(TlsClientCerts, OptionalServesClientsWithoutOneAndOffNeverAsks) {
  Instance optional(tls_server(certs_, "optional"));
  ASSERT_EQ(optional.start(), "");
  Instance bare(primary(certs_, false));
  ASSERT_EQ(bare.start(), "");
  ASSERT_NO_FATAL_FAILURE(make_user(bare, "alice"));
  auto r = sync_user(bare, optional, "alice");
  ASSERT_TRUE(r.ok()) << r.describe();
  auto lines = imap_logins(optional, certs_, false);
  EXPECT_TRUE(starts(lines, 0, "accepted starttls")) << ::testing::PrintToString(lines);
  EXPECT_TRUE(starts(lines, 1, "accepted imaps")) << ::testing::PrintToString(lines);
  EXPECT_EQ(optional.master_log().find("peer certificate"), std::string::npos)
      << optional.master_log();

  // "off": a client holding a certificate is not asked for it.
  Instance off(tls_server(certs_, "off"));
  ASSERT_EQ(off.start(), "");
  Instance signed_(primary(certs_, true));
  ASSERT_EQ(signed_.start(), "");
  ASSERT_NO_FATAL_FAILURE(make_user(signed_, "bob"));
  r = sync_user(signed_, off, "bob");
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_NE(off.master_log().find("sync_server"), std::string::npos) << off.master_log();
  EXPECT_EQ(off.master_log().find("peer certificate"), std::string::npos) << off.master_log();
  // The same client under "optional" is asked and sends it.
  r = sync_user(signed_, optional, "bob");
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_NE(optional.master_log().find("peer certificate CN=replimail-primary"),
            std::string::npos)
      << optional.master_log();
}

TEST_F(TlsClientCerts, RequireWithoutACaOrABadValueOffersNoTls) {
  for (const auto& [mode, with_ca, why] :
       std::vector<std::tuple<std::string, bool, std::string>>{
           {"require", false, "tls_client_certs: require needs tls_client_ca_file"},
           {"sometimes", true, "tls_client_certs: 'sometimes' is not off, optional or require"}}) {
    Instance server(tls_server(certs_, mode, with_ca));
    ASSERT_EQ(server.start(), "");
    auto fd = net::connect_to("127.0.0.1", static_cast<uint16_t>(server.port("imap")),
                              std::chrono::seconds(5));
    ASSERT_TRUE(fd.ok()) << fd.status().to_string();
    net::Stream s(*fd);
    s.set_timeout(std::chrono::seconds(10));
    ASSERT_TRUE(s.write_flush("a CAPABILITY\r\n"));
    std::string reply;
    for (;;) {
      auto line = s.read_line(10000);
      ASSERT_TRUE(line.ok()) << line.status().to_string() << reply;
      reply += *line + "\n";
      if (line->starts_with("a ")) break;
    }
    ::close(*fd);
    EXPECT_NE(reply.find("a OK"), std::string::npos) << reply;
    EXPECT_EQ(reply.find("STARTTLS"), std::string::npos) << mode << "\n" << reply;
    EXPECT_NE(server.master_log().find(why), std::string::npos) << server.master_log();
  }
}

}  // namespace
}  // namespace replimail::testing
