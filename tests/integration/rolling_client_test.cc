// Rolling replication end to end: a primary whose master runs
// `sync_client -r -n replica` as a DAEMON, a replica instance running
// sync_server; mail delivered over LMTP must reach the replica on its own,
// through a replica outage (backlog visible in `sync_status -j`), a
// SIGKILLed sync_client (master restarts it; it finishes the log-run), a
// shutdown file, and the bootstrap (`sync_client -A -n replica`) resuming
// only the users an interrupted run left pending.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "digest_check.h"
#include "harness.h"

namespace replimail::testing {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// A primary with channel "replica" to `replica_port`, its rolling client a
// DAEMON of master if `daemon`.
Instance::Options rolling_primary_options(int replica_port, bool daemon) {
  Instance::Options o = primary_options(replica_port);
  if (daemon) o.daemons = {{"syncreplica", "sync_client -r -n replica"}};
  return o;
}

pid_t sync_client_of(const Instance& inst) {
  auto pids = processes_running(inst, "sync_client");
  return pids.empty() ? -1 : pids.front();
}

TEST(RollingClient, DaemonFollowsTheLogThroughAReplicaOutage) {
  Instance replica(replica_options());
  ASSERT_EQ(replica.start(), "");
  Instance primary(rolling_primary_options(replica.port("csync"), true));
  ASSERT_EQ(primary.start(), "");
  ASSERT_TRUE(primary.tool("cyr_mbox", {"create", "user.alice"}).ok());
  ASSERT_TRUE(primary.tool("cyr_mbox", {"create", "user.bob"}).ok());
  ASSERT_EQ(deliver(primary, "alice", 20, "a"), "");
  ASSERT_EQ(deliver(primary, "bob", 5, "b"), "");
  ASSERT_TRUE(wait_until([&] {
    return live_records(replica, "user.alice") == 20 && live_records(replica, "user.bob") == 5;
  })) << primary.master_log();
  // The replica shows the records before the client has recorded its batch
  // in status.json: wait for the record.
  nlohmann::json up;
  ASSERT_TRUE(wait_until([&] {
    up = channel_status(primary);
    return up.is_object() && up["last_lag_ms"].get<int64_t>() >= 0;
  })) << up.dump();
  EXPECT_EQ(up["client_alive"], true) << up.dump();
  EXPECT_EQ(up["connected"], true) << up.dump();

  // Replica down: the backlog grows and shows; the squatter channel does not
  // care.
  replica.stop();
  ASSERT_EQ(deliver(primary, "alice", 10, "c"), "");
  nlohmann::json down;
  ASSERT_TRUE(wait_until([&] {
    down = channel_status(primary);
    return down.is_object() && down["connected"] == false &&
           down["backlog_lines"].get<int64_t>() > 0;
  })) << down.dump();
  EXPECT_GE(down["oldest_age_ms"].get<int64_t>(), 0) << down.dump();
  EXPECT_NE(down["last_error"].get<std::string>(), "") << down.dump();
  EXPECT_EQ(down["client_alive"], true) << down.dump();

  // Back: it reconnects on its own and the backlog drains.
  auto back_at = Clock::now();
  ASSERT_EQ(replica.start(), "");
  ASSERT_TRUE(wait_until([&] { return live_records(replica, "user.alice") == 30; }))
      << primary.master_log();
  auto caught_up = std::chrono::duration_cast<milliseconds>(Clock::now() - back_at);
  std::printf("replica restart to caught up: %lld ms\n", static_cast<long long>(caught_up.count()));
  EXPECT_TRUE(same_mailbox(primary, replica, "user.alice"));
  EXPECT_TRUE(same_mailbox(primary, replica, "user.bob"));
  nlohmann::json after;
  ASSERT_TRUE(wait_until([&] {
    after = channel_status(primary);
    return after["connected"] == true && after["backlog_lines"] == 0;
  })) << after.dump();
  // The channel was new when the primary started: its client bootstrapped
  // it (over the users of the time) before rolling (issue 15).
  EXPECT_EQ(after["bootstrap"], "ready");
  EXPECT_EQ(after["lag_ms"], 0) << after.dump();
  EXPECT_SAME_DIGEST(primary, replica);
}

TEST(RollingClient, KilledMidBatchIsRestartedAndConverges) {
  Instance replica(replica_options());
  ASSERT_EQ(replica.start(), "");
  Instance primary(rolling_primary_options(replica.port("csync"), true));
  ASSERT_EQ(primary.start(), "");
  ASSERT_TRUE(primary.tool("cyr_mbox", {"create", "user.frank"}).ok());
  // Build a big backlog while the replica is away, so that the client is
  // busy with it when killed.
  replica.stop();
  ASSERT_EQ(deliver(primary, "frank", 300, "f", 20000), "");
  ASSERT_EQ(replica.start(), "");
  // Kill it while it uploads: the replica stages the files it receives
  // under sync./<pid>/.
  const std::string staging = replica.partition_dir() + "/sync./";
  bool mid_upload = wait_until(
      [&] {
        std::error_code ec;
        for (auto it = std::filesystem::recursive_directory_iterator(staging, ec);
             !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
          if (it->is_regular_file(ec)) return true;
        return false;
      },
      milliseconds(15000));
  std::printf("sync_client killed %s\n", mid_upload ? "mid-upload" : "later");
  pid_t victim = sync_client_of(primary);
  ASSERT_GT(victim, 0);
  ::kill(victim, SIGKILL);
  ASSERT_TRUE(wait_until([&] {
    pid_t now = sync_client_of(primary);
    return now > 0 && now != victim;
  })) << primary.master_log();
  ASSERT_TRUE(
      wait_until([&] { return live_records(replica, "user.frank") == 300; }, milliseconds(40000)))
      << primary.master_log();
  EXPECT_TRUE(same_mailbox(primary, replica, "user.frank"));
  EXPECT_TRUE(wait_until(
      [&] { return !std::filesystem::exists(primary.channel_log_path("replica") + "-run"); }));
  EXPECT_TRUE(converges_to_same_digest(primary, replica, milliseconds(20000)));
}

TEST(RollingClient, SilentReplicaIsTakenForDeadInSecondsAndLagShowsTheBacklog) {
  Instance replica(replica_options());
  ASSERT_EQ(replica.start(), "");
  Instance::Options po = rolling_primary_options(replica.port("csync"), true);
  po.imapd_extra.push_back("sync_peer_timeout: 2s");
  po.imapd_extra.push_back("sync_reconnect_maxwait: 2s");
  Instance primary(po);
  ASSERT_EQ(primary.start(), "");
  ASSERT_TRUE(primary.tool("cyr_mbox", {"create", "user.hank"}).ok());
  ASSERT_EQ(deliver(primary, "hank", 3, "h"), "");
  ASSERT_TRUE(wait_until([&] { return live_records(replica, "user.hank") == 3; }))
      << primary.master_log();

  // The replica's sync_servers stop answering: the connection stays open
  // (their kernel still acknowledges), nothing more comes back.
  std::vector<pid_t> stopped = processes_running(replica, "sync_server");
  ASSERT_FALSE(stopped.empty());
  for (pid_t pid : stopped) ::kill(pid, SIGSTOP);
  const int64_t stopped_at =
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  ASSERT_EQ(deliver(primary, "hank", 5, "i"), "");

  // Backlog and its age, while stalled: the lag is the oldest line's age.
  nlohmann::json stalled;
  bool aged = wait_until(
      [&] {
        stalled = channel_status(primary);
        return stalled.is_object() && stalled.value("backlog_lines", int64_t{0}) > 0 &&
               stalled.value("lag_ms", int64_t{0}) >= 1000;
      },
      milliseconds(5000));
  nlohmann::json st;
  bool detected = wait_until(
      [&] {
        st = channel_status(primary);
        return st.is_object() &&
               st.value("last_error", std::string()).find("taken for dead") != std::string::npos;
      },
      milliseconds(20000));
  for (pid_t pid : stopped) {
    ::kill(pid, SIGKILL);
    ::kill(pid, SIGCONT);
  }
  ASSERT_TRUE(detected) << st.dump() << primary.master_log();
  const int64_t took = st.value("last_error_time", int64_t{0}) - stopped_at;
  std::printf("silent replica taken for dead after %lld ms\n", static_cast<long long>(took));
  EXPECT_LT(took, 15000) << st.dump();
  EXPECT_TRUE(aged) << stalled.dump();

  // Its master replaces the killed workers; the client reconnects and
  // catches up.
  ASSERT_TRUE(
      wait_until([&] { return live_records(replica, "user.hank") == 8; }, milliseconds(30000)))
      << primary.master_log();
  EXPECT_TRUE(converges_to_same_digest(primary, replica, milliseconds(20000)));
}

TEST(RollingClient, ShutdownFileAndChannelCheck) {
  Instance replica(replica_options());
  ASSERT_EQ(replica.start(), "");
  Instance primary(rolling_primary_options(replica.port("csync"), false));
  ASSERT_EQ(primary.start(), "");
  ASSERT_TRUE(primary.tool("cyr_mbox", {"create", "user.gina"}).ok());
  ASSERT_EQ(deliver(primary, "gina", 3, "g"), "");

  // -1: one pass, exit 0 once drained (-R: in the foreground).
  auto once = primary.tool("sync_client", {"-R", "-1", "-n", "replica"});
  EXPECT_EQ(once.exit_code, 0) << once.describe();
  EXPECT_EQ(live_records(replica, "user.gina"), 3u);

  // A channel nothing is logged to is refused.
  auto wrong = primary.tool("sync_client", {"-r", "-n", "nosuch"});
  EXPECT_EQ(wrong.exit_code, 78) << wrong.describe();
  EXPECT_NE(wrong.err.find("sync_log_channels"), std::string::npos) << wrong.describe();

  // The shutdown file stops a running client with exit 0 and is removed.
  RunResult rolling;
  std::thread t([&] { rolling = primary.tool("sync_client", {"-R", "-n", "replica"}); });
  ASSERT_TRUE(wait_until([&] { return channel_status(primary)["client_alive"] == true; }));
  ASSERT_EQ(deliver(primary, "gina", 2, "h"), "");
  ASSERT_TRUE(wait_until([&] { return live_records(replica, "user.gina") == 5; }));
  std::string shutdown =
      std::filesystem::path(primary.channel_log_path("replica")).parent_path().string() +
      "/shutdown";
  ASSERT_TRUE(spit(shutdown, ""));
  t.join();
  EXPECT_EQ(rolling.exit_code, 0) << rolling.describe();
  EXPECT_FALSE(std::filesystem::exists(shutdown));
  auto st = channel_status(primary);
  EXPECT_EQ(st["client_alive"], false) << st.dump();
  EXPECT_EQ(st["state"], "not running") << st.dump();
}

TEST(RollingClient, BootstrapResumesOnlyPendingUsers) {
  Instance replica(replica_options());
  ASSERT_EQ(replica.start(), "");
  Instance primary(rolling_primary_options(replica.port("csync"), false));
  ASSERT_EQ(primary.start(), "");
  const std::vector<std::string> users = {"u1", "u2", "u3", "u4", "u5", "u6"};
  for (const auto& u : users) {
    ASSERT_TRUE(primary.tool("cyr_mbox", {"create", "user." + u}).ok());
    ASSERT_EQ(deliver(primary, u, 80, u, 8000), "");
  }
  const std::string progress =
      std::filesystem::path(primary.channel_log_path("replica")).parent_path().string() +
      "/bootstrap.json";

  // Interrupted: SIGKILL once some users are done and some are not.
  Background bootstrap(
      {bin_dir() + "/sync_client", "-C", primary.imapd_conf(), "-A", "-n", "replica"});
  ASSERT_GT(bootstrap.pid(), 0);
  size_t done_at_kill = 0;
  bool caught = wait_until(
      [&] {
        auto j = nlohmann::json::parse(slurp(progress), nullptr, false);
        if (!j.is_object()) return false;
        done_at_kill = j["done"].get<size_t>();
        return done_at_kill >= 1;
      },
      milliseconds(30000));
  ::kill(bootstrap.pid(), SIGKILL);
  bootstrap.wait(std::chrono::seconds(10));
  ASSERT_TRUE(caught) << slurp(progress);
  auto mid = nlohmann::json::parse(slurp(progress));
  done_at_kill = mid["done"].get<size_t>();
  std::printf("bootstrap killed with %zu/6 users done%s\n", done_at_kill,
              mid["finished"].get<int64_t>() != 0 ? " (it had finished)" : "");
  if (mid["finished"].get<int64_t>() == 0) {
    EXPECT_EQ(channel_status(primary)["bootstrap"],
              "bootstrap " + std::to_string(done_at_kill) + "/6 users");
  }

  // Resume: only the pending users are synced.
  auto resumed = primary.tool("sync_client", {"-v", "-A", "-n", "replica"});
  ASSERT_TRUE(resumed.ok()) << resumed.describe();
  if (mid["finished"].get<int64_t>() == 0) {
    EXPECT_NE(resumed.out.find("; " + std::to_string(done_at_kill) + " users done before"),
              std::string::npos)
        << resumed.out;
  }
  for (const auto& u : users) EXPECT_TRUE(same_mailbox(primary, replica, "user." + u));
  EXPECT_EQ(channel_status(primary)["bootstrap"], "ready");
  EXPECT_SAME_DIGEST(primary, replica);

  // Deterministic resume: a progress file saying u1..u4 are done (they are
  // not on this second replica) makes -A sync u5 and u6 only.
  Instance replica2(replica_options());
  ASSERT_EQ(replica2.start(), "");
  nlohmann::json fake = {{"channel", "second"}, {"started", 1},
                         {"finished", 0},       {"shared_done", false},
                         {"messages", 0},       {"users", nlohmann::json::array()}};
  for (const auto& u : users)
    fake["users"].push_back({{"user", u}, {"done", u != "u5" && u != "u6"}, {"finished", 0}});
  const std::string second_dir = primary.config_dir() + "/sync/second";
  std::filesystem::create_directories(second_dir);
  ASSERT_TRUE(spit(second_dir + "/bootstrap.json", fake.dump()));
  const std::string target = "127.0.0.1:" + std::to_string(replica2.port("csync"));
  auto partial = primary.tool("sync_client", {"-v", "-A", "-n", "second", "-S", target});
  ASSERT_TRUE(partial.ok()) << partial.describe();
  EXPECT_NE(partial.out.find("uploaded 160 messages"), std::string::npos) << partial.out;
  EXPECT_NE(partial.out.find("; 4 users done before"), std::string::npos) << partial.out;
  EXPECT_NE(replica2.snapshot("user.u1").error, "");
  EXPECT_TRUE(same_mailbox(primary, replica2, "user.u5"));
  EXPECT_TRUE(same_mailbox(primary, replica2, "user.u6"));
  // Finished: the next -A starts over and takes everyone.
  auto full = primary.tool("sync_client", {"-v", "-A", "-n", "second", "-S", target});
  ASSERT_TRUE(full.ok()) << full.describe();
  EXPECT_NE(full.out.find("; 0 users done before"), std::string::npos) << full.out;
  for (const auto& u : users) EXPECT_TRUE(same_mailbox(primary, replica2, "user." + u));
  EXPECT_SAME_DIGEST(primary, replica2);
}

}  // namespace
}  // namespace replimail::testing
