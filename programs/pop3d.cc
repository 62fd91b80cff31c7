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
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>

#include "common/config.h"
#include "common/log.h"
#include "net/sasl.h"
#include "net/service.h"
#include "net/tls.h"
#include "pop3/session.h"
#include "pop3/store_backend.h"
#include "store/instance.h"
#include "store/startup.h"

namespace {

using namespace replimail;

constexpr int kExitUsage = 64;   // EX_USAGE
constexpr int kExitConfig = 78;  // EX_CONFIG
// RFC 1939 3: an autologout timer of at least 10 minutes.
constexpr std::chrono::seconds kClientTimeout{600};
constexpr std::chrono::seconds kHandshakeTimeout{60};

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

struct Pop3d {
  const Config& config;
  store::Instance& instance;
  const net::TlsContext* tls;  // null without a certificate
  bool implicit_tls;
  std::string servername;

  void serve(net::Connection& conn) {
    net::Transport transport(conn.in_fd, conn.out_fd);
    if (implicit_tls) {
      if (!tls) {
        spdlog::error("pop3d: -s without tls_server_cert/tls_server_key");
        return;
      }
      Status st = transport.start_tls(*tls, kHandshakeTimeout);
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
    pop3::StoreBackend backend(instance);
    pop3::Session session(backend, sasl.get(), opts);
    spdlog::info("pop3d: connection from {}{}", conn.peer, implicit_tls ? " (TLS)" : "");

    while (true) {
      std::string out = session.take_output();
      if (!out.empty()) {
        Status w = transport.write(out);
        if (!w.is_ok()) {
          spdlog::info("pop3d: {}: write failed: {}", conn.peer, w.to_string());
          return;
        }
      }
      if (session.closed()) break;
      if (session.starttls_requested()) {
        Status st = transport.start_tls(*tls, kHandshakeTimeout);
        if (!st.is_ok()) {
          spdlog::info("pop3d: {}: {}", conn.peer, st.to_string());
          return;
        }
        sasl = net::sasl_server_for_connection(config, conn.in_fd, "pop", true);
        session.tls_started(sasl.get());
        continue;
      }
      bool timed_out = false;
      auto data = transport.read(kClientTimeout, &timed_out);
      if (!data.ok()) break;
      if (timed_out) {
        (void)transport.write("-ERR Autologout; idle for too long\r\n");
        break;
      }
      session.feed(*data);
    }
    if (!session.user().empty()) spdlog::info("pop3d: {} logged out", session.user());
  }
};

}  // namespace

int main(int argc, char** argv) {
  init_logging("pop3d");
  auto options = net::parse_service_options(argc, argv);
  if (!options.ok()) {
    spdlog::error("{}", options.status().message());
    return kExitUsage;
  }
  bool implicit_tls = false;
  for (size_t i = 1; i < options->args.size(); ++i) {
    if (options->args[i] == "-s") {
      implicit_tls = true;
    } else {
      spdlog::error(
          "unknown option {}; usage: pop3d [-C imapd.conf] [-U uses] [-T timeout] [-X] [-D] "
          "[-s]",
          options->args[i]);
      return kExitUsage;
    }
  }
  auto configured = store::open_configured(options->config_path);
  if (!configured.ok()) {
    spdlog::error("{}", configured.status().to_string());
    return kExitConfig;
  }
  const Config* config = &configured->config;
  store::Instance* instance = configured->instance.get();
  Status s = net::sasl_init(*config, "replimail");
  if (!s.is_ok()) spdlog::error("SASL: {}; nobody can log in", s.to_string());
  std::unique_ptr<net::TlsContext> tls;
  if (!config->get("tls_server_cert").empty()) {
    auto ctx = net::TlsContext::create(*config);
    if (!ctx.ok()) {
      spdlog::error("{}", ctx.status().to_string());
      if (implicit_tls) return kExitConfig;
    } else {
      tls = std::move(ctx).value();
    }
  }
  std::string servername = config->get("servername");
  if (servername.empty()) servername = host_name();
  Pop3d pop3d{*config, *instance, tls.get(), implicit_tls, servername};
  return net::serve(*options, [&pop3d](net::Connection& conn) { pop3d.serve(conn); });
}
