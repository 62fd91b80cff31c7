// sync_server: the replica's csync service (Cyrus's sync_server), run by
// master for each connection on a csync listener, or with -X on stdin/stdout.
//
//   sync_server [-C imapd.conf] [-U uses] [-T timeout] [-X] [-D] [-p ssf]
//
//   -p ssf  accepted for Cyrus compatibility (an external security layer);
//           plaintext mechanisms are then allowed.
// The other flags are the generic service flags (net/service.h). A client
// on a unix socket (or stdin) is pre-authenticated as an admin, as in Cyrus.
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>

#include "common/config.h"
#include "common/log.h"
#include "net/sasl.h"
#include "net/service.h"
#include "store/instance.h"
#include "store/startup.h"
#include "sync/server.h"
#include "sync/transport.h"

namespace {

using namespace replimail;

constexpr int kExitUsage = 64;   // EX_USAGE
constexpr int kExitConfig = 78;  // EX_CONFIG

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  init_logging("sync_server");
  auto options = net::parse_service_options(argc, argv);
  if (!options.ok()) {
    spdlog::error("{}", options.status().message());
    return kExitUsage;
  }
  bool external_ssf = false;
  for (size_t i = 1; i < options->args.size(); ++i) {
    if (options->args[i] == "-p" && i + 1 < options->args.size()) {
      external_ssf = true;
      ++i;
    } else {
      spdlog::error(
          "unknown option {}; usage: sync_server [-C imapd.conf] [-U uses] "
          "[-T timeout] [-X] [-D] [-p ssf]",
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
  if (!s.is_ok()) spdlog::error("SASL: {}; AUTHENTICATE will not be offered", s.to_string());
  std::string servername = config->get("servername");
  if (servername.empty()) servername = host_name();
  auto timeout = config->get_duration("sync_timeout");
  if (timeout < std::chrono::seconds(3)) timeout = std::chrono::seconds(3);

  return net::serve(*options, [&](net::Connection& conn) {
    std::unique_ptr<net::SaslServer> sasl =
        net::sasl_server_for_connection(*config, conn.in_fd, "csync", external_ssf);
    sync::Transport transport(conn.in_fd, conn.out_fd);
    transport.set_timeout(std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
    sync::ServerOptions opts;
    opts.servername = servername;
    opts.preauth = conn.is_unix || conn.is_stdio;
    opts.peer = conn.peer;
    spdlog::info("sync_server: connection from {}", conn.peer);
    sync::SyncServer server(*instance, transport, sasl.get(), opts);
    server.run();
  });
}
