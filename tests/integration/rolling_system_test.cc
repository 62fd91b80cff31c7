// Rolling replication as a system (issue 5): a primary whose master runs one
// rolling `sync_client -r -n <channel>` per replica (DAEMON entries), replicas
// running sync_server and imapd, mail delivered over LMTP at a steady rate and
// flags changed over IMAP, and then parts taken away: a replica stopped, the
// primary's master SIGKILLed, the link to a replica in another network
// namespace cut, replicas added and removed live, a chain primary -> A -> B.
// Every check reads the replicas through IMAP (tests/integration/py/
// imap_compare.py: UIDs, flags, INTERNALDATE, SHA-1 of each message) and
// checks that every acknowledged message is there exactly once.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "digest_check.h"
#include "harness.h"
#include "netns.h"
#include "store/instance.h"

namespace replimail::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

const std::map<std::string, std::string> kUsers = {{"admin", "adminpw"}, {"alice", "alicepw"}};

// steady_load.py against `primary` (alice's INBOX), run in the background.
std::unique_ptr<Background> start_load(const Instance& primary, int n, int rate,
                                       const std::string& prefix,
                                       std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {"/usr/bin/python3",
                                   py_script("steady_load.py"),
                                   "--lmtp-port",
                                   std::to_string(primary.lmtp_port()),
                                   "--user",
                                   "alice",
                                   "-n",
                                   std::to_string(n),
                                   "--rate",
                                   std::to_string(rate),
                                   "--prefix",
                                   prefix};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return std::make_unique<Background>(argv);
}

// The acknowledged ids of a finished load, failing the test on bad output.
std::vector<std::string> acked_of(const RunResult& r) {
  auto j = json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.describe();
  if (j.is_discarded()) return {};
  return j["acked"].get<std::vector<std::string>>();
}

std::vector<std::string> load(const Instance& primary, int n, int rate, const std::string& prefix,
                              std::vector<std::string> extra = {}) {
  auto r = start_load(primary, n, rate, prefix, std::move(extra))->wait(300s);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  return acked_of(r);
}

std::string imap_server(const Instance& inst, const std::string& host = "127.0.0.1") {
  return host + ":" + std::to_string(inst.port("imap"));
}

// imap_compare.py over alice's INBOX: waits until `servers` converge, then
// compares them with the first.
json compare(const std::vector<std::string>& servers, int wait_secs = 60) {
  std::vector<std::string> argv = {
      "/usr/bin/python3", py_script("imap_compare.py"), "--user", "alice", "--password", "alicepw",
      "--wait",           std::to_string(wait_secs)};
  argv.insert(argv.end(), servers.begin(), servers.end());
  auto r = run(argv, "", std::chrono::seconds(wait_secs + 120));
  auto j = json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.describe();
  return j.is_discarded() ? json::object() : j;
}

// The servers converged, are identical, and each holds every acknowledged
// message exactly once.
void expect_replicated(const json& cmp, const std::vector<std::string>& acked) {
  ASSERT_TRUE(cmp.contains("converged")) << cmp.dump();
  EXPECT_TRUE(cmp["converged"].get<bool>()) << cmp["status"].dump();
  EXPECT_TRUE(cmp["equal"].get<bool>()) << cmp["differences"].dump();
  for (const auto& [server, ids] : cmp["ids"].items()) {
    size_t lost = 0, duplicated = 0;
    std::string first_lost;
    for (const auto& id : acked) {
      if (!ids.contains(id)) {
        if (lost++ == 0) first_lost = id;
      }
    }
    for (const auto& [id, count] : ids.items()) {
      if (count.get<int>() != 1) duplicated++;
    }
    EXPECT_EQ(lost, 0u) << server << " lacks acknowledged messages, first " << first_lost;
    EXPECT_EQ(duplicated, 0u) << server << " holds messages more than once";
  }
}

// A replica: sync_server and imapd; `extra` imapd.conf lines; no sync log
// unless `channels` is given (then it chains on to them).
Instance::Options replica_options(std::vector<std::string> channels = {},
                                  std::vector<std::string> extra = {}) {
  Instance::Options o;
  o.services = {{"csync", "sync_server"}, {"imap", "imapd"}};
  o.users = kUsers;
  o.channels = std::move(channels);
  o.sync_log = !o.channels.empty();
  o.imapd_extra = {"failedloginpause: 0"};
  o.imapd_extra.insert(o.imapd_extra.end(), extra.begin(), extra.end());
  return o;
}

