// Automatic failover (issue 19, docs/CLUSTER.md "Automatic failover") on
// loopback: a 3-member etcd, nginx in front asking mailauthd (on a front
// instance that is no slot), slota the primary of alice and bob feeding
// slotb, slotc a slot that only stands for the controller (as does slotb).
// slota's master is killed with mail only it had; slotc's controller asks
// slotb to promote itself and is killed as soon as it has; slotb's
// controller, elected next, finishes the job: the users flip to slotb,
// logins through the same nginx port and deliveries reach it. slota comes
// back: its clusterd runs the rejoin the controller left for it, slotb's
// full sync merges what only slota had, and both hold the same mail.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "cluster/directory.h"
#include "cluster/etcd_client.h"
#include "common/config.h"
#include "digest_check.h"
#include "harness.h"

namespace replimail::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kEtcd = "/usr/bin/etcd";
constexpr const char* kNginx = "/usr/sbin/nginx";
constexpr const char* kMailModule = "/usr/lib/nginx/modules/ngx_mail_module.so";
constexpr const char* kPrefix = "/rm-failover/";

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

// A 3-member etcd on free loopback ports (as cluster_test.cc's).
class EtcdCluster {
 public:
  explicit EtcdCluster(const std::string& dir) {
    std::string initial;
    for (int i = 0; i < 3; ++i) {
      members_.push_back({"m" + std::to_string(i), free_port(), free_port(), nullptr});
      initial += (i ? "," : "") + members_[i].name +
                 "=http://127.0.0.1:" + std::to_string(members_[i].peer);
    }
    for (Member& m : members_) {
      std::string client = "http://127.0.0.1:" + std::to_string(m.client);
      std::string peer = "http://127.0.0.1:" + std::to_string(m.peer);
      m.proc =
          std::make_unique<Background>(std::vector<std::string>{kEtcd,
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
                                                                "replimail-failover",
                                                                "--logger",
                                                                "zap",
                                                                "--log-outputs",
                                                                dir + "/" + m.name + ".log"});
    }
  }
  ~EtcdCluster() {
    for (Member& m : members_) stop_by_pid(*m.proc);
  }
  std::string endpoints() const {
    std::string out;
    for (const Member& m : members_)
      out += (out.empty() ? "" : ",") + ("http://127.0.0.1:" + std::to_string(m.client));
    return out;
  }
  std::vector<cluster::Endpoint> endpoint_list() const {
    std::vector<cluster::Endpoint> out;
    for (const Member& m : members_) out.push_back({"127.0.0.1", m.client});
    return out;
  }
  bool wait_ready() {
    cluster::EtcdClient etcd(endpoint_list());
    return wait_until([&] { return etcd.put("/ready", "1").ok(); }, 30s);
  }
  pid_t pid(size_t i) const { return members_[i].proc->pid(); }

 private:
  struct Member {
    std::string name;
    int client;
    int peer;
    std::unique_ptr<Background> proc;
  };
  std::vector<Member> members_;
};

// nginx's mail proxy (IMAP only) asking auth_http at 127.0.0.1:auth_port.
class MailProxy {
 public:
  MailProxy(const std::string& dir, int auth_port) : imap_port_(free_port()) {
    std::ofstream(dir + "/nginx.conf")
        << "load_module " << kMailModule << ";\n"
        << "daemon off;\nmaster_process off;\n"
        << "pid " << dir << "/nginx.pid;\n"
        << "error_log " << dir << "/nginx-error.log info;\n"
        << "events { worker_connections 64; }\n"
        << "mail {\n  server_name failover-test;\n"
        << "  auth_http 127.0.0.1:" << auth_port << "/auth;\n"
        << "  proxy_pass_error_message on;\n"
        << "  server { listen 127.0.0.1:" << imap_port_ << "; protocol imap; }\n}\n";
    proc_ = std::make_unique<Background>(std::vector<std::string>{
        kNginx, "-p", dir, "-e", dir + "/nginx-error.log", "-c", dir + "/nginx.conf"});
  }
  ~MailProxy() { stop_by_pid(*proc_); }
  int imap_port() const { return imap_port_; }

 private:
  int imap_port_;
  std::unique_ptr<Background> proc_;
};

const std::map<std::string, std::string> kUsers = {
    {"admin", "adminpw"}, {"alice", "alicepw"}, {"bob", "bobpw"}};

std::vector<std::string> cluster_lines(const std::string& etcd, bool controller) {
  return {"cluster_etcd_endpoints: " + etcd, std::string("cluster_etcd_prefix: ") + kPrefix,
          "cluster_lease_ttl: 3",
          std::string("cluster_controller: ") + (controller ? "yes" : "no")};
}

