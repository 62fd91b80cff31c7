// Issue 19's "three hosts on one machine": the fixture of the ClusterHosts.*
// scenarios (cluster_hosts_test.cc), and the parts cluster_test.cc shares
// (etcd members, nginx's mail proxy).
//
//   test's namespace: bridge 10.78.<n>.1 ── host 0 (netns, 10.78.<n>.11)
//     front: mailauthd, lmtpproxyd  ├──── host 1 (netns, 10.78.<n>.12)
//     nginx (IMAP, POP3)            └──── host 2 (netns, 10.78.<n>.13)
//     all on 127.0.0.1              each host: one etcd member, its slots
//
// A slot is a replimail instance under its own master (imapd, pop3d, lmtpd
// -a, sync_server on 0.0.0.0 inside its host), registered by its clusterd
// at its host's address, with one rolling channel (sync_client -r) to each
// slot named in SlotSpec::replicas. The front (an Instance in the test's
// namespace, no slot of its own) runs mailauthd and lmtpproxyd; nginx asks
// that mailauthd. The test reaches everything: the front and nginx on
// 127.0.0.1, the hosts at their addresses over the bridge.
//
// Adding a scenario (move19, failover19): in a TEST of cluster_hosts_test.cc
// (or your own file):
//   ClusterHosts hosts;
//   if (auto why = hosts.unavailable(); !why.empty()) GTEST_SKIP() << why;
//   ASSERT_EQ(hosts.start(), "");
//   ASSERT_EQ(hosts.start_slot({"r0", 1, "replica", {}}), "");
//   ASSERT_EQ(hosts.start_slot({"s0", 0, "primary", {"r0"}}), "");
//   ASSERT_EQ(hosts.set_user("alice", "s0", {"r0"}), "");
//   ... deliver through hosts.lmtp_port(), read through hosts.imap_port(),
//   hosts.cut(0) / hosts.restore(0), hosts.run_on(host, argv) for a command
//   that must run inside a host (its loopback), hosts.slot("s0") for the
//   Instance (tools, digests: digest_check.h), hosts.directory() for etcd.
// Options change before start() (users, lease TTL, extra imapd.conf lines of
// every slot); a slot's own options through slot(name).options() and
// reload(). Everything started here is stopped by PID, and the namespaces,
// veths and bridge removed by name, when the object goes (in every outcome;
// leftovers of a killed run are removed by the next run's constructor).
// Not thread-safe; one per test.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cluster/directory.h"
#include "cluster/etcd_client.h"
#include "harness.h"
#include "netns.h"

namespace replimail::testing {

// Why etcd, nginx or its mail module cannot be used here ("" when all are
// installed; ./dev installs them).
std::string why_no_cluster_tools();

// SIGTERM to a background server, then waits (Background's destructor
// SIGKILLs whatever is still running).
void stop_by_pid(Background& b);

// A 3-member etcd cluster on free ports, each member its own data directory
// under `dir`. Member i listens on hosts[i]; `on_host(i, start)` runs
// `start` where member i must start (inside host i's namespace), or here
// when empty. Stopped by PID when destroyed.
class EtcdCluster {
 public:
  using OnHost = std::function<void(int, const std::function<void()>&)>;
  // The client port over TLS, and etcd flags of a test's own.
  struct Options {
    std::string cert, key;  // --cert-file, --key-file: the client URLs are https
    std::string client_ca;  // --trusted-ca-file + --client-cert-auth: client certs required
    std::vector<std::string> extra_flags;  // e.g. {"--auth-token-ttl", "2"}
    // What wait_ready() and the fixtures' own clients present.
    cluster::EtcdCredentials credentials;
  };
  explicit EtcdCluster(const std::string& dir,
                       std::vector<std::string> hosts = {"127.0.0.1", "127.0.0.1", "127.0.0.1"},
                       const OnHost& on_host = {}, Options options = {});
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;
  // "http://a:p,http://b:q,..." (https with Options::cert) for
  // cluster_etcd_endpoints.
  std::string endpoints() const;
  std::vector<cluster::Endpoint> endpoint_list() const;
  // endpoint_list() with Options::credentials.
  cluster::EtcdSettings settings() const;
  // True once a write goes through (a leader is elected).
  bool wait_ready();
  pid_t pid(size_t i) const { return members_.at(i).proc->pid(); }

