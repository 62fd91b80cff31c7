// Automatic failover (issue 19, docs/CLUSTER.md "Automatic failover").
//
// On loopback: a 3-member etcd, nginx in front asking mailauthd (on a front
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
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cluster/directory.h"
#include "cluster/etcd_client.h"
#include "cluster_hosts.h"
#include "common/config.h"
#include "digest_check.h"
#include "harness.h"

namespace replimail::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kPrefix = "/rm-failover/";

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
RunResult read_through_nginx(const Instance& any, int port, const std::string& user_pw,
                             int timeout_s = 30) {
  return any.python("imap_script.py", {"--port", std::to_string(port), "--user", user_pw,
                                       "--timeout", std::to_string(timeout_s), "SELECT INBOX",
                                       "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (X-TEST-ID)])"});
}

// Logins through nginx as many clients would try them: a new attempt every
// 250 ms (each given 10 s: one sent to a host that no longer answers hangs
// until then), until one succeeds or `limit` passes. The first success's
// transcript, and when it completed.
struct FirstLogin {
  RunResult result;
  Clock::time_point at;
};
std::optional<FirstLogin> first_login(const Instance& any, int port, const std::string& user_pw,
                                      std::chrono::seconds limit) {
  std::mutex mu;
  std::optional<FirstLogin> first;
  std::vector<std::thread> attempts;
  const auto end = Clock::now() + limit;
  auto done = [&] {
    std::lock_guard<std::mutex> l(mu);
    return first.has_value();
  };
  while (!done() && Clock::now() < end) {
    attempts.emplace_back([&] {
      RunResult r = read_through_nginx(any, port, user_pw, 10);
      std::lock_guard<std::mutex> l(mu);
      if (r.ok() && !first) first = FirstLogin{r, Clock::now()};
    });
    std::this_thread::sleep_for(250ms);
  }
  for (auto& t : attempts) t.join();
  return first;
}

// Delivers where the directory says the user lives now (what an MTA's map
// or lmtpproxyd does): "" once accepted.
std::string deliver_routed(cluster::Directory& dir, const std::string& user, int n,
                           const std::string& prefix) {
  auto slot = dir.route(user);
  if (!slot.ok()) return slot.status().to_string();
  return deliver(slot->lmtp_port, user, n, prefix);
}

// How many keys `key` names (0 or 1); -1 while etcd does not answer.
int key_count(cluster::EtcdClient& etcd, const std::string& key) {
  auto r = etcd.get(key);
  return r.ok() ? static_cast<int>(r->kvs.size()) : -1;
}

// The role a live slot's registration gives, or why there is none.
std::string role_of(cluster::Directory& dir, const std::string& slot) {
  auto s = dir.slot(slot);
  if (!s.ok()) return s.status().to_string();
  if (!s->has_value()) return "(not registered)";
  return (*s)->role;
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
  ASSERT_TRUE(
      wait_until([&] { return key_count(client, layout.replication_key("slota")) == 1; }, 20s));

  MailProxy nginx(dir.path(), "127.0.0.1:" + std::to_string(auth_port));
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
  ASSERT_TRUE(wait_until([&] { return key_count(client, cmd_key) == 1; }, 30s))
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
  std::thread flip_watch([&] {
    if (wait_until(
            [&] {
              auto u = directory.user("alice");
              return u.ok() && u->has_value() && (*u)->primary == "slotb";
            },
            60s))
      flip_ms = ms_since(t0);
  });
  auto login = first_login(front, nginx.imap_port(), "alice:alicepw", 60s);
  flip_watch.join();
  ASSERT_TRUE(login) << slot_b.master_log();
  RunResult after = login->result;
  login_ms = std::chrono::duration_cast<std::chrono::milliseconds>(login->at - t0).count();
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

  // One promotion asked, by one controller (slotc: the key above); the
  // second one followed it and did not ask again. slotc's own log line may
  // be lost with it: the test kills it as soon as the key exists, and the
  // line is written after the transaction (under load it was not always
  // out before the SIGKILL).
  EXPECT_TRUE(controller_is("slotb"));
  EXPECT_EQ(count_in(slot_b.master_log(), "asked slotb to promote-slota"), 0u)
      << slot_b.master_log();
  EXPECT_LE(count_in(slot_c.master_log(), "asked slotb to promote-slota"), 1u);
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
      [&] { return key_count(client, layout.command_key("slota", "rejoin")) == 0; }, 30s))
      << slot_a.master_log();
  EXPECT_TRUE(wait_until([&] { return role_of(directory, "slota") == "replica"; }, 30s))
      << role_of(directory, "slota") << slot_a.master_log();
  EXPECT_EQ(role_of(directory, "slotb"), "primary");
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
      [&] {
        auto s = directory.slot("slota");
        return s.ok() && s->has_value();
      },
      20s));
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

