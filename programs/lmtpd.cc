// lmtpd: the LMTP delivery service (Cyrus's lmtpd), run by master for each
// connection on an lmtp listener, or with -X on stdin/stdout.
//
//   lmtpd [-C imapd.conf] [-U uses] [-T timeout] [-X] [-D] [-a]
//
//   -a  pre-authorise every connection (a trusted local listener), as in
//       Cyrus. Without it a TCP client must AUTH before MAIL; a unix-socket
//       (or pipe) client is trusted.
// The other flags are the generic service flags (net/service.h).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "common/config.h"
#include "common/log.h"
#include "lmtp/session.h"
#include "lmtp/store_backend.h"
#include "net/sasl.h"
#include "net/received_from.h"
#include "net/service.h"
#include "net/session_loop.h"
#include "service/login_guard.h"
#include "service/startup.h"
#include "store/check.h"
#include "store/instance.h"

namespace {

using namespace replimail;

// How long a client may stay silent (RFC 5321 4.5.3.2 suggests minutes).
constexpr std::chrono::seconds kClientTimeout{300};

struct Lmtpd {
  const Config& config;
  store::Instance& instance;
  bool preauth_flag;
  std::string servername;
  service::LoginGuard& login;

  void serve(net::Connection& conn) {
    login.begin_connection(conn.in_fd);
    serve_connection(conn);
    login.end_connection();
  }

  void serve_connection(net::Connection& conn) {
    std::string remote = net::sasl_ip_port(conn.in_fd, false);
    // Only a TCP client (one with an IP address) must authenticate.
    bool trusted = preauth_flag || remote.empty();

    std::unique_ptr<net::SaslServer> sasl =
        net::sasl_server_for_connection(config, conn.in_fd, "lmtp");

    lmtp::SessionOptions opts;
    opts.servername = servername;
    int64_t max = config.get_int("maxmessagesize");
    opts.max_message_size = max > 0 ? static_cast<uint64_t>(max) : 0;
    opts.preauth = trusted;
    opts.over_quota_perm_failure = config.get_bool("lmtp_over_quota_perm_failure");
    opts.client_host = net::received_from(remote, conn);
    opts.login = &login;

    lmtp::StoreBackend backend(instance);
    lmtp::Session session(backend, sasl.get(), opts);
    spdlog::info("lmtpd: connection from {}{}", conn.peer, trusted ? " (trusted)" : "");

    net::SessionLoopOptions loop;
    loop.name = "lmtpd";
    loop.write_timeout = kClientTimeout;
    loop.idle_limit = kClientTimeout;
    loop.idle_farewell = "421 4.4.2 " + servername + " Connection timed out\r\n";
    // With pipelined input waiting, replies are batched (RFC 2920).
    loop.batch_replies = true;
    net::run_session(conn, session, loop);
  }
};

}  // namespace

int main(int argc, char** argv) {
  auto started = service::start(
      argc, argv, {"lmtpd", {{"-a", ""}}, "AUTH will not be offered", /*tls=*/false, ""});
  if (!started.ok()) return service::fail(started.status());
  store::Instance& instance = started->instance();
  // A worker killed mid-DATA leaves its staging file behind; the next worker
  // to start removes it (files of live writers are kept).
  auto stale = store::check_staging(instance, true);
  if (!stale.ok()) {
    spdlog::warn("staging check: {}", stale.status().to_string());
  } else {
    for (const auto& p : *stale) spdlog::info("removed stale staging file {}", p.detail);
  }
  service::LoginGuard login(started->config(), "lmtpd");
  Lmtpd lmtpd{started->config(), instance, started->has("-a"), started->servername, login};
  return net::serve(started->options, [&lmtpd](net::Connection& conn) { lmtpd.serve(conn); });
}