// A slot: imapd, lmtpd, sync_server, its clusterd; the credentials its
// channels use once it is promoted (the same administrator everywhere).
Instance::Options slot_options(const std::string& etcd, const std::string& name, bool controller) {
  Instance::Options o;
  o.users = kUsers;
  o.channels = {"squatter"};
  o.services = {{"lmtp", "lmtpd -a"}, {"imap", "imapd"}, {"csync", "sync_server"}};
  o.imapd_extra = cluster_lines(etcd, controller);
  o.imapd_extra.insert(o.imapd_extra.end(),
                       {"cluster_slot_name: " + name, "cluster_slot_host: 127.0.0.1",
                        "failedloginpause: 0", "sync_authname: admin", "sync_password: adminpw",
                        "sync_repeat_interval: 1s", "sync_reconnect_maxwait: 1s"});
  return o;
}

std::string start_slot(Instance& inst) {
  inst.options().daemons["cluster"] = "clusterd -M " + inst.cyrus_conf();
  inst.write_configs();
  return inst.start();
}

// GUIDs of the live messages of `mailbox`.
std::multiset<std::string> live_guids(const Instance& inst, const std::string& mailbox) {
  std::multiset<std::string> out;
  for (const auto& r : inst.snapshot(mailbox).records)
    if (!r.expunged()) out.insert(r.guid);
  return out;
}

// alice's INBOX (X-Test-Id headers) through nginx, or the failure.
RunResult read_through_nginx(const Instance& any, int port, const std::string& user_pw) {
  return any.python("imap_script.py",
                    {"--port", std::to_string(port), "--user", user_pw, "SELECT INBOX",
                     "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (X-TEST-ID)])"});
}

// Delivers where the directory says the user lives now (what an MTA's map
// or lmtpproxyd does): "" once accepted.
std::string deliver_routed(cluster::Directory& dir, const std::string& user, int n,
                           const std::string& prefix) {
  auto slot = dir.route(user);
  if (!slot.ok()) return slot.status().to_string();
  return deliver(slot->lmtp_port, user, n, prefix);
}

long long ms_since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

size_t count_in(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) n++;
  return n;
}