// imapd.conf lines pointing `channel` at `replica`'s sync_server.
std::vector<std::string> channel_lines(const std::string& channel, const Instance& replica,
                                       const std::string& host = "127.0.0.1") {
  return {channel + "_sync_host: " + host,
          channel + "_sync_port: " + std::to_string(replica.port("csync"))};
}

// The client side of replication: sync_authname/password for every channel,
// short timeouts so that a dead link is noticed in seconds.
std::vector<std::string> client_lines() {
  return {"sync_authname: admin", "sync_password: adminpw", "sync_timeout: 5s",
          "sync_reconnect_maxwait: 2s", "failedloginpause: 0"};
}

// A primary with one rolling channel per (name, replica), plus squatter.
Instance::Options primary_options(
    const std::vector<std::pair<std::string, const Instance*>>& channels,
    const std::string& host = "127.0.0.1") {
  Instance::Options o;
  o.services = {{"lmtp", "lmtpd -a"}, {"imap", "imapd"}};
  o.users = kUsers;
  o.channels.clear();
  o.imapd_extra = client_lines();
  for (const auto& [name, replica] : channels) {
    o.channels.push_back(name);
    auto lines = channel_lines(name, *replica, host);
    o.imapd_extra.insert(o.imapd_extra.end(), lines.begin(), lines.end());
    o.daemons["sync" + name] = "sync_client -r -n " + name;
  }
  o.channels.push_back("squatter");
  return o;
}

int backlog_of(const json& status) {
  return status.contains("backlog_lines") && status["backlog_lines"].is_number()
             ? status["backlog_lines"].get<int>()
             : -1;
}

// Creates alice's INBOX on the primary (the rolling clients carry it over).
void create_alice(const Instance& primary) {
  auto r = primary.tool("cyr_mbox", {"create", "user.alice"});
  ASSERT_TRUE(r.ok()) << r.describe();
}

// A primary logging to channels repa and repb, one replica on each.
struct TwoReplicas {
  Instance a{replica_options()}, b{replica_options()};
  Instance primary{primary_options({{"repa", &a}, {"repb", &b}})};

  // Starts the replicas, then the primary, and creates alice's INBOX; ""
  // or why an instance did not start.
  std::string start() {
    for (Instance* i : {&a, &b, &primary}) {
      std::string why = i->start();
      if (!why.empty()) return why;
    }
    create_alice(primary);
    return "";
  }
};

TEST(RollingSystem, TwoChannelsCarryEveryDeliveryAndFlagChange) {
  TwoReplicas set;
  ASSERT_EQ(set.start(), "");
  Instance &a = set.a, &b = set.b, &primary = set.primary;

  auto t0 = Clock::now();
  auto acked = load(primary, 2000, 100, "s",
                    {"--imap-port", std::to_string(primary.port("imap")), "--password", "alicepw",
                     "--flag-every", "10"});
  EXPECT_EQ(acked.size(), 2000u);
  auto cmp = compare({imap_server(primary), imap_server(a), imap_server(b)});
  expect_replicated(cmp, acked);
  EXPECT_TRUE(converges_to_same_digest(primary, a, 20s));
  EXPECT_TRUE(converges_to_same_digest(primary, b, 20s));
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - t0).count();
  std::cerr << "2000 deliveries + flag changes replicated to two channels in " << secs
            << " s; converged " << cmp.value("seconds", -1.0) << " s after the last delivery\n";
}

TEST(RollingSystem, StoppedReplicaBacklogGrowsThenDrains) {
  TwoReplicas set;
  ASSERT_EQ(set.start(), "");
  Instance &a = set.a, &b = set.b, &primary = set.primary;
  auto acked = load(primary, 50, 200, "before");
  expect_replicated(compare({imap_server(primary), imap_server(a), imap_server(b)}), acked);

  EXPECT_EQ(b.stop(), 0);
  auto during = load(primary, 200, 200, "during");
  acked.insert(acked.end(), during.begin(), during.end());
  // A keeps up while B is away.
  expect_replicated(compare({imap_server(primary), imap_server(a)}), acked);
  json sb, sa;
  EXPECT_TRUE(wait_until(
      [&] {
        sa = channel_status(primary, "repa");
        sb = channel_status(primary, "repb");
        return backlog_of(sb) > 0 && backlog_of(sa) == 0 && !sb.value("connected", true);
      },
      10s))
      << "repa: " << sa.dump() << "\nrepb: " << sb.dump();

  ASSERT_EQ(b.start(), "");
  auto after = load(primary, 50, 200, "after");
  acked.insert(acked.end(), after.begin(), after.end());
  expect_replicated(compare({imap_server(primary), imap_server(a), imap_server(b)}), acked);
  EXPECT_TRUE(wait_until([&] { return backlog_of(channel_status(primary, "repb")) == 0; }, 10s))
      << channel_status(primary, "repb").dump();
  EXPECT_TRUE(converges_to_same_digest(primary, a, 20s));
  EXPECT_TRUE(converges_to_same_digest(primary, b, 20s));
}

