// Replicas placed by policy, and a replica slot that bootstraps the users
// placed on it by itself (issue 19, docs/CLUSTER.md "Replicas placed by
// policy"), on the three-hosts fixture (cluster_hosts.h).
//
// s0 on host 0 holds eight users with mail and no replica; placing them is
// refused (no other host has a slot). n1 registers on host 1; `cyr_cluster
// place --all` puts every user's replica there. Nothing else is done by the
// test: s0's clusterd adds the channel to n1 (imapd.conf, a rolling
// sync_client in cyrus.conf, master SIGHUP), the channel bootstraps (-A)
// and rolls, and the users' bootstrap keys follow (bootstrapping, then
// rolling). The rolling client is SIGKILLed in the middle of its bootstrap:
// master starts it again and it resumes the same bootstrap (bootstrap.json's
// start unchanged). n1's digest then equals s0's.
//
// Then every user is placed elsewhere (here: nowhere): s0's clusterd
// removes the channel it added (imapd.conf, the rolling client, the keys),
// and mail delivered meanwhile is logged to no channel. Placed on n1 again,
// the channel comes back bootstrapping: a fresh bootstrap (a later start)
// brings n1 the mail it missed, and the digests are equal again.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cluster_hosts.h"
#include "common/config.h"
#include "digest_check.h"
#include "harness.h"