TEST(ClusterFailover, PrimarySlotKilledUsersServedFromTheirReplicaThenItRejoins) {
  if (auto why = why_no_cluster_tools(); !why.empty()) GTEST_SKIP() << why;
  TempDir dir;
  EtcdCluster etcd(dir.path());
  ASSERT_TRUE(etcd.wait_ready()) << "etcd cluster did not elect a leader";
  cluster::EtcdClient client(etcd.endpoint_list());
  auto layout = *cluster::KeyLayout::make(kPrefix);
  cluster::Directory directory(client, layout);
  auto controller_is = [&](const std::string& slot) {
    auto r = client.get(layout.controller_key());
    return r.ok() && !r->kvs.empty() && r->kvs[0].value == slot;
  };

  // The front: mailauthd only (no slot), so that it outlives every slot.
  int auth_port = free_port();
  Instance::Options fo;
  fo.users = kUsers;
  fo.sync_log = false;
  fo.imapd_extra = cluster_lines(etcd.endpoints(), false);
  fo.daemons["mailauthd"] = "mailauthd -l 127.0.0.1:" + std::to_string(auth_port);
  Instance front(fo);
  ASSERT_EQ(front.start(), "");

  // slotc first, so that it is the controller.
  Instance::Options co = slot_options(etcd.endpoints(), "slotc", true);
  co.sync_log = false;
  co.services = {{"lmtp", "lmtpd -a"}};
  Instance slot_c(co);
  ASSERT_EQ(start_slot(slot_c), "");
  ASSERT_TRUE(wait_until([&] { return controller_is("slotc"); }, 20s)) << slot_c.master_log();

  Instance slot_b(slot_options(etcd.endpoints(), "slotb", true));
  ASSERT_EQ(start_slot(slot_b), "");
  Instance::Options ao = slot_options(etcd.endpoints(), "slota", false);
  ao.channels = {"slotb", "squatter"};
  ao.imapd_extra.push_back("slotb_sync_host: 127.0.0.1:" + std::to_string(slot_b.port("csync")));
  ao.daemons["syncslotb"] = "sync_client -r -n slotb";
  Instance slot_a(ao);
  ASSERT_EQ(start_slot(slot_a), "");
  ASSERT_TRUE(wait_until(
      [&] {
        auto s = directory.slots();
        return s.ok() && s->size() == 3;
      },
      20s))
      << slot_a.master_log();
  for (const char* u : {"alice", "bob"})
    ASSERT_TRUE(slot_a.tool("cyr_cluster", {"set-user", u, "slota", "slotb"}).ok());
  ASSERT_EQ(create_mailboxes(slot_a, {"user.alice", "user.bob"}), "");
  ASSERT_EQ(deliver_routed(directory, "alice", 5, "both"), "");
  ASSERT_EQ(deliver_routed(directory, "bob", 2, "both"), "");
  ASSERT_TRUE(converges_to_same_digest(slot_a, slot_b, 60s));
  // slota publishes how far slotb has applied.
  ASSERT_TRUE(wait_until(
      [&] { return client.get(layout.replication_key("slota"))->kvs.size() == 1; }, 20s));

  MailProxy nginx(dir.path(), auth_port);
  ASSERT_TRUE(wait_for_port(nginx.imap_port(), 10000ms));

  // slota's rolling client stops: what it accepts from now on stays in its
  // channel log (the asynchronous replication's loss window).
  slot_a.options().daemons.erase("syncslotb");
  slot_a.reload();
  ASSERT_TRUE(wait_until([&] { return processes_running(slot_a, "sync_client").empty(); }, 20s));
  ASSERT_EQ(deliver_routed(directory, "alice", 3, "oldonly"), "");
  std::multiset<std::string> old_inbox = live_guids(slot_a, "user.alice");
  ASSERT_EQ(old_inbox.size(), 8u);
  auto before = read_through_nginx(front, nginx.imap_port(), "alice:alicepw");
  ASSERT_TRUE(before.ok()) << before.describe();
  EXPECT_NE(before.out.find("oldonly-0"), std::string::npos) << before.out;

  // slota dies: master and every child.
  const pid_t a_master = slot_a.master_pid();
  ASSERT_EQ(::kill(-a_master, SIGKILL), 0);
  const auto t0 = Clock::now();
  EXPECT_EQ(slot_a.stop(), 128 + SIGKILL);

  // The controller (slotc) asks slotb to promote itself; its slot is
  // killed at once, mid-failover.
  const std::string cmd_key = layout.command_key("slotb", "promote-slota");
  ASSERT_TRUE(wait_until([&] { return client.get(cmd_key)->kvs.size() == 1; }, 30s))
      << slot_c.master_log();
  const long long asked_ms = ms_since(t0);
  ASSERT_EQ(::kill(-slot_c.master_pid(), SIGKILL), 0);
  slot_c.stop();
  auto alice_then = directory.user("alice");
  ASSERT_TRUE(alice_then.ok() && alice_then->has_value());
  EXPECT_EQ((*alice_then)->primary, "slota") << "slotc was to be killed before the flip";

  // slotb's controller takes over and finishes: alice's next login through
  // the same nginx port reads slotb's copy.
  long long flip_ms = -1, login_ms = -1, delivery_ms = -1;
  RunResult after;
  ASSERT_TRUE(wait_until(
      [&] {
        if (flip_ms < 0) {
          auto u = directory.user("alice");
          if (u.ok() && u->has_value() && (*u)->primary == "slotb") flip_ms = ms_since(t0);
        }
        after = read_through_nginx(front, nginx.imap_port(), "alice:alicepw");
        return after.ok();
      },
      60s))
      << after.describe() << slot_b.master_log();
  login_ms = ms_since(t0);
  EXPECT_EQ(after.out.find("oldonly"), std::string::npos) << after.out;
  EXPECT_NE(after.out.find("both-4"), std::string::npos) << after.out;
  std::string last;
  ASSERT_TRUE(wait_until(
      [&] {
        last = deliver_routed(directory, "alice", 1, "newonly");
        return last.empty();
      },
      30s))
      << last;
  delivery_ms = ms_since(t0);
  std::printf(
      "failover (lease TTL 3 s, load %s): controller asked the promotion %lld ms after slota "
      "died; users flipped at %lld ms; first login through nginx on slotb at %lld ms; first "
      "delivery accepted at %lld ms\n",
      slurp("/proc/loadavg").substr(0, 4).c_str(), asked_ms, flip_ms, login_ms, delivery_ms);

  // One promotion asked, by one controller; the second one followed it.
  EXPECT_TRUE(controller_is("slotb"));
  EXPECT_EQ(count_in(slot_c.master_log() + slot_b.master_log(), "asked slotb to promote-slota"),
            1u);
  EXPECT_NE(slot_b.master_log().find("controller: user bob now on slotb"), std::string::npos);
  auto bob = directory.user("bob");
  ASSERT_TRUE(bob.ok() && bob->has_value());
  EXPECT_EQ((*bob)->primary, "slotb");
  EXPECT_EQ((*bob)->replicas, std::vector<std::string>{"slota"});
  ASSERT_EQ(deliver_routed(directory, "alice", 3, "newonly-more"), "");

  // slota comes back: it rejoins as a replica (the controller's command),
  // and slotb's channel to it merges what only slota had.
  ASSERT_EQ(slot_a.start(), "");
  EXPECT_TRUE(wait_until(
      [&] { return client.get(layout.command_key("slota", "rejoin"))->kvs.empty(); }, 30s))
      << slot_a.master_log();
  EXPECT_TRUE(wait_until(
      [&] { return static_cast<bool>(same_digest(slot_b, slot_a, {}, DigestLines::kLiveOnly)); },
      120s))
      << same_digest(slot_b, slot_a, {}, DigestLines::kLiveOnly).message() << slot_a.master_log()
      << slot_b.master_log();
  std::multiset<std::string> inbox = live_guids(slot_b, "user.alice");
  EXPECT_EQ(inbox.size(), 12u);  // 5 both + 3 only on slota + 4 only on slotb
  for (const auto& g : old_inbox) EXPECT_TRUE(inbox.contains(g)) << "lost " << g;
  auto merged = read_through_nginx(front, nginx.imap_port(), "alice:alicepw");
  ASSERT_TRUE(merged.ok()) << merged.describe();
  EXPECT_NE(merged.out.find("oldonly-2"), std::string::npos) << merged.out;
  // slota feeds no one now: its channel to slotb is gone.
  auto a_conf = Config::load(slot_a.imapd_conf());
  ASSERT_TRUE(a_conf.ok());
  EXPECT_EQ(a_conf->get("sync_log_channels"), "squatter");
}