TEST(ClusterFailover, HostCutOffItsUsersServedFromTheirReplicasThenItRejoins) {
  ClusterHosts::Options options;
  options.slot_imapd_extra = {"cluster_controller: yes", "sync_repeat_interval: 1s"};
  ClusterHosts hosts(options);
  if (auto why = hosts.unavailable(); !why.empty()) GTEST_SKIP() << why;
  ASSERT_EQ(hosts.start(), "") << hosts.logs();
  // carol's primary s2 on host 2 feeds r2 on host 0; s1 on host 1 has no
  // users (a controller candidate beside the other two).
  for (const SlotSpec& s : std::vector<SlotSpec>{
           {"r2", 0, "replica", {}}, {"s1", 1, "primary", {}}, {"s2", 2, "primary", {"r2"}}})
    ASSERT_EQ(hosts.start_slot(s), "") << hosts.logs();
  ASSERT_EQ(hosts.set_user("carol", "s2", {"r2"}), "");
  ASSERT_TRUE(hosts.slot("s2").tool("cyr_mbox", {"create", "user.carol"}).ok());
  ASSERT_EQ(deliver(hosts.lmtp_port(), "carol", 3, "before"), "") << hosts.logs();
  ASSERT_TRUE(converges_to_same_digest(hosts.slot("s2"), hosts.slot("r2"), 60s));
  auto& layout = hosts.directory().layout();
  auto& etcd = hosts.directory().etcd();
  ASSERT_TRUE(wait_until([&] { return key_count(etcd, layout.replication_key("s2")) == 1; }, 20s));

  // s2's rolling client stops: 2 messages reach s2 only.
  hosts.slot("s2").options().daemons.erase("syncr2");
  hosts.slot("s2").reload();
  ASSERT_TRUE(
      wait_until([&] { return processes_running(hosts.slot("s2"), "sync_client").empty(); }, 20s));
  ASSERT_EQ(deliver(hosts.lmtp_port(), "carol", 2, "onlys2"), "");
  std::multiset<std::string> only_s2 = live_guids(hosts.slot("s2"), "user.carol");
  ASSERT_EQ(only_s2.size(), 5u);

  ASSERT_EQ(hosts.cut(2), "");
  const auto t0 = Clock::now();
  // The MTA's retries (through lmtpproxyd), beside the logins.
  std::string last;
  long long delivery_ms = -1;
  std::thread mta([&] {
    if (wait_until(
            [&] {
              last = deliver(hosts.lmtp_port(), "carol", 1, "during");
              return last.empty();
            },
            60s))
      delivery_ms = ms_since(t0);
  });
  auto first = first_login(hosts.front(), hosts.imap_port(), "carol:carolpw", 60s);
  mta.join();
  ASSERT_TRUE(first) << hosts.logs();
  RunResult login = first->result;
  const long long login_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(first->at - t0).count();
  EXPECT_NE(login.out.find("before-2"), std::string::npos) << login.out;
  EXPECT_EQ(login.out.find("onlys2"), std::string::npos) << login.out;
  ASSERT_GE(delivery_ms, 0) << last;
  std::printf(
      "host 2 cut off (lease TTL 3 s, load %s): carol's first login through nginx served by r2 "
      "on host 0 after %lld ms, first delivery through lmtpproxyd accepted after %lld ms\n",
      slurp("/proc/loadavg").substr(0, 4).c_str(), login_ms, delivery_ms);
  auto carol = hosts.directory().user("carol");
  ASSERT_TRUE(carol.ok() && carol->has_value());
  EXPECT_EQ((*carol)->primary, "r2");
  EXPECT_EQ((*carol)->replicas, std::vector<std::string>{"s2"});
  EXPECT_EQ(live_guids(hosts.slot("r2"), "user.carol").size(), 4u);
  // r2, started as a replica, registers as what it is now.
  EXPECT_TRUE(wait_until([&] { return role_of(hosts.directory(), "r2") == "primary"; }, 30s))
      << role_of(hosts.directory(), "r2") << hosts.logs();

  // The link back: s2 rejoins as r2's replica; the 2 messages only it had
  // are merged into r2, and both end equal.
  ASSERT_EQ(hosts.restore(2), "");
  EXPECT_TRUE(
      wait_until([&] { return key_count(etcd, layout.command_key("s2", "rejoin")) == 0; }, 60s))
      << hosts.logs();
  EXPECT_TRUE(wait_until([&] { return role_of(hosts.directory(), "s2") == "replica"; }, 30s))
      << role_of(hosts.directory(), "s2") << hosts.logs();
  EXPECT_TRUE(wait_until(
      [&] {
        return static_cast<bool>(
            same_digest(hosts.slot("r2"), hosts.slot("s2"), {}, DigestLines::kLiveOnly));
      },
      120s))
      << same_digest(hosts.slot("r2"), hosts.slot("s2"), {}, DigestLines::kLiveOnly).message()
      << hosts.logs();
  std::multiset<std::string> merged = live_guids(hosts.slot("r2"), "user.carol");
  EXPECT_EQ(merged.size(), 6u);  // 3 before + 2 only on s2 + 1 during the cut
  for (const auto& g : only_s2) EXPECT_TRUE(merged.contains(g)) << "lost " << g;
  auto after = read_through_nginx(hosts.front(), hosts.imap_port(), "carol:carolpw");
  ASSERT_TRUE(after.ok()) << after.describe();
  EXPECT_NE(after.out.find("onlys2-1"), std::string::npos) << after.out;
}

}  // namespace
}  // namespace replimail::testing
