// imapd: the IMAP service (Cyrus's imapd), run by master for each connection
// on an imap listener, or with -X on stdin/stdout.
//
//   imapd [-C imapd.conf] [-U uses] [-T timeout] [-X] [-D] [-s]
//
//   -s  implicit TLS (the imaps listener), as in Cyrus: the TLS handshake
//       starts at once, before the greeting.
// The other flags are the generic service flags (net/service.h).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>

#include "common/config.h"
#include "imap/session.h"
#include "net/sasl.h"
#include "net/service.h"
#include "net/session_loop.h"
#include "service/login_guard.h"
#include "service/startup.h"
#include "store/instance.h"

namespace {

using namespace replimail;

// How often an idle connection is polled: IDLE sees other sessions'
// changes within this delay.
constexpr std::chrono::milliseconds kTick{500};

struct Imapd {
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
    auto sasl_factory = [&](bool secure) {
      return net::sasl_server_for_connection(config, conn.in_fd, "imap", secure);
    };
    imap::SessionOptions opts;
    opts.servername = servername;
    int64_t max = config.get_int("maxmessagesize");
    opts.max_message = max > 0 ? static_cast<uint64_t>(max) : imap::kUnlimitedMessage;
    // As Cyrus: 0 (or less) is "a large internally-defined limit".
    auto bytes = [&](const char* key, uint64_t unlimited) {
      int64_t v = config.get_int(key);
      return v > 0 ? static_cast<uint64_t>(v) : unlimited;
    };
    opts.max_literal = bytes("maxliteral", imap::kMaxInternalLimit);
    opts.max_command = bytes("maxargssize", imap::kMaxInternalLimit);
    opts.parse.max_word = bytes("maxword", imap::kMaxInternalLimit);
    opts.parse.max_quoted = bytes("maxquoted", imap::kMaxInternalLimit);
    opts.tls_available = tls != nullptr;
    opts.secure = implicit_tls || conn.is_unix;
    opts.allow_plaintext = config.get_bool("allowplaintext");
    opts.ns = imap::NamespaceOptions::from_config(config);
    opts.quota_warn = {config.get_int("quotawarn"), config.get_int("quotawarnkb"),
                       config.get_int("quotawarnmsg")};
    opts.login = &login;
    imap::Session session(instance, sasl_factory, opts);
    spdlog::info("imapd: connection from {}{}", conn.peer, implicit_tls ? " (TLS)" : "");

    net::SessionLoopOptions loop;
    loop.name = "imapd";
    loop.tls = tls;
    loop.implicit_tls = implicit_tls;
    // imapd.conf(5): a duration, minutes when bare, at least 30 minutes.
    loop.idle_limit = std::max<std::chrono::seconds>(config.get_duration("timeout"),
                                                     std::chrono::minutes(30));
    loop.idle_farewell = "* BYE Autologout; idle for too long\r\n";
    loop.tick = kTick;
    net::run_session(conn, session, loop);
  }
};

}  // namespace

int main(int argc, char** argv) {
  auto started =
      service::start(argc, argv, {"imapd", {{"-s", ""}}, "logins will fail", /*tls=*/true, "-s"});
  if (!started.ok()) return service::fail(started.status());
  service::LoginGuard login(started->config(), "imapd");
  Imapd imapd{started->config(), started->instance(), started->tls.get(), started->has("-s"),
              started->servername, login};
  return net::serve(started->options, [&imapd](net::Connection& conn) { imapd.serve(conn); });
}