TEST(RollingSystem, PrimaryMasterKilledDuringDeliveryLosesNoAcknowledgedMessage) {
  TwoReplicas set;
  ASSERT_EQ(set.start(), "");
  Instance &a = set.a, &b = set.b, &primary = set.primary;

  auto loader = start_load(primary, 600, 100, "k", {"--retry", "60"});
  // During delivery: once a good part of it has been acknowledged.
  ASSERT_TRUE(
      wait_until([&] { return primary.snapshot("user.alice").records.size() >= 150; }, 120s));
  // master and every descendant recorded now: lmtpd, imapd, the sync_clients.
  pid_t master = primary.master_pid();
  auto family = descendants_of(master);
  ASSERT_FALSE(processes_running(primary, "sync_client").empty());
  kill(master, SIGKILL);
  for (pid_t p : family) kill(p, SIGKILL);
  primary.stop();  // reaps the killed master
  ASSERT_EQ(primary.start(), "");

  auto r = loader->wait(300s);
  auto acked = acked_of(r);
  EXPECT_GT(acked.size(), 500u) << r.out;
  expect_replicated(compare({imap_server(primary), imap_server(a), imap_server(b)}), acked);
  EXPECT_TRUE(converges_to_same_digest(primary, a, 20s));
  EXPECT_TRUE(converges_to_same_digest(primary, b, 20s));
}

TEST(RollingSystem, LinkToAReplicaInAnotherNamespaceCutAndRestored) {
  NetnsLink link;
  if (!link.error().empty()) GTEST_SKIP() << "no network namespace: " << link.error();
  Instance a(replica_options()), b(replica_options());
  // B listens on every address of its namespace (loopback for the harness,
  // the veth end for the primary).
  std::string conf = slurp(b.cyrus_conf());
  for (size_t at; (at = conf.find("listen=\"127.0.0.1:")) != std::string::npos;)
    conf.replace(at, 18, "listen=\"0.0.0.0:");
  ASSERT_TRUE(spit(b.cyrus_conf(), conf));
  Instance::Options po = primary_options({{"repa", &a}});
  po.channels.insert(po.channels.begin(), "repb");
  auto lines = channel_lines("repb", b, link.inside_address());
  po.imapd_extra.insert(po.imapd_extra.end(), lines.begin(), lines.end());
  po.daemons["syncrepb"] = "sync_client -r -n repb";
  Instance primary(po);
  ASSERT_EQ(a.start(), "");
  ASSERT_EQ(link.enter(), "");
  std::string started = b.start();
  ASSERT_EQ(link.leave(), "");
  ASSERT_EQ(started, "");
  ASSERT_EQ(primary.start(), "");
  create_alice(primary);

  const std::string b_imap = imap_server(b, link.inside_address());
  auto acked = load(primary, 50, 200, "up");
  expect_replicated(compare({imap_server(primary), imap_server(a), b_imap}), acked);

  ASSERT_EQ(link.cut(), "");
  auto t_cut = Clock::now();
  auto cut = load(primary, 200, 100, "cut");
  acked.insert(acked.end(), cut.begin(), cut.end());
  // The other channel is unaffected: A converges while B is unreachable.
  auto cmp_a = compare({imap_server(primary), imap_server(a)}, 20);
  expect_replicated(cmp_a, acked);
  EXPECT_LT(cmp_a.value("seconds", 99.0), 5.0) << "repa held back by the cut link";
  EXPECT_GT(backlog_of(channel_status(primary, "repb")), 0);
  std::this_thread::sleep_until(t_cut + 8s);  // past sync_timeout: the client noticed

  ASSERT_EQ(link.restore(), "");
  auto cmp = compare({imap_server(primary), imap_server(a), b_imap});
  expect_replicated(cmp, acked);
  std::cerr << "repb caught up " << cmp.value("seconds", -1.0) << " s after the link came back\n";
}

