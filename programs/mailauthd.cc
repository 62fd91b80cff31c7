// mailauthd: the auth_http service of nginx's mail proxy (issue 19,
// docs/CLUSTER.md): checks a login's password as imapd does (libsasl2,
// imapd.conf's sasl_* options) and answers the user's primary slot from
// the cluster directory in etcd.
//
//   mailauthd [-C imapd.conf] -l [host:]port [-v]
//
// Run by master as a DAEMON entry (cyrus.conf:
//   mailauthd cmd="mailauthd -l 127.0.0.1:9110"); stays in the foreground.
// nginx: `auth_http 127.0.0.1:9110/auth;` in its mail block. Every GET is
// an auth_http request, whatever the path (cluster/auth_http.h). Listen on
// loopback or an address only nginx reaches: the requests carry passwords.
// SIGTERM or SIGINT: exit 0. Exit 64 on a usage error, 78 on a
// configuration error, 71 if it cannot listen, 70 on an internal error.
#include <httplib.h>
#include <signal.h>
#include <sysexits.h>

#include <cstdio>
#include <exception>
#include <string>
#include <thread>

#include "cluster/auth_http.h"
#include "cluster/directory.h"
#include "cluster/registration.h"
#include "common/config.h"
#include "common/log.h"
#include "common/program_config.h"
#include "net/sasl.h"
#include "net/socket.h"

using namespace replimail;

namespace {

class Backend : public cluster::AuthBackend {
 public:
  Backend(cluster::SaslPasswordCheck& password, cluster::Directory& directory)
      : password_(password), directory_(directory) {}
  Result<std::string> check_password(const cluster::AuthRequest& req) override {
    return password_.check(req);
  }
  Result<std::optional<cluster::MoveRecord>> move(std::string_view user) override {
    return directory_.move(user);
  }
  Result<cluster::SlotInfo> route(std::string_view user) override { return directory_.route(user); }
  Result<std::string> address_of(const std::string& host) override {
    return cluster::resolve_host(host);
  }

 private:
  cluster::SaslPasswordCheck& password_;
  cluster::Directory& directory_;
};

// SIGTERM and SIGINT stop `server`: one thread takes them (sigwait), so
// cpp-httplib's threads never run a handler.
void stop_on_signals(httplib::Server& server) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread signals([&server, set] {
    int sig = 0;
    sigwait(&set, &sig);
    spdlog::info("mailauthd: signal {}: stopping", sig);
    server.stop();
  });
  signals.detach();
}

// Answers every GET, whatever the path, as an auth_http request, until
// `server` is stopped.
void serve(httplib::Server& server, cluster::AuthBackend& backend,
           const cluster::AuthPolicy& policy) {
  server.Get(".*", [&](const httplib::Request& req, httplib::Response& res) {
    auto parsed = cluster::parse_auth_request(
        [&](std::string_view name) { return req.get_header_value(std::string(name)); });
    cluster::AuthAnswer answer = parsed.ok() ? cluster::decide_auth(*parsed, backend, policy)
                                             : cluster::malformed_auth_request(parsed.status());
    spdlog::info("auth_http: {}", answer.log);
    for (const auto& [k, v] : answer.headers) res.set_header(k, v);
    res.status = 200;
  });
  server.listen_after_bind();
}

// Binds `server` to host:port (port 0: any free one); the port, or -1.
int bind_server(httplib::Server& server, const std::string& host, int port) {
  if (port == 0) return server.bind_to_any_port(host);
  return server.bind_to_port(host, port) ? port : -1;
}

}  // namespace

static int run(int argc, char** argv) {
  auto flags = parse_daemon_flags(argc, argv, 'l', "", /*required=*/true,
                                  "usage: mailauthd [-C imapd.conf] -l [host:]port [-v]\n");
  if (!flags) return EX_USAGE;
  const std::string& conf = flags->conf;
  const std::string& listen = flags->value;
  auto config = load_program_config("mailauthd", conf, flags->verbose);
  if (!config.ok()) return EX_CONFIG;
  auto options = cluster::cluster_options(*config, /*need_slot=*/false);
  if (!options.ok()) {
    spdlog::error("{}: {}", conf, options.status().message());
    return EX_CONFIG;
  }
  auto address = net::parse_listen(listen);
  if (!address.ok() || address->kind != net::ListenAddress::Kind::kInet) {
    spdlog::error("-l {}: want [host:]port", listen);
    return EX_USAGE;
  }
  if (Status s = net::sasl_init(*config); !s.is_ok()) {
    spdlog::error("SASL: {}", s.to_string());
    return EX_CONFIG;
  }
  cluster::EtcdClient etcd(options->etcd);
  cluster::Directory directory(etcd, cluster::KeyLayout::make(options->prefix).value());
  cluster::SaslPasswordCheck password(*config);
  Backend backend(password, directory);
  cluster::AuthPolicy policy;
  policy.failed_pause = config->get_duration("failedloginpause");

  httplib::Server server;
  std::string host = address->host.empty() ? "0.0.0.0" : address->host;
  int port = bind_server(server, host, address->port);
  if (port <= 0) {
    spdlog::error("cannot listen on {}", listen);
    return EX_OSERR;
  }
  stop_on_signals(server);
  spdlog::info("mailauthd: auth_http on {}:{}, directory {} at {}", host, port, options->prefix,
               options->endpoints);
  serve(server, backend, policy);
  return 0;
}

// What the libraries throw (std::bad_alloc, std::system_error from a thread
// that cannot start, cpp-httplib's std::regex_error) ends the program with
// a message instead of std::terminate.
int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mailauthd: %s\n", e.what());
    return EX_SOFTWARE;
  }
}
