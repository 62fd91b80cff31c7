// lmtpproxyd: LMTP routing for the cluster (issue 19, docs/CLUSTER.md; Cyrus
// murder's lmtpproxyd idea). An LMTP service the MTA delivers to as to
// lmtpd; each recipient goes to the lmtpd of the user's primary slot, read
// from the cluster directory in etcd (lmtp/proxy_backend.h says when each
// reply is given). Run by master for each connection on its listener:
//
//   lmtpproxy cmd="lmtpproxyd -a" listen="127.0.0.1:2003"
//
//   lmtpproxyd [-C imapd.conf] [-U uses] [-T timeout] [-X] [-D] [-a]
//
//   -a  pre-authorise every connection (a trusted local listener), as lmtpd's
//       -a; without it a TCP client must AUTH before MAIL.
// imapd.conf: cluster_etcd_endpoints (required), cluster_etcd_prefix,
// lmtp_downcase_rcpt, maxmessagesize, client_timeout (connecting to a slot,
// Cyrus's 10 s by default), and SASL's options for AUTH. It keeps no mail:
// no store is opened.
// The message is spooled under <configdirectory>/proxy while DATA lasts.
#include <sys/stat.h>

#include <chrono>
#include <string>

#include "cluster/directory.h"
#include "cluster/etcd_client.h"
#include "cluster/lmtp_route.h"
#include "cluster/registration.h"
#include "common/config.h"
#include "common/log.h"
#include "lmtp/proxy_backend.h"
#include "lmtp/session.h"
#include "net/sasl.h"
#include "net/received_from.h"
#include "net/service.h"
#include "net/session_loop.h"
#include "service/login_guard.h"
#include "service/startup.h"

namespace {

using namespace replimail;

constexpr std::chrono::seconds kClientTimeout{300};

class DirectoryRouter : public lmtp::Router {
 public:
  explicit DirectoryRouter(cluster::Directory& directory) : directory_(directory) {}
  Result<lmtp::Route> route(std::string_view userid) override {
    auto read = directory_.user_route(userid);
    auto target = cluster::decide_lmtp_target(userid, read.move, read.primary);
    if (!target.ok()) return target.status();
    return lmtp::Route{target->slot, target->host, static_cast<uint16_t>(target->port)};
  }

 private:
  cluster::Directory& directory_;
};

struct Proxy {
  const Config& config;
  cluster::Directory& directory;
  bool preauth_flag;
  std::string servername;
  std::string spool_dir;
  service::LoginGuard& login;
  // For the life of the process (master reuses it for further connections).
  lmtp::UnreachableSlots& unreachable;

  void serve(net::Connection& conn) {
    login.begin_connection(conn.in_fd);
    std::string remote = net::sasl_ip_port(conn.in_fd, false);
    bool trusted = preauth_flag || remote.empty();
    std::unique_ptr<net::SaslServer> sasl =
        net::sasl_server_for_connection(config, conn.in_fd, "lmtp");

    lmtp::SessionOptions opts;
    opts.servername = servername;
    int64_t max = config.get_int("maxmessagesize");
    opts.max_message_size = max > 0 ? static_cast<uint64_t>(max) : 0;
    opts.preauth = trusted;
    opts.client_host = net::received_from(remote, conn);
    opts.login = &login;

    DirectoryRouter router(directory);
    lmtp::ProxyOptions popts;
    popts.servername = servername;
    popts.spool_dir = spool_dir;
    popts.downcase_rcpt = config.get_bool("lmtp_downcase_rcpt");
    popts.connect_timeout = config.get_duration("client_timeout");
    popts.unreachable = &unreachable;
    lmtp::ProxyBackend backend(router, popts);
    lmtp::Session session(backend, sasl.get(), opts);
    spdlog::info("lmtpproxyd: connection from {}{}", conn.peer, trusted ? " (trusted)" : "");

    net::SessionLoopOptions loop;
    loop.name = "lmtpproxyd";
    loop.write_timeout = kClientTimeout;
    loop.idle_limit = kClientTimeout;
    loop.idle_farewell = "421 4.4.2 " + servername + " Connection timed out\r\n";
    loop.batch_replies = true;
    net::run_session(conn, session, loop);
    login.end_connection();
  }
};

}  // namespace

int main(int argc, char** argv) {
  auto started = service::start(argc, argv,
                                {"lmtpproxyd", {{"-a", ""}}, "AUTH will not be offered",
                                 /*tls=*/false, "", /*open_store=*/false});
  if (!started.ok()) return service::fail(started.status());
  const Config& config = started->config();
  auto options = cluster::cluster_options(config, /*need_slot=*/false);
  if (!options.ok()) return service::fail(Status(Code::kConfigError, options.status().message()));
  auto layout = cluster::KeyLayout::make(options->prefix);
  if (!layout.ok()) return service::fail(Status(Code::kConfigError, layout.status().message()));
  const std::string spool_dir = config.get("configdirectory") + "/proxy";
  if (mkdir(spool_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return service::fail(errno_status("mkdir", spool_dir));
  }
  cluster::EtcdClient etcd(options->etcd);
  cluster::Directory directory(etcd, *layout);
  service::LoginGuard login(config, "lmtpproxyd");
  lmtp::UnreachableSlots unreachable;
  Proxy proxy{config,   directory, started->has("-a"), started->servername, spool_dir,
              login,    unreachable};
  return net::serve(started->options, [&proxy](net::Connection& conn) { proxy.serve(conn); });
}