TEST(RollingSystem, ReplicaAddedAndBootstrappedLiveThenRemoved) {
  Instance a(replica_options()), c(replica_options());
  Instance primary(primary_options({{"repa", &a}}));
  ASSERT_EQ(a.start(), "");
  ASSERT_EQ(c.start(), "");
  ASSERT_EQ(primary.start(), "");
  create_alice(primary);
  auto first = load(primary, 100, 200, "old");

  // Mail keeps arriving (a new LMTP connection every 20 messages, as from an
  // MTA) while repc is added.
  auto loader = start_load(primary, 600, 50, "live", {"--reconnect-every", "20"});
  ASSERT_TRUE(wait_until([&] { return live_records(primary, "user.alice") > first.size(); }, 30s));
  auto& o = primary.options();
  o.channels.insert(o.channels.begin(), "repc");
  auto lines = channel_lines("repc", c);
  o.imapd_extra.insert(o.imapd_extra.end(), lines.begin(), lines.end());
  o.daemons["syncrepc"] = "sync_client -r -n repc";
  primary.reload();
  // Logging to the new channel has started (a new lmtpd) before the bootstrap.
  ASSERT_TRUE(wait_until(
      [&] {
        return !processes_running(primary, "-n repc").empty() &&
               (std::filesystem::exists(primary.channel_log_path("repc")) ||
                std::filesystem::exists(primary.channel_log_path("repc") + "-run"));
      },
      20s));
  // repc bootstraps by itself (recorded as bootstrapping by master).
  ASSERT_TRUE(wait_until(
      [&] { return channel_status(primary, "repc").value("phase", "") == "rolling"; }, 120s))
      << channel_status(primary, "repc").dump();
  auto r = loader->wait(300s);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  auto acked = acked_of(r);
  acked.insert(acked.end(), first.begin(), first.end());
  expect_replicated(compare({imap_server(primary), imap_server(a), imap_server(c)}), acked);
  EXPECT_TRUE(converges_to_same_digest(primary, a, 20s));
  EXPECT_TRUE(converges_to_same_digest(primary, c, 20s));
  EXPECT_NE(channel_status(primary, "repc").dump().find("ready"), std::string::npos)
      << channel_status(primary, "repc").dump();

  // Removed the same way: its client stops and its log gets no more lines.
  o.channels.erase(o.channels.begin());
  o.daemons.erase("syncrepc");
  primary.reload();
  EXPECT_TRUE(
      wait_until([&] { return processes_running(primary, "-n repc").empty(); }, 20s));
  const std::string log = primary.channel_log_path("repc");
  const std::string before = slurp(log) + "|" + slurp(log + "-run");
  auto later = load(primary, 30, 100, "gone");
  EXPECT_EQ(slurp(log) + "|" + slurp(log + "-run"), before);
  acked.insert(acked.end(), later.begin(), later.end());
  expect_replicated(compare({imap_server(primary), imap_server(a)}), acked);
  EXPECT_TRUE(converges_to_same_digest(primary, a, 20s));
}