// A slot that cannot renew its lease (etcd unreachable: here every member
// stopped) may be failed over by then: it refuses changes (read-only
// fence) until it is registered again, and takes them again after.
TEST(ClusterFailover, ASlotThatLostItsLeaseRefusesChangesUntilRegisteredAgain) {
  if (auto why = why_no_cluster_tools(); !why.empty()) GTEST_SKIP() << why;
  TempDir dir;
  EtcdCluster etcd(dir.path());
  ASSERT_TRUE(etcd.wait_ready()) << "etcd cluster did not elect a leader";
  cluster::EtcdClient client(etcd.endpoint_list());
  cluster::Directory directory(client, *cluster::KeyLayout::make(kPrefix));
  Instance slot(slot_options(etcd.endpoints(), "slota", false));
  ASSERT_EQ(start_slot(slot), "");
  ASSERT_TRUE(wait_until(
      [&] { return directory.slot("slota").ok() && directory.slot("slota")->has_value(); }, 20s));
  ASSERT_EQ(create_mailboxes(slot, {"user.alice"}), "");
  ASSERT_EQ(deliver(slot, "alice", 1, "before"), "");

  for (int i = 0; i < 3; i++) ASSERT_EQ(::kill(etcd.pid(i), SIGSTOP), 0);
  const auto t0 = Clock::now();
  std::string refused;
  size_t accepted_meanwhile = 0;  // before the lease counts as lost
  EXPECT_TRUE(wait_until(
      [&] {
        refused = deliver(slot, "alice", 1, "cut");
        if (refused.empty()) accepted_meanwhile++;
        return refused.find("451") != std::string::npos;
      },
      30s))
      << refused << slot.master_log();
  std::printf("slot fenced itself %lld ms after etcd stopped answering (lease TTL 3 s)\n",
              ms_since(t0));
  EXPECT_NE(slot.master_log().find("lease lost"), std::string::npos);
  for (int i = 0; i < 3; i++) ASSERT_EQ(::kill(etcd.pid(i), SIGCONT), 0);
  std::string accepted;
  EXPECT_TRUE(wait_until(
      [&] {
        accepted = deliver(slot, "alice", 1, "after");
        return accepted.empty();
      },
      30s))
      << accepted << slot.master_log();
  // "before", "after", and "cut" if it got in before the fence (every try
  // carries the same Message-ID: duplicate suppression keeps one).
  EXPECT_EQ(live_guids(slot, "user.alice").size(), accepted_meanwhile > 0 ? 3u : 2u);
}

}  // namespace
}  // namespace replimail::testing