 private:
  struct Member {
    std::string name;
    std::string host;
    int client;
    int peer;
    std::unique_ptr<Background> proc;
  };
  std::string scheme() const { return options_.cert.empty() ? "http://" : "https://"; }
  std::vector<std::string> tls_flags() const;

  Options options_;
  std::vector<Member> members_;
};

// nginx with its mail module only, in the foreground as one process
// (master_process off), its config and logs in `dir`, IMAP and POP3 on free
// loopback ports, asking auth_http at `auth` ("127.0.0.1:port").
class MailProxy {
 public:
  MailProxy(const std::string& dir, const std::string& auth);
  ~MailProxy();
  int imap_port() const { return imap_port_; }
  int pop3_port() const { return pop3_port_; }
  std::string error_log() const;

 private:
  std::string dir_;
  int imap_port_;
  int pop3_port_;
  std::unique_ptr<Background> proc_;
};

// One slot to start on a host.
struct SlotSpec {
  std::string name;
  int host = 0;
  std::string role = "primary";       // cluster_slot_role
  std::vector<std::string> replicas;  // slots (started before) it replicates to
};

class ClusterHosts {
 public:
  struct Options {
    std::map<std::string, std::string> users = {
        {"admin", "adminpw"}, {"alice", "alicepw"}, {"bob", "bobpw"}, {"carol", "carolpw"}};
    std::string prefix = "/rm-hosts/";
    int lease_ttl_seconds = 3;
    // Appended to every slot's imapd.conf.
    std::vector<std::string> slot_imapd_extra;
  };

  ClusterHosts() : ClusterHosts(Options{}) {}
  explicit ClusterHosts(Options options);
  ~ClusterHosts();
  ClusterHosts(const ClusterHosts&) = delete;
  ClusterHosts& operator=(const ClusterHosts&) = delete;

  // Why the fixture cannot run on this machine (no root or iproute2, no
  // etcd or nginx): the test skips. "" when it can.
  std::string unavailable() const;
  Options& options() { return options_; }

  // The three hosts' network, etcd (one member per host, a leader elected),
  // the front (mailauthd, lmtpproxyd) and nginx. "" or what failed.
  std::string start();
  // Starts a slot and waits until its clusterd registered it. "" or what
  // failed (with the slot's master log).
  std::string start_slot(const SlotSpec& spec);
  Instance& slot(const std::string& name) { return *slots_.at(name).instance; }
  int host_of(const std::string& slot) const { return slots_.at(slot).host; }
  std::string address(int host) const { return net_->address(host); }

  // The user's directory entry (as `cyr_cluster set-user` writes it). "" or
  // what failed.
  std::string set_user(const std::string& user, const std::string& primary,
                       const std::vector<std::string>& replicas);

  // The test's way in: nginx's IMAP and POP3, lmtpproxyd, mailauthd, all on
  // 127.0.0.1.
  int imap_port() const { return proxy_->imap_port(); }
  int pop3_port() const { return proxy_->pop3_port(); }
  int lmtp_port() const { return front_->port("lmtpproxy"); }
  int auth_port() const { return auth_port_; }
  // The instance the front's programs run under: cyr_cluster through
  // front().tool(...), python scripts, its master log.
  Instance& front() { return *front_; }
  cluster::Directory& directory() { return *directory_; }
  std::string etcd_endpoints() const { return etcd_->endpoints(); }

  // A command run to completion inside `host`'s namespace.
  RunResult run_on(int host, const std::vector<std::string>& argv);
  // The host's link to the bridge down / up. "" or what failed.
  std::string cut(int host) { return net_->cut(host); }
  std::string restore(int host) { return net_->restore(host); }

  // Logs for a failure message: the front's, nginx's, and every slot's
  // master log.
  std::string logs() const;

 private:
  struct SlotRun {
    int host;
    std::unique_ptr<Instance> instance;
  };
  Instance::Options slot_options(const SlotSpec& spec) const;

  Options options_;
  // Members in the order of construction; destroyed in reverse: nginx, the
  // slots, the front, etcd, then the namespaces.
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<HostNetwork> net_;
  std::unique_ptr<EtcdCluster> etcd_;
  std::unique_ptr<cluster::EtcdClient> etcd_client_;
  std::unique_ptr<cluster::Directory> directory_;
  int auth_port_ = 0;
  std::unique_ptr<Instance> front_;
  std::map<std::string, SlotRun> slots_;
  std::unique_ptr<MailProxy> proxy_;
};

}  // namespace replimail::testing