TEST(RollingSystem, ChainPrimaryToAToBEndsIdentical) {
  Instance b(replica_options());
  // A is a replica that feeds B: sync_log_chain makes its sync_server log
  // what it applies to A's channel repb, which A's own rolling client reads.
  auto ao = replica_options({"repb"}, {"sync_log_chain: 1"});
  auto a_client = client_lines();
  auto a_channel = channel_lines("repb", b);
  ao.imapd_extra.insert(ao.imapd_extra.end(), a_client.begin(), a_client.end());
  ao.imapd_extra.insert(ao.imapd_extra.end(), a_channel.begin(), a_channel.end());
  ao.daemons["syncrepb"] = "sync_client -r -n repb";
  Instance a(ao);
  Instance primary(primary_options({{"repa", &a}}));
  ASSERT_EQ(b.start(), "");
  ASSERT_EQ(a.start(), "");
  ASSERT_EQ(primary.start(), "");
  create_alice(primary);
  auto acked = load(primary, 300, 100, "chain",
                    {"--imap-port", std::to_string(primary.port("imap")), "--password", "alicepw",
                     "--flag-every", "7"});
  expect_replicated(compare({imap_server(primary), imap_server(a), imap_server(b)}), acked);

  // What a replica writes beside the records (mailboxes.db entry, mailbox
  // annotations, another user's seen state) must go down the chain too:
  // A logs it for B only if it goes through A's one mutation path.
  {
    auto st = open_store(primary);
    ASSERT_TRUE(st);
    store::Instance& ps = *st;
    ASSERT_TRUE(ps.set_acl("user.alice", "alice\tlrswipkxtecdan\tadmin\tlrs\t"));
    ASSERT_TRUE(ps.set_annotation("user.alice", "/comment", "", "down the chain"));
    auto folder = ps.create_mailbox("user.alice.Chained");
    ASSERT_TRUE(folder.ok()) << folder.status().to_string();
    ASSERT_TRUE(ps.set_acl("user.alice.Chained", "alice\tlrswipkxtecdan\tanyone\tlr\t"));
    auto inbox = ps.lookup("user.alice");
    ASSERT_TRUE(inbox.ok());
    store::SeenRecord seen;
    seen.uniqueid = inbox->uniqueid;
    seen.lastuid = 5;
    seen.seenuids = "1:5";
    ASSERT_TRUE(ps.set_seen("admin", seen));
  }
  EXPECT_TRUE(converges_to_same_digest(primary, a, 30s));
  EXPECT_TRUE(converges_to_same_digest(primary, b, 30s));
}

// ---- A new replica bootstraps itself (issue 15) ----

// `channel`'s bootstrap.json on `inst`: user -> finished (unix ms) of every
// user done; the total in `total`.
std::map<std::string, int64_t> bootstrap_done(const Instance& inst, const std::string& channel,
                                              size_t* total = nullptr) {
  std::map<std::string, int64_t> out;
  auto j = json::parse(slurp(inst.config_dir() + "/sync/" + channel + "/bootstrap.json"), nullptr,
                       false);
  if (j.is_discarded() || !j.contains("users")) return out;
  if (total) *total = j["users"].size();
  for (const auto& u : j["users"])
    if (u.value("done", false)) out[u["user"].get<std::string>()] = u["finished"].get<int64_t>();
  return out;
}

// Kills (SIGKILL) the rolling sync_client of `channel`; its pid, 0 if none ran.
pid_t kill_client(const Instance& primary, const std::string& channel) {
  auto pids = processes_running(primary, "-n " + channel);
  for (pid_t p : pids) ::kill(p, SIGKILL);
  // Dead (a zombie for master to reap): it writes nothing more.
  for (pid_t p : pids) EXPECT_TRUE(wait_until([&] { return !pid_alive(p); }, 10s));
  return pids.empty() ? 0 : pids[0];
}

