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
#include "net/session_loop.h"
#include "pop3/session.h"
#include "pop3/store_backend.h"
#include "service/login_guard.h"
#include "service/startup.h"
#include "store/instance.h"

namespace {

using namespace replimail;

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
    bool secure = implicit_tls || conn.is_unix;
    std::unique_ptr<net::SaslServer> sasl =
        net::sasl_server_for_connection(config, conn.in_fd, "pop", secure);

    pop3::SessionOptions opts;
    opts.servername = servername;
    opts.tls_available = tls != nullptr;
    opts.secure = secure;
    opts.allow_plaintext = config.get_bool("allowplaintext");
    opts.login = &login;
    opts.sasl_after_tls = [&] {
      sasl = net::sasl_server_for_connection(config, conn.in_fd, "pop", true);
      return sasl.get();
    };
    pop3::StoreBackend backend(instance);
    pop3::Session session(backend, sasl.get(), opts);
    spdlog::info("pop3d: connection from {}{}", conn.peer, implicit_tls ? " (TLS)" : "");

    net::SessionLoopOptions loop;
    loop.name = "pop3d";
    loop.tls = tls;
    loop.implicit_tls = implicit_tls;
    // RFC 1939 3, imapd.conf(5): an autologout timer of at least 10
    // minutes (a duration, minutes when bare).
    loop.idle_limit = std::max<std::chrono::seconds>(config.get_duration("poptimeout"),
                                                     std::chrono::minutes(10));
    loop.idle_farewell = "-ERR Autologout; idle for too long\r\n";
    net::run_session(conn, session, loop);
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
