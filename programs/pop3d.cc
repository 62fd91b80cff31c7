// pop3d: the POP3 service (Cyrus's pop3d), run by master for each
// connection on a pop3 listener, or with -X on stdin/stdout.
//
//   pop3d [-C imapd.conf] [-U uses] [-T timeout] [-X] [-D]
//
// The flags are the generic service flags (net/service.h). Users log in
// with USER/PASS or AUTH through libsasl2 (sasl_* options of imapd.conf);
// plaintext logins follow `allowplaintext`.
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>

#include "common/config.h"
#include "common/log.h"
#include "net/sasl.h"
#include "net/service.h"
#include "net/stream.h"
#include "pop3/session.h"
#include "pop3/store_backend.h"
#include "store/instance.h"

namespace {

using namespace replimail;

constexpr int kExitUsage = 64;   // EX_USAGE
constexpr int kExitConfig = 78;  // EX_CONFIG
// RFC 1939 3: an autologout timer of at least 10 minutes.
constexpr std::chrono::seconds kClientTimeout{600};
constexpr size_t kReadChunk = 16 * 1024;

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

struct Pop3d {
  const Config& config;
  store::Instance& instance;
  std::string servername;

  void serve(net::Connection& conn) {
    std::unique_ptr<net::SaslServer> sasl =
        net::sasl_server_for_connection(config, conn.in_fd, "pop");

    pop3::SessionOptions opts;
    opts.servername = servername;
    pop3::StoreBackend backend(instance);
    pop3::Session session(backend, sasl.get(), opts);
    net::Stream stream(conn.in_fd, conn.out_fd);
    stream.set_timeout(kClientTimeout);
    spdlog::info("pop3d: connection from {}", conn.peer);

    while (true) {
      std::string out = session.take_output();
      if (!out.empty()) {
        Status w = stream.write(out);
        if (w.is_ok() && !stream.input_pending()) w = stream.flush();
        if (!w.is_ok()) {
          spdlog::info("pop3d: {}: write failed: {}", conn.peer, w.to_string());
          return;
        }
      }
      if (session.closed()) break;
      auto data = stream.read_some(kReadChunk);
      if (!data.ok()) {
        if (stream.timed_out()) (void)stream.write_flush("-ERR Autologout; idle for too long\r\n");
        break;
      }
      session.feed(*data);
    }
    (void)stream.flush();
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
  if (options->args.size() > 1) {
    spdlog::error(
        "unknown option {}; usage: pop3d [-C imapd.conf] [-U uses] [-T timeout] [-X] [-D]",
        options->args[1]);
    return kExitUsage;
  }
  auto config = Config::load(options->config_path);
  if (!config.ok()) {
    spdlog::error("{}", config.status().to_string());
    return kExitConfig;
  }
  for (const std::string& w : config->warnings()) spdlog::warn("{}", w);
  auto instance = store::Instance::open(*config);
  if (!instance.ok()) {
    spdlog::error("cannot open the mail store: {}", instance.status().to_string());
    return kExitConfig;
  }
  Status s = net::sasl_init(*config, "replimail");
  if (!s.is_ok()) spdlog::error("SASL: {}; nobody can log in", s.to_string());
  std::string servername = config->get("servername");
  if (servername.empty()) servername = host_name();
  Pop3d pop3d{*config, **instance, servername};
  return net::serve(*options, [&pop3d](net::Connection& conn) { pop3d.serve(conn); });
}