TEST(RollingBootstrap, ReplicaAddedToARunningPrimaryBootstrapsByItselfThroughTwoKillsThenRolls) {
  Instance a(replica_options()), n(replica_options());
  Instance primary(primary_options({{"repa", &a}}));
  ASSERT_EQ(a.start(), "");
  ASSERT_EQ(n.start(), "");
  ASSERT_EQ(primary.start(), "");
  create_alice(primary);
  // 1,000 users with two messages each: INBOXes made through the primary's
  // store (logged to repa as any creation), then one LMTP transaction per
  // message, every user a recipient.
  constexpr int kBulkUsers = 1000;
  {
    auto store = open_store(primary);
    ASSERT_TRUE(store);
    for (int i = 0; i < kBulkUsers; i++) {
      char name[24];
      std::snprintf(name, sizeof name, "user.u%04d", i);
      auto made = store->create_mailbox(name);
      ASSERT_TRUE(made.ok()) << made.status().to_string();
    }
  }
  std::vector<std::string> deliver = {"/usr/bin/python3",
                                      py_script("lmtp_deliver.py"),
                                      "--port",
                                      std::to_string(primary.lmtp_port()),
                                      "-n",
                                      "2",
                                      "--prefix",
                                      "bulk"};
  for (int i = 0; i < kBulkUsers; i++) {
    char name[16];
    std::snprintf(name, sizeof name, "u%04d", i);
    deliver.insert(deliver.end(), {"--rcpt", name});
  }
  auto bulk = run(deliver, "", 300s);
  ASSERT_TRUE(bulk.ok()) << bulk.describe().substr(0, 600);

  // repn is added to the running primary: its channel, its host, its
  // rolling client; master re-reads (and records repn as bootstrapping).
  auto& o = primary.options();
  o.channels.insert(o.channels.begin(), "repn");
  auto lines = channel_lines("repn", n);
  o.imapd_extra.insert(o.imapd_extra.end(), lines.begin(), lines.end());
  o.daemons["syncrepn"] = "sync_client -r -n repn";
  auto loader = start_load(primary, 300, 30, "live", {"--reconnect-every", "20"});
  primary.reload();

  // Killed twice while bootstrapping; master starts it again and it resumes.
  std::map<std::string, int64_t> done_before_kills;
  size_t total = 0;
  for (size_t at : {150u, 500u}) {
    ASSERT_TRUE(wait_until(
        [&] {
          return bootstrap_done(primary, "repn", &total).size() >= at &&
                 channel_status(primary, "repn").value("phase", "") == "bootstrapping";
        },
        120s))
        << channel_status(primary, "repn").dump();
    json st = channel_status(primary, "repn");
    ASSERT_TRUE(st.contains("bootstrap_progress")) << st.dump();
    EXPECT_EQ(st["bootstrap_progress"]["users_total"].get<size_t>(), kBulkUsers + 1u) << st.dump();
    EXPECT_GT(st["bootstrap_progress"]["bytes"].get<uint64_t>(), 0u) << st.dump();
    ASSERT_NE(kill_client(primary, "repn"), 0);
    // What the killed client had saved is what a resumed one must not redo.
    auto saved = bootstrap_done(primary, "repn");
    done_before_kills.insert(saved.begin(), saved.end());
  }
  ASSERT_TRUE(wait_until(
      [&] { return channel_status(primary, "repn").value("phase", "") == "rolling"; }, 240s))
      << channel_status(primary, "repn").dump() << primary.master_log();
  auto after = bootstrap_done(primary, "repn", &total);
  EXPECT_EQ(after.size(), total);
  EXPECT_EQ(total, kBulkUsers + 1u);
  size_t redone = 0;
  for (const auto& [user, finished] : done_before_kills) redone += after[user] != finished;
  EXPECT_EQ(redone, 0u) << "users done before a kill were synced again after it";
  EXPECT_NE(primary.master_log().find("resuming"), std::string::npos);

  auto r = loader->wait(300s);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  // Rolling now: mail delivered from here on reaches repn through its log.
  auto later = load(primary, 20, 100, "rolled");
  auto acked = acked_of(r);
  acked.insert(acked.end(), later.begin(), later.end());
  expect_replicated(compare({imap_server(primary), imap_server(a), imap_server(n)}), acked);
  EXPECT_TRUE(converges_to_same_digest(primary, n, 60s));
  EXPECT_TRUE(converges_to_same_digest(primary, a, 60s));
  auto text = primary.tool("sync_status", {});
  EXPECT_NE(text.out.find("replication  rolling since"), std::string::npos) << text.out;
}

TEST(RollingBootstrap, RefusedBootstrapFailsWithItsReasonInSyncStatus) {
  Instance n(replica_options());
  ASSERT_EQ(n.start(), "");
  Instance::Options po = primary_options({{"repn", &n}});
  po.imapd_extra.push_back("repn_sync_password: not-the-password");
  Instance primary(po);
  ASSERT_EQ(primary.start(), "");
  ASSERT_TRUE(wait_until(
      [&] { return channel_status(primary, "repn").value("phase", "") == "failed"; }, 60s))
      << channel_status(primary, "repn").dump();
  json st = channel_status(primary, "repn");
  const std::string reason = st.value("phase_reason", "");
  EXPECT_NE(reason.find("refused"), std::string::npos) << reason;
  EXPECT_NE(reason.find("authentication as admin failed"), std::string::npos) << reason;
  EXPECT_EQ(reason.find('\n'), std::string::npos);
  auto text = primary.tool("sync_status", {});
  EXPECT_NE(text.out.find("replication  failed since"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find(reason), std::string::npos) << text.out;
  // Failed stays failed (a restart or new mail does not retry it; an
  // operator's `sync_client -A -n repn` does).
  ASSERT_GT(kill_client(primary, "repn"), 0);
  create_alice(primary);
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(channel_status(primary, "repn").value("phase", ""), "failed");
}

}  // namespace
}  // namespace replimail::testing
