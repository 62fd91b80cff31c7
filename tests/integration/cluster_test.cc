// Issue 19's foundation on loopback: a 3-member etcd started here, two
// replimail instances registered as slots by their clusterd, users assigned
// with cyr_cluster, and nginx's mail proxy in front asking mailauthd
// (auth_http) where each login goes.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "cluster/directory.h"
#include "cluster/etcd_client.h"
#include "cluster_hosts.h"
#include "harness.h"

namespace replimail::testing {
namespace {

using namespace std::chrono_literals;

// A replimail instance that is a slot of the cluster: imap, pop3, lmtp,
// its clusterd, and (when auth_port > 0) mailauthd.
Instance::Options slot_options(const std::string& etcd, const std::string& prefix,
                               const std::string& name, int auth_port) {
  Instance::Options o;
  o.sync_log = false;
  o.users = {{"admin", "adminpw"}, {"alice", "alicepw"}, {"bob", "bobpw"}, {"carol", "carolpw"}};
  o.services = {{"lmtp", "lmtpd -a"}, {"imap", "imapd"}, {"pop3", "pop3d"}};
  o.imapd_extra = {"cluster_etcd_endpoints: " + etcd, "cluster_etcd_prefix: " + prefix,
                   "cluster_slot_name: " + name, "cluster_lease_ttl: 3"};
  if (auth_port > 0) o.daemons["mailauthd"] = "mailauthd -l 127.0.0.1:" + std::to_string(auth_port);
  return o;
}

// The subjects of alice's INBOX as seen through `port` (nginx), or the
// failure.
RunResult inbox_subjects(const Instance& any, int port, const std::string& user_pw) {
  return any.python("imap_script.py",
                    {"--port", std::to_string(port), "--user", user_pw, "SELECT INBOX",
                     "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])"});
}

RunResult deliver(const Instance& inst, const std::string& rcpt, const std::string& prefix) {
  // One message whose Subject is "test <prefix> 0".
  return inst.python("lmtp_deliver.py", {"--port", std::to_string(inst.lmtp_port()), "--rcpt", rcpt,
                                         "-n", "1", "--prefix", prefix});
}

// mailauthd asked directly, as nginx asks it: the answer's headers.
std::map<std::string, std::string> ask_auth(int port, const std::string& user,
                                            const std::string& pass) {
  httplib::Client cli("127.0.0.1", port);
  httplib::Headers h = {{"Auth-Method", "plain"},    {"Auth-User", user},
                        {"Auth-Pass", pass},         {"Auth-Protocol", "imap"},
                        {"Auth-Login-Attempt", "1"}, {"Client-IP", "127.0.0.1"}};
  std::map<std::string, std::string> out;
  auto res = cli.Get("/auth", h);
  if (!res) return {{"error", httplib::to_string(res.error())}};
  for (const auto& [k, v] : res->headers) out[k] = v;
  return out;
}

RunResult cyr_cluster(const Instance& inst, const std::vector<std::string>& args) {
  return inst.tool("cyr_cluster", args);
}

TEST(Cluster, EtcdClientAgainstAThreeMemberCluster) {
  if (auto why = why_no_cluster_tools(); !why.empty()) GTEST_SKIP() << why;
  TempDir dir;
  EtcdCluster etcd(dir.path());
  ASSERT_TRUE(etcd.wait_ready()) << "etcd cluster did not elect a leader";
  cluster::EtcdClient client(etcd.endpoint_list());
  auto layout = *cluster::KeyLayout::make("/t1/");
  cluster::Directory dir_ops(client, layout);

  // A watch on the users' prefix sees every write below.
  std::atomic<bool> stop{false};
  std::vector<std::string> seen;
  std::mutex mu;
  auto start = client.get("/none");
  ASSERT_TRUE(start.ok()) << start.status().to_string();
  std::thread watcher([&] {
    int64_t from = start->revision + 1;
    while (!stop) {
      auto end = client.watch(
          layout.users_prefix(), cluster::prefix_end(layout.users_prefix()), from,
          [&](const cluster::WatchMessage& m) {
            std::lock_guard<std::mutex> l(mu);
            for (const auto& e : m.events)
              seen.push_back((e.type == cluster::WatchEvent::Type::kDelete ? "DELETE " : "PUT ") +
                             e.kv.key);
            return true;
          },
          stop, 300ms);
      if (end.last_revision > 0) from = end.last_revision + 1;
    }
  });

  // Compare-and-swap: a second writer with a stale revision loses.
  cluster::UserEntry u{"alice", "s1", {"s2"}, 0};
  ASSERT_TRUE(dir_ops.put_user(u, 0).is_ok());
  EXPECT_EQ(dir_ops.put_user(u, 0).code(), Code::kSyncChanged);
  auto flipped = dir_ops.set_primary("alice", "s2");
  ASSERT_TRUE(flipped.ok()) << flipped.status().to_string();
  auto back = dir_ops.user("alice");
  ASSERT_TRUE(back.ok() && back->has_value());
  EXPECT_EQ((*back)->primary, "s2");
  EXPECT_EQ((*back)->replicas, std::vector<std::string>{"s1"});
  ASSERT_TRUE(dir_ops.remove_user("alice").is_ok());
  EXPECT_FALSE(dir_ops.user("alice")->has_value());
  EXPECT_EQ(dir_ops.set_primary("alice", "s1").status().code(), Code::kNotFound);

  // A key under a lease goes when the lease is no longer kept alive.
  auto lease = client.lease_grant(2s);
  ASSERT_TRUE(lease.ok()) << lease.status().to_string();
  ASSERT_TRUE(client.put("/t1/leased", "x", lease->id).ok());
  EXPECT_TRUE(client.lease_keepalive(lease->id).ok());
  EXPECT_EQ(client.get("/t1/leased")->kvs.size(), 1u);
  EXPECT_TRUE(wait_until([&] { return client.get("/t1/leased")->kvs.empty(); }, 10s));
  EXPECT_EQ(client.lease_keepalive(lease->id).status().code(), Code::kNotFound);

  // One member killed: the client goes on with the other two.
  kill(etcd.pid(0), SIGKILL);
  EXPECT_TRUE(wait_until([&] { return client.put("/t1/after", "y").ok(); }, 15s));
  EXPECT_EQ(client.get("/t1/after")->kvs.at(0).value, "y");

  EXPECT_TRUE(wait_until(
      [&] {
        std::lock_guard<std::mutex> l(mu);
        return seen.size() >= 3;
      },
      10s));
  stop = true;
  watcher.join();
  std::lock_guard<std::mutex> l(mu);
  ASSERT_GE(seen.size(), 3u);
  EXPECT_EQ(seen[0], "PUT /t1/users/alice");
  EXPECT_EQ(seen[1], "PUT /t1/users/alice");
  EXPECT_EQ(seen[2], "DELETE /t1/users/alice");
}

TEST(Cluster, NginxRoutesLoginsToTheUsersPrimarySlotFromTheDirectory) {
  if (auto why = why_no_cluster_tools(); !why.empty()) GTEST_SKIP() << why;
  TempDir dir;
  EtcdCluster etcd(dir.path());
  ASSERT_TRUE(etcd.wait_ready()) << "etcd cluster did not elect a leader";
  const std::string prefix = "/rm-test/";
  int auth_port = free_port();
  Instance slot_a(slot_options(etcd.endpoints(), prefix, "slotA", auth_port));
  Instance slot_b(slot_options(etcd.endpoints(), prefix, "slotB", 0));
  for (Instance* inst : {&slot_a, &slot_b}) {
    inst->options().daemons["cluster"] = "clusterd -M " + inst->cyrus_conf();
    inst->write_configs();
    std::string err = inst->start();
    ASSERT_EQ(err, "");
  }
  ASSERT_TRUE(wait_for_port(auth_port, 10000ms)) << slot_a.master_log();

  // Both slots register, with the ports of their cyrus.conf.
  cluster::EtcdClient client(etcd.endpoint_list());
  cluster::Directory directory(client, *cluster::KeyLayout::make(prefix));
  ASSERT_TRUE(wait_until(
      [&] {
        auto s = directory.slots();
        return s.ok() && s->size() == 2;
      },
      15s))
      << slot_a.master_log() << slot_b.master_log();
  auto b_reg = directory.slot("slotB");
  ASSERT_TRUE(b_reg.ok() && b_reg->has_value());
  EXPECT_EQ((*b_reg)->imap_port, slot_b.port("imap"));
  EXPECT_EQ((*b_reg)->pop3_port, slot_b.port("pop3"));
  EXPECT_EQ((*b_reg)->lmtp_port, slot_b.lmtp_port());
  EXPECT_EQ((*b_reg)->host, "127.0.0.1");
  EXPECT_NE((*b_reg)->lease, 0) << "the slot key must live under a lease";
  auto listed = cyr_cluster(slot_a, {"slots"});
  EXPECT_TRUE(listed.ok()) << listed.describe();
  EXPECT_NE(listed.out.find("slot slotB host=127.0.0.1"), std::string::npos) << listed.out;

  auto set_a = cyr_cluster(slot_a, {"set-user", "alice", "slotA", "slotB"});
  ASSERT_TRUE(set_a.ok()) << set_a.describe();
  ASSERT_TRUE(cyr_cluster(slot_a, {"set-user", "bob", "slotB", "slotA"}).ok());

  // alice on both slots (her replica is the other one), bob on both.
  for (Instance* inst : {&slot_a, &slot_b}) {
    for (const char* mbox : {"user.alice", "user.bob"}) {
      auto made = inst->tool("cyr_mbox", {"create", mbox});
      ASSERT_TRUE(made.ok()) << made.describe();
    }
  }
  // mailauthd checks the password against the slot's sasldb as imapd
  // does, before it says where to go.
  auto ok = ask_auth(auth_port, "alice", "alicepw");
  EXPECT_EQ(ok["Auth-Status"], "OK");
  EXPECT_EQ(ok["Auth-Server"], "127.0.0.1");
  EXPECT_EQ(ok["Auth-Port"], std::to_string(slot_a.port("imap")));
  auto bad = ask_auth(auth_port, "alice", "alicepw2");
  EXPECT_EQ(bad["Auth-Status"], "Invalid login or password");
  EXPECT_EQ(bad["Auth-Wait"], "3");  // failedloginpause
  EXPECT_EQ(bad.count("Auth-Server"), 0u);
  auto unknown = ask_auth(auth_port, "carol", "carolpw");
  EXPECT_NE(unknown["Auth-Status"], "OK");
  EXPECT_EQ(unknown.count("Auth-Server"), 0u);
  EXPECT_EQ(unknown.count("Auth-Wait"), 0u);

  // Different mail on each slot, so that the reader can tell where it is.
  auto d = deliver(slot_a, "alice", "alice-on-A");
  ASSERT_TRUE(d.ok()) << d.describe();
  ASSERT_TRUE(deliver(slot_b, "alice", "alice-on-B").ok());
  ASSERT_TRUE(deliver(slot_b, "bob", "bob-on-B").ok());

  MailProxy nginx(dir.path(), "127.0.0.1:" + std::to_string(auth_port));
  ASSERT_TRUE(wait_for_port(nginx.imap_port(), 10000ms)) << nginx.error_log();

  auto alice = inbox_subjects(slot_a, nginx.imap_port(), "alice:alicepw");
  ASSERT_TRUE(alice.ok()) << alice.describe() << nginx.error_log()
                          << slot_a.master_log();
  EXPECT_NE(alice.out.find("Subject: test alice-on-A 0"), std::string::npos) << alice.out;
  EXPECT_EQ(alice.out.find("alice-on-B"), std::string::npos) << alice.out;
  auto bob = inbox_subjects(slot_a, nginx.imap_port(), "bob:bobpw");
  ASSERT_TRUE(bob.ok()) << bob.describe();
  EXPECT_NE(bob.out.find("Subject: test bob-on-B 0"), std::string::npos) << bob.out;

  // POP3 through the same proxy goes to the same slot.
  auto pop = run({"/usr/bin/python3", "-c",
                  "import poplib,sys\n"
                  "p=poplib.POP3('127.0.0.1'," +
                      std::to_string(nginx.pop3_port()) +
                      ",timeout=30)\n"
                      "p.user('alice');p.pass_('alicepw')\n"
                      "print(b'\\n'.join(p.top(1,0)[1]).decode())\np.quit()\n"});
  ASSERT_TRUE(pop.ok()) << pop.describe();
  EXPECT_NE(pop.out.find("Subject: test alice-on-A 0"), std::string::npos) << pop.out;

  // A wrong password, and a user the directory does not know, get in nowhere.
  auto wrong = inbox_subjects(slot_a, nginx.imap_port(), "alice:nope");
  EXPECT_FALSE(wrong.ok()) << wrong.describe();
  EXPECT_NE(wrong.err.find("login failed"), std::string::npos) << wrong.describe();
  auto carol = inbox_subjects(slot_a, nginx.imap_port(), "carol:carolpw");
  EXPECT_FALSE(carol.ok()) << carol.describe();
  EXPECT_NE(carol.err.find("login failed"), std::string::npos) << carol.describe();

  // The directory flips alice to slotB: her next login reads slotB's mail.
  auto flip = cyr_cluster(slot_a, {"set-primary", "alice", "slotB"});
  ASSERT_TRUE(flip.ok()) << flip.describe();
  EXPECT_NE(flip.out.find("user alice primary=slotB replicas=slotA"), std::string::npos)
      << flip.out;
  auto moved = inbox_subjects(slot_a, nginx.imap_port(), "alice:alicepw");
  ASSERT_TRUE(moved.ok()) << moved.describe();
  EXPECT_NE(moved.out.find("Subject: test alice-on-B 0"), std::string::npos) << moved.out;
  EXPECT_EQ(moved.out.find("alice-on-A"), std::string::npos) << moved.out;

  // slotB's master killed: its clusterd dies with it, so nothing renews
  // the lease and the slot leaves the directory after its TTL (3 s);
  // logins routed to it are refused as temporary meanwhile and after.
  pid_t b_master = slot_b.master_pid();
  ASSERT_EQ(kill(b_master, SIGKILL), 0);
  auto killed_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_until(
      [&] {
        auto s = directory.slot("slotB");
        return s.ok() && !s->has_value();
      },
      20s));
  auto gone_after = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - killed_at);
  std::printf("slotB left the directory %lld ms after its master was killed (lease TTL 3 s)\n",
              static_cast<long long>(gone_after.count()));
  auto a_still = directory.slot("slotA");
  ASSERT_TRUE(a_still.ok());
  EXPECT_TRUE(a_still->has_value()) << "the live slot must stay";
  auto refused = inbox_subjects(slot_a, nginx.imap_port(), "alice:alicepw");
  EXPECT_FALSE(refused.ok()) << refused.describe();
  EXPECT_NE(refused.err.find("login failed"), std::string::npos) << refused.describe();
  // Back to slotA (the failover the next session automates): served again.
  ASSERT_TRUE(cyr_cluster(slot_a, {"set-primary", "alice", "slotA"}).ok());
  auto back = inbox_subjects(slot_a, nginx.imap_port(), "alice:alicepw");
  ASSERT_TRUE(back.ok()) << back.describe();
  EXPECT_NE(back.out.find("alice-on-A"), std::string::npos) << back.out;
}

}  // namespace
}  // namespace replimail::testing
