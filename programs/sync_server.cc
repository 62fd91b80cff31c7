// sync_server: the replica's csync service (Cyrus's sync_server), run by
// master for each connection on a csync listener, or with -X on stdin/stdout.
//
//   sync_server [-C imapd.conf] [-U uses] [-T timeout] [-X] [-D] [-p ssf] [-s]
//
//   -p ssf  accepted for Cyrus compatibility (an external security layer);
//           plaintext mechanisms are then allowed.
//   -s      TLS from the first byte, for clients whose sync_host ends in
//           /tls (replimail's; Cyrus 3.6's sync_server has only STARTTLS).
// With tls_server_cert/tls_server_key set, STARTTLS is offered; with
// allowplaintext: no (the default), PLAIN only after it.
// The other flags are the generic service flags (net/service.h). A client
// on a unix socket (or stdin) is pre-authenticated as an admin, as in Cyrus.
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <string>

#include "common/config.h"
#include "net/sasl.h"
#include "net/service.h"
#include "net/tls.h"
#include "service/login_guard.h"
#include "service/startup.h"
#include "store/instance.h"
#include "store/memory.h"
#include "sync/reserve.h"
#include "sync/server.h"
#include "sync/wire.h"

using namespace replimail;

int main(int argc, char** argv) {
  // Mailboxes are streamed through once: a bigger SQLite cache would only
  // make memory grow with the mailbox (issue 17).
  store::limit_database_memory(1 << 20);
  auto started = service::start(argc, argv,
                                {"sync_server",
                                 {{"-p", "ssf"}, {"-s", ""}},
                                 "AUTHENTICATE will not be offered",
                                 /*tls=*/true,
                                 "-s"});
  if (!started.ok()) return service::fail(started.status());
  const Config& config = started->config();
  store::Instance& instance = started->instance();
  instance.set_replication_writer(true);
  bool external_ssf = started->has("-p");
  bool implicit_tls = started->has("-s");
  const net::TlsContext* tls = started->tls.get();
  if (implicit_tls && tls == nullptr)
    return service::fail(Status(Code::kConfigError, "-s without tls_server_cert/tls_server_key"));
  auto timeout = config.get_duration("sync_timeout");
  if (timeout < std::chrono::seconds(3)) timeout = std::chrono::seconds(3);

  service::LoginGuard login(config, "sync_server");
  return net::serve(started->options, [&](net::Connection& conn) {
    // Staging left by a killed session (its files were reachable only
    // through it) goes before each session, as a worker serves many; live
    // sessions of sibling workers hold theirs locked (sync/reserve.h).
    auto swept = sync::sweep_staging(instance, true);
    if (!swept.ok())
      spdlog::warn("sync_server: staging sweep: {}", swept.status().to_string());
    else if (!swept->empty())
      spdlog::info("sync_server: removed {} stale staging director{}", swept->size(),
                   swept->size() == 1 ? "y" : "ies");
    net::Stream stream(conn.in_fd, conn.out_fd);
    stream.set_timeout(std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
    if (implicit_tls) {
      Status st = stream.start_tls_server(*tls, sync::tls_handshake_timeout(stream));
      if (!st) {
        spdlog::info("sync_server {}: {}", conn.peer, st.to_string());
        return;
      }
    }
    std::unique_ptr<net::SaslServer> sasl =
        net::sasl_server_for_connection(config, conn.in_fd, "csync", external_ssf || implicit_tls);
    sync::ServerOptions opts;
    opts.tls = implicit_tls ? nullptr : tls;
    opts.sasl_after_tls = [&config, &conn] {
      return net::sasl_server_for_connection(config, conn.in_fd, "csync", true);
    };
    opts.servername = started->servername;
    opts.preauth = conn.is_unix || conn.is_stdio;
    opts.peer = conn.peer;
    opts.login = &login;
    login.begin_connection(conn.in_fd);
    spdlog::info("sync_server: connection from {}", conn.peer);
    sync::SyncServer server(instance, stream, sasl.get(), opts);
    server.run();
    login.end_connection();
  });
}
