// pop3d: the POP3 service (Cyrus's pop3d), run by master for each
// connection on a pop3 listener, or with -X on stdin/stdout.
//
//   pop3d [-C imapd.conf] [-U uses] [-T timeout] [-X] [-D] [-s]
//
//   -s  implicit TLS (the pop3s listener), as in Cyrus: the TLS handshake
//       starts at once, before the greeting.
// The other flags are the generic service flags (net/service.h). Users log
// in with USER/PASS or AUTH through libsasl2 (sasl_* options of imapd.conf);
// plaintext logins follow `allowplaintext`. STLS (RFC 2595) is offered when
// tls_server_cert and tls_server_key are set.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>

#include "common/config.h"
#include "net/sasl.h"
#include "net/service.h"
#include "net/stream.h"
#include "net/tls.h"
#include "pop3/session.h"
#include "pop3/store_backend.h"
#include "service/login_guard.h"
#include "service/startup.h"
#include "store/instance.h"

namespace {

using namespace replimail;

// RFC 1939 3: an autologout timer of at least 10 minutes.
constexpr std::chrono::seconds kHandshakeTimeout{60};
// The longest the client may refuse our bytes.
constexpr std::chrono::seconds kWriteTimeout{60};
constexpr size_t kReadChunk = 64 * 1024;

struct Pop3d {
  const Config& config;
  store::Instance& instance;
  const net::TlsContext* tls;  // null without a certificate
  bool implicit_tls;
  std::string servername;
  service::LoginGuard& login;

  void serve(net::Connection& conn) {
    login.begin_connection(conn.in_fd);
    serve_connection(conn);
    login.end_connection();
  }

  void serve_connection(net::Connection& conn) {
    net::Stream transport(conn.in_fd, conn.out_fd);
    transport.set_timeout(kWriteTimeout);
    if (implicit_tls) {
      if (!tls) {
        spdlog::error("pop3d: -s without tls_server_cert/tls_server_key");
        return;
      }
      Status st = transport.start_tls_server(*tls, kHandshakeTimeout);
      if (!st.is_ok()) {
        spdlog::info("pop3d: {}: {}", conn.peer, st.to_string());
        return;
      }
    }
    bool secure = implicit_tls || conn.is_unix;
    std::unique_ptr<net::SaslServer> sasl =
        net::sasl_server_for_connection(config, conn.in_fd, "pop", secure);

    pop3::SessionOptions opts;
    opts.servername = servername;
    opts.tls_available = tls != nullptr;
    opts.secure = secure;
    opts.allow_plaintext = config.get_bool("allowplaintext");
    opts.login = &login;
    pop3::StoreBackend backend(instance);
    pop3::Session session(backend, sasl.get(), opts);
    spdlog::info("pop3d: connection from {}{}", conn.peer, implicit_tls ? " (TLS)" : "");
    // imapd.conf(5): a duration, minutes when bare, at least 10 minutes.
    auto autologout = std::max<std::chrono::seconds>(config.get_duration("poptimeout"),
                                                     std::chrono::minutes(10));

    while (true) {
      std::string out = session.take_output();
      if (!out.empty()) {
        Status w = transport.write_flush(out);
        if (!w.is_ok()) {
          spdlog::info("pop3d: {}: write failed: {}", conn.peer, w.to_string());
          return;
        }
      }
      if (session.closed()) break;
      if (session.starttls_requested()) {
        Status st = transport.start_tls_server(*tls, kHandshakeTimeout);
        if (!st.is_ok()) {
          spdlog::info("pop3d: {}: {}", conn.peer, st.to_string());
          return;
        }
        sasl = net::sasl_server_for_connection(config, conn.in_fd, "pop", true);
        session.tls_started(sasl.get());
        continue;
      }
      auto data = transport.read_some(kReadChunk, autologout);
      if (!data.ok()) {
        if (transport.timed_out()) (void)transport.write_flush("-ERR Autologout; idle for too long\r\n");
        break;
      }
      session.feed(*data);
    }
    if (!session.user().empty()) spdlog::info("pop3d: {} logged out", session.user());
  }
};

}  // namespace

int main(int argc, char** argv) {
  auto started =
      service::start(argc, argv, {"pop3d", {{"-s", ""}}, "nobody can log in", /*tls=*/true, "-s"});
  if (!started.ok()) return service::fail(started.status());
  service::LoginGuard login(started->config(), "pop3d");
  Pop3d pop3d{started->config(), started->instance(), started->tls.get(), started->has("-s"),
              started->servername, login};
  return net::serve(started->options, [&pop3d](net::Connection& conn) { pop3d.serve(conn); });
}
