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
#include <unistd.h>

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

constexpr int kExitOsErr = 71;

void usage() { std::fprintf(stderr, "usage: mailauthd [-C imapd.conf] -l [host:]port [-v]\n"); }

class Backend : public cluster::AuthBackend {
 public:
  Backend(cluster::SaslPasswordCheck& password, cluster::Directory& directory)
      : password_(password), directory_(directory) {}
  Result<std::string> check_password(const cluster::AuthRequest& req) override {
    return password_.check(req);
  }
  Result<cluster::SlotInfo> route(std::string_view user) override { return directory_.route(user); }
  Result<std::string> address_of(const std::string& host) override {
    return cluster::resolve_host(host);
  }

 private:
  cluster::SaslPasswordCheck& password_;
  cluster::Directory& directory_;
};

}  // namespace

static int run(int argc, char** argv) {
  std::string conf = "/etc/imapd.conf";
  std::string listen;
  bool verbose = false;
  int c;
  while ((c = ::getopt(argc, argv, "C:l:v")) != -1) {
    switch (c) {
      case 'C':
        conf = optarg;
        break;
      case 'l':
        listen = optarg;
        break;
      case 'v':
        verbose = true;
        break;
      default:
        usage();
        return EX_USAGE;
    }
  }
  if (optind != argc || listen.empty()) {
    usage();
    return EX_USAGE;
  }
  auto config = load_program_config("mailauthd", conf, verbose);
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
  cluster::EtcdClient etcd(cluster::parse_endpoints(options->endpoints).value());
  cluster::Directory directory(etcd, cluster::KeyLayout::make(options->prefix).value());
  cluster::SaslPasswordCheck password(*config);
  Backend backend(password, directory);
  cluster::AuthPolicy policy;
  policy.failed_pause = config->get_duration("failedloginpause");

  httplib::Server server;
  server.Get(".*", [&](const httplib::Request& req, httplib::Response& res) {
    auto parsed = cluster::parse_auth_request(
        [&](std::string_view name) { return req.get_header_value(std::string(name)); });
    cluster::AuthAnswer answer = parsed.ok() ? cluster::decide_auth(*parsed, backend, policy)
                                             : cluster::malformed_auth_request(parsed.status());
    spdlog::info("auth_http: {}", answer.log);
    for (const auto& [k, v] : answer.headers) res.set_header(k, v);
    res.status = 200;
  });
  std::string host = address->host.empty() ? "0.0.0.0" : address->host;
  int port = address->port;
  if (port == 0) {
    port = server.bind_to_any_port(host);
  } else if (!server.bind_to_port(host, port)) {
    port = -1;
  }
  if (port <= 0) {
    spdlog::error("cannot listen on {}", listen);
    return kExitOsErr;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread signals([&] {
    int sig = 0;
    sigwait(&set, &sig);
    spdlog::info("mailauthd: signal {}: stopping", sig);
    server.stop();
  });
  signals.detach();
  spdlog::info("mailauthd: auth_http on {}:{}, directory {} at {}", host, port, options->prefix,
               options->endpoints);
  server.listen_after_bind();
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