namespace replimail::testing {
namespace {

using namespace std::chrono_literals;

const std::vector<std::string> kUsers = {"u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8"};

// The state of every user's copy on `slot` in the directory ("" for a user
// without a key), in kUsers' order.
std::vector<std::string> states_on(cluster::Directory& dir, const std::string& slot) {
  std::vector<std::string> out;
  for (const std::string& u : kUsers) {
    std::string state;
    auto boots = dir.bootstraps(u);
    if (boots.ok())
      for (const cluster::ReplicaBootstrap& b : *boots)
        if (b.slot == slot) state = std::string(cluster::bootstrap_state_name(b.state));
    out.push_back(state);
  }
  return out;
}

// Whether `inst`'s imapd.conf logs to `channel`.
bool logs_to(const Instance& inst, const std::string& channel) {
  auto cfg = Config::load(inst.imapd_conf());
  if (!cfg.ok() || !cfg->get_bool("sync_log")) return false;
  const std::string list = " " + cfg->get("sync_log_channels") + " ";
  return list.find(" " + channel + " ") != std::string::npos;
}

bool all_are(const std::vector<std::string>& states, const std::string& want) {
  for (const std::string& s : states)
    if (s != want) return false;
  return true;
}

TEST(ClusterPlacement, ANewSlotIsPlacedAndBootstrapsItsUsersByItself) {
  ClusterHosts hosts;
  if (auto why = hosts.unavailable(); !why.empty()) GTEST_SKIP() << why;
  ASSERT_EQ(hosts.start(), "");
  ASSERT_EQ(hosts.start_slot({"s0", 0, "primary", {}}), "") << hosts.logs();
  Instance& s0 = hosts.slot("s0");
  for (const std::string& u : kUsers) {
    ASSERT_EQ(hosts.set_user(u, "s0", {}), "");
    auto made = s0.tool("cyr_mbox", {"create", "user." + u});
    ASSERT_TRUE(made.ok()) << made.describe();
    // ~8 MB a user: a bootstrap of ~0.1 s a user, long enough to be caught
    // under way (at 8 KB a message all 8 took 0.13 s, between two polls).
    ASSERT_EQ(deliver(hosts.lmtp_port(), u, 40, u, 200000), "") << hosts.logs();
  }

  // One host has a slot: no replica can be placed, and nothing is written.
  RunResult refused = hosts.front().tool("cyr_cluster", {"place", "--all"});
  EXPECT_EQ(refused.exit_code, 1) << refused.describe();
  EXPECT_NE(refused.out.find("refused user u1: 1 replica(s) wanted"), std::string::npos)
      << refused.describe();
  EXPECT_NE(refused.out.find("only 0 such host(s)"), std::string::npos) << refused.describe();

  // A slot on another host: placed there.
  ASSERT_EQ(hosts.start_slot({"n1", 1, "replica", {}}), "") << hosts.logs();
  RunResult placed = hosts.front().tool("cyr_cluster", {"place", "--all"});
  ASSERT_TRUE(placed.ok()) << placed.describe();
  for (const std::string& u : kUsers) {
    EXPECT_NE(placed.out.find("placed " + u + " replicas=n1 added=n1"), std::string::npos)
        << placed.out;
    auto entry = hosts.directory().user(u);
    ASSERT_TRUE(entry.ok() && entry->has_value());
    EXPECT_EQ((*entry)->replicas, std::vector<std::string>{"n1"});
  }

  // By itself: s0's clusterd adds the channel, master starts its rolling
  // client, which bootstraps. Killed once some users are done and some not.
  const std::string progress = s0.config_dir() + "/sync/n1/bootstrap.json";
  std::set<std::string> seen;
  int64_t started = 0;
  size_t done_at_kill = 0;
  std::vector<pid_t> killed;
  bool caught = wait_until(
      [&] {
        // The progress file first (cheap), the kill at once; the directory's
        // states after (8 etcd reads): the users not done yet still show
        // "bootstrapping" then, as master has yet to start the client again.
        auto j = nlohmann::json::parse(slurp(progress), nullptr, false);
        bool under_way = j.is_object() && j.value("finished", int64_t{0}) == 0 &&
                         j.value("done", size_t{0}) > 0;
        if (under_way) {
          done_at_kill = j.value("done", size_t{0});
          started = j.value("started", int64_t{0});
          killed = processes_running(s0, "-n n1");
          for (pid_t pid : killed) ::kill(pid, SIGKILL);
        }
        for (const std::string& s : states_on(hosts.directory(), "n1")) seen.insert(s);
        return under_way && !killed.empty();
      },
      180s);
  ASSERT_TRUE(caught) << "the bootstrap was not seen under way: " << slurp(progress) << "\n"
                      << hosts.logs();
  std::printf("n1's bootstrap killed with %zu/%zu users done\n", done_at_kill, kUsers.size());
  EXPECT_TRUE(seen.count("bootstrapping")) << "states seen: " << seen.size();
  // Mail goes on arriving meanwhile: the channel's log keeps it.
  ASSERT_EQ(deliver(hosts.lmtp_port(), "u1", 2, "after-kill"), "") << hosts.logs();

  // Master starts the client again; it resumes, then rolls.
  bool rolling =
      wait_until([&] { return all_are(states_on(hosts.directory(), "n1"), "rolling"); }, 180s);
  auto end = nlohmann::json::parse(slurp(progress), nullptr, false);
  ASSERT_TRUE(rolling) << slurp(progress) << "\n" << hosts.logs();
  ASSERT_TRUE(end.is_object()) << slurp(progress);
  EXPECT_EQ(end.value("started", int64_t{0}), started) << "the bootstrap started over";
  EXPECT_NE(end.value("finished", int64_t{0}), 0);
  for (pid_t pid : processes_running(s0, "-n n1"))
    EXPECT_EQ(std::count(killed.begin(), killed.end(), pid), 0);
  EXPECT_TRUE(converges_to_same_digest(s0, hosts.slot("n1"), 120s)) << hosts.logs();

  RunResult listed = hosts.front().tool("cyr_cluster", {"bootstraps"});
  ASSERT_TRUE(listed.ok()) << listed.describe();
  EXPECT_NE(listed.out.find("bootstrap u8 n1 rolling since="), std::string::npos) << listed.out;

  // No user of s0 on n1 any more: the channel s0's clusterd added goes.
  for (const std::string& u : kUsers) ASSERT_EQ(hosts.set_user(u, "s0", {}), "");
  bool removed = wait_until(
      [&] {
        return !logs_to(s0, "n1") && processes_running(s0, "-n n1").empty() &&
               all_are(states_on(hosts.directory(), "n1"), "");
      },
      60s);
  ASSERT_TRUE(removed) << slurp(s0.imapd_conf()) << "\n" << hosts.logs();
  ASSERT_EQ(deliver(hosts.lmtp_port(), "u3", 3, "while-removed"), "") << hosts.logs();

  // Placed there again: a fresh bootstrap brings what was delivered meanwhile.
  for (const std::string& u : kUsers) ASSERT_EQ(hosts.set_user(u, "s0", {"n1"}), "");
  bool back = wait_until(
      [&] {
        auto j = nlohmann::json::parse(slurp(progress), nullptr, false);
        return logs_to(s0, "n1") && j.is_object() && j.value("started", int64_t{0}) > started &&
               j.value("finished", int64_t{0}) != 0 &&
               all_are(states_on(hosts.directory(), "n1"), "rolling");
      },
      180s);
  ASSERT_TRUE(back) << slurp(progress) << "\n" << hosts.logs();
  EXPECT_TRUE(converges_to_same_digest(s0, hosts.slot("n1"), 120s)) << hosts.logs();
}

}  // namespace
}  // namespace replimail::testing
