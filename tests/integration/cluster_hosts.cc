#include "cluster_hosts.h"

#include <signal.h>
#include <unistd.h>

#include <fstream>

namespace replimail::testing {

using namespace std::chrono_literals;

namespace {

constexpr const char* kEtcd = "/usr/bin/etcd";
constexpr const char* kNginx = "/usr/sbin/nginx";
constexpr const char* kMailModule = "/usr/lib/nginx/modules/ngx_mail_module.so";

}  // namespace

std::string why_no_cluster_tools() {
  for (const char* p : {kEtcd, kNginx, kMailModule}) {
    if (access(p, R_OK) != 0) return std::string(p) + " missing (./dev installs it)";
  }
  return "";
}

void stop_by_pid(Background& b) {
  if (b.pid() > 0 && pid_alive(b.pid())) kill(b.pid(), SIGTERM);
  b.wait(10s);
}

EtcdCluster::EtcdCluster(const std::string& dir, std::vector<std::string> hosts,
                         const OnHost& on_host, Options options)
    : options_(std::move(options)) {
  std::string initial;
  for (size_t i = 0; i < hosts.size(); ++i) {
    members_.push_back({"m" + std::to_string(i), hosts[i], free_port(), free_port(), nullptr});
    initial += (i ? "," : "") + members_[i].name + "=http://" + hosts[i] + ":" +
               std::to_string(members_[i].peer);
  }
  for (size_t i = 0; i < members_.size(); ++i) {
    Member& m = members_[i];
    std::string client = scheme() + m.host + ":" + std::to_string(m.client);
    std::string peer = "http://" + m.host + ":" + std::to_string(m.peer);
    std::vector<std::string> argv = {kEtcd,
                                     "--name",
                                     m.name,
                                     "--data-dir",
                                     dir + "/" + m.name,
                                     "--listen-client-urls",
                                     client,
                                     "--advertise-client-urls",
                                     client,
                                     "--listen-peer-urls",
                                     peer,
                                     "--initial-advertise-peer-urls",
                                     peer,
                                     "--initial-cluster",
                                     initial,
                                     "--initial-cluster-state",
                                     "new",
                                     "--initial-cluster-token",
                                     "replimail-test",
                                     "--logger",
                                     "zap",
                                     "--log-outputs",
                                     dir + "/" + m.name + ".log"};
    for (const std::string& flag : tls_flags()) argv.push_back(flag);
    auto start = [&] { m.proc = std::make_unique<Background>(argv); };
    if (on_host) {
      on_host(static_cast<int>(i), start);
    } else {
      start();
    }
  }
}

std::vector<std::string> EtcdCluster::tls_flags() const {
  std::vector<std::string> flags;
  if (!options_.cert.empty()) flags = {"--cert-file", options_.cert, "--key-file", options_.key};
  if (!options_.client_ca.empty())
    flags.insert(flags.end(), {"--trusted-ca-file", options_.client_ca, "--client-cert-auth"});
  flags.insert(flags.end(), options_.extra_flags.begin(), options_.extra_flags.end());
  return flags;
}

EtcdCluster::~EtcdCluster() {
  for (Member& m : members_) {
    if (m.proc) stop_by_pid(*m.proc);
  }
}

std::string EtcdCluster::endpoints() const {
  std::string out;
  for (const Member& m : members_)
    out += (out.empty() ? "" : ",") + (scheme() + m.host + ":" + std::to_string(m.client));
  return out;
}

std::vector<cluster::Endpoint> EtcdCluster::endpoint_list() const {
  std::vector<cluster::Endpoint> out;
  for (const Member& m : members_) out.push_back({m.host, m.client, !options_.cert.empty()});
  return out;
}

cluster::EtcdSettings EtcdCluster::settings() const {
  return {endpoint_list(), options_.credentials};
}

bool EtcdCluster::wait_ready() {
  for (const Member& m : members_) {
    if (!m.proc) return false;
  }
  cluster::EtcdClient etcd(settings());
  return wait_until([&] { return etcd.put("/ready", "1").ok(); }, 30s);
}

MailProxy::MailProxy(const std::string& dir, const std::string& auth)
    : dir_(dir), imap_port_(free_port()), pop3_port_(free_port()) {
  std::ofstream(dir + "/nginx.conf")
      << "load_module " << kMailModule << ";\n"
      << "daemon off;\nmaster_process off;\n"
      << "pid " << dir << "/nginx.pid;\n"
      << "error_log " << dir << "/nginx-error.log info;\n"
      << "events { worker_connections 64; }\n"
      << "mail {\n"
      << "  server_name cluster-test;\n"
      << "  auth_http " << auth << "/auth;\n"
      << "  proxy_pass_error_message on;\n"
      << "  server { listen 127.0.0.1:" << imap_port_ << "; protocol imap; }\n"
      << "  server { listen 127.0.0.1:" << pop3_port_ << "; protocol pop3; }\n"
      << "}\n";
  proc_ = std::make_unique<Background>(std::vector<std::string>{
      kNginx, "-p", dir, "-e", dir + "/nginx-error.log", "-c", dir + "/nginx.conf"});
}

MailProxy::~MailProxy() { stop_by_pid(*proc_); }

std::string MailProxy::error_log() const { return slurp(dir_ + "/nginx-error.log"); }

ClusterHosts::ClusterHosts(Options options) : options_(std::move(options)) {}

ClusterHosts::~ClusterHosts() {
  // Stopped by PID in the reverse order of start(); the members' own
  // destructors do it, this only fixes the order.
  proxy_.reset();
  slots_.clear();
  front_.reset();
  directory_.reset();
  etcd_client_.reset();
  etcd_.reset();
  net_.reset();
}

std::string ClusterHosts::unavailable() const {
  if (geteuid() != 0) return "network namespaces need root";
  if (access("/usr/sbin/ip", X_OK) != 0) return "no /usr/sbin/ip (iproute2)";
  return why_no_cluster_tools();
}

std::string ClusterHosts::start() {
  dir_ = std::make_unique<TempDir>();
  net_ = std::make_unique<HostNetwork>(3);
  if (!net_->error().empty()) return "host network: " + net_->error();
  std::vector<std::string> addresses;
  for (int i = 0; i < net_->hosts(); ++i) addresses.push_back(net_->address(i));
  std::string entered;
  etcd_ = std::make_unique<EtcdCluster>(dir_->path(), addresses,
                                        [&](int host, const std::function<void()>& start) {
                                          if (auto e = net_->enter(host); !e.empty()) {
                                            entered += e + "\n";
                                            return;
                                          }
                                          start();
                                          net_->leave();
                                        });
  if (!entered.empty()) return "etcd: " + entered;
  if (!etcd_->wait_ready())
    return "etcd did not elect a leader\n" + slurp(dir_->path() + "/m0.log");
  etcd_client_ = std::make_unique<cluster::EtcdClient>(etcd_->endpoint_list());
  directory_ = std::make_unique<cluster::Directory>(*etcd_client_,
                                                    *cluster::KeyLayout::make(options_.prefix));

  auth_port_ = free_port();
  Instance::Options front;
  front.sync_log = false;
  front.users = options_.users;
  front.services = {{"lmtpproxy", "lmtpproxyd -a"}};
  // client_timeout: lmtpproxyd gives up on a slot of a cut-off host after
  // 2 s (Cyrus's default is 10 s; the lease TTL here is 3 s).
  front.imapd_extra = {"cluster_etcd_endpoints: " + etcd_->endpoints(),
                       "cluster_etcd_prefix: " + options_.prefix, "failedloginpause: 0",
                       "client_timeout: 2"};
  front.daemons["mailauthd"] = "mailauthd -l 127.0.0.1:" + std::to_string(auth_port_);
  front_ = std::make_unique<Instance>(front);
  if (auto e = front_->start(); !e.empty()) return "front: " + e;
  if (!wait_for_port(auth_port_, 10000ms))
    return "mailauthd does not listen\n" + front_->master_log();

  proxy_ = std::make_unique<MailProxy>(dir_->path(), "127.0.0.1:" + std::to_string(auth_port_));
  if (!wait_for_port(proxy_->imap_port(), 10000ms) || !wait_for_port(proxy_->pop3_port(), 1000ms))
    return "nginx does not listen\n" + proxy_->error_log();
  return "";
}

Instance::Options ClusterHosts::slot_options(const SlotSpec& spec) const {
  Instance::Options o;
  o.users = options_.users;
  o.listen_host = "0.0.0.0";
  o.services = {
      {"lmtp", "lmtpd -a"}, {"imap", "imapd"}, {"pop3", "pop3d"}, {"csync", "sync_server"}};
  o.imapd_extra = {"cluster_etcd_endpoints: " + etcd_->endpoints(),
                   "cluster_etcd_prefix: " + options_.prefix,
                   "cluster_slot_name: " + spec.name,
                   "cluster_slot_host: " + net_->address(spec.host),
                   "cluster_slot_role: " + spec.role,
                   "cluster_lease_ttl: " + std::to_string(options_.lease_ttl_seconds),
                   "sync_authname: admin",
                   "sync_password: adminpw",
                   "sync_timeout: 5s",
                   "sync_reconnect_maxwait: 2s",
                   "failedloginpause: 0"};
  o.channels.clear();
  o.sync_log = !spec.replicas.empty();
  for (const std::string& r : spec.replicas) {
    const SlotRun& target = slots_.at(r);
    o.channels.push_back(r);
    o.imapd_extra.push_back(r + "_sync_host: " + net_->address(target.host));
    o.imapd_extra.push_back(r + "_sync_port: " + std::to_string(target.instance->port("csync")));
    o.daemons["sync" + r] = "sync_client -r -n " + r;
  }
  o.imapd_extra.insert(o.imapd_extra.end(), options_.slot_imapd_extra.begin(),
                       options_.slot_imapd_extra.end());
  return o;
}

std::string ClusterHosts::start_slot(const SlotSpec& spec) {
  if (!net_ || spec.host < 0 || spec.host >= net_->hosts()) return "no such host";
  if (slots_.count(spec.name)) return "slot " + spec.name + " exists";
  for (const std::string& r : spec.replicas) {
    if (!slots_.count(r)) return "replica slot " + r + " not started";
  }
  auto inst = std::make_unique<Instance>(slot_options(spec));
  inst->options().daemons["cluster"] = "clusterd -M " + inst->cyrus_conf();
  inst->write_configs();
  if (auto e = net_->enter(spec.host); !e.empty()) return e;
  std::string started = inst->start();
  net_->leave();
  Instance& slot = *inst;
  slots_[spec.name] = {spec.host, std::move(inst)};
  if (!started.empty()) return "slot " + spec.name + ": " + started;
  bool registered = wait_until(
      [&] {
        auto s = directory_->slot(spec.name);
        return s.ok() && s->has_value();
      },
      20s);
  if (!registered) return "slot " + spec.name + " not registered\n" + slot.master_log();
  return "";
}

std::string ClusterHosts::set_user(const std::string& user, const std::string& primary,
                                   const std::vector<std::string>& replicas) {
  std::vector<std::string> args = {"set-user", user, primary};
  args.insert(args.end(), replicas.begin(), replicas.end());
  auto r = front_->tool("cyr_cluster", args);
  return r.ok() ? "" : r.describe();
}

RunResult ClusterHosts::run_on(int host, const std::vector<std::string>& argv) {
  if (auto e = net_->enter(host); !e.empty()) return {-1, "", e};
  RunResult r = run(argv);
  net_->leave();
  return r;
}

std::string ClusterHosts::logs() const {
  std::string out;
  if (front_) out += "---- front ----\n" + front_->master_log();
  if (proxy_) out += "---- nginx ----\n" + proxy_->error_log();
  for (const auto& [name, s] : slots_)
    out += "---- slot " + name + " ----\n" + s.instance->master_log();
  return out;
}

}  // namespace replimail::testing
