#include "../../support/temp_dir.h"
#include "metrics/collect.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "common/stats.h"
#include "store/mboxlist.h"

namespace replimail::metrics {
namespace {

using exposition::Family;

std::string temp_dir() {
  return replimail::testing::make_temp_dir("collect_test.");
}

// A child process that publishes into `dir` and either exits at once or
// stays until the returned pipe is written.
struct Writer {
  pid_t pid = -1;
  int go = -1;
  bool stays = false;
  void release() {
    if (go >= 0) {
      // Only a writer that stays reads the pipe: one that exits at once
      // may be gone already, and a write to a pipe nobody reads is SIGPIPE.
      if (stays && ::write(go, "g", 1) != 1) ADD_FAILURE();
      ::close(go);
      go = -1;
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
  }
};

Writer spawn_writer(const std::string& dir, uint64_t deliveries, int64_t active, bool stay) {
  int go[2], ready[2];
  if (::pipe(go) != 0 || ::pipe(ready) != 0) return {};
  pid_t pid = ::fork();
  if (pid == 0) {
    stats::configure_dir(dir);
    stats::counter("replimail_deliveries_total", "Deliveries.", {{"result", "ok"}}).add(deliveries);
    stats::gauge("replimail_service_active_connections", "Active.", {{"service", "lmtp"}})
        .set(active);
    char b = 'r';
    if (::write(ready[1], &b, 1) != 1) ::_exit(1);
    if (stay && ::read(go[0], &b, 1) != 1) ::_exit(1);
    ::_exit(0);
  }
  char b;
  if (::read(ready[0], &b, 1) != 1) ADD_FAILURE();
  ::close(ready[0]);
  ::close(ready[1]);
  ::close(go[0]);
  Writer w{pid, go[1], stay};
  if (!stay) w.release();
  return w;
}

const Family* find(const std::vector<Family>& fs, const std::string& name) {
  for (const Family& f : fs)
    if (f.name == name) return &f;
  return nullptr;
}

double value_of(const std::vector<Family>& fs, const std::string& name, const std::string& series) {
  const Family* f = find(fs, name);
  if (f == nullptr) return -1;
  for (const auto& s : f->samples)
    if (s.series == series) return s.value;
  return -1;
}

TEST(CollectTest, SumsLiveProcessesAndKeepsTheCountersOfDeadOnes) {
  std::string dir = temp_dir();
  const std::string ok = "replimail_deliveries_total{result=\"ok\"}";
  const std::string active = "replimail_service_active_connections{service=\"lmtp\"}";
  Writer a = spawn_writer(dir, 3, 2, true);
  Writer b = spawn_writer(dir, 4, 1, true);
  StatsAggregator agg(dir);
  ASSERT_TRUE(agg.load().is_ok());
  auto fs = agg.collect();
  EXPECT_EQ(value_of(fs, "replimail_deliveries_total", ok), 7);
  EXPECT_EQ(value_of(fs, "replimail_service_active_connections", active), 3);
  ASSERT_NE(find(fs, "replimail_deliveries_total"), nullptr);
  EXPECT_EQ(find(fs, "replimail_deliveries_total")->type, exposition::Type::kCounter);
  EXPECT_EQ(find(fs, "replimail_deliveries_total")->help, "Deliveries.");
  EXPECT_EQ(find(fs, "replimail_service_active_connections")->type, exposition::Type::kGauge);

  // b exits: its counter stays in the sum, its gauge goes, its file goes.
  b.release();
  fs = agg.collect();
  EXPECT_EQ(value_of(fs, "replimail_deliveries_total", ok), 7);
  EXPECT_EQ(value_of(fs, "replimail_service_active_connections", active), 2);
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    files += e.path().extension() == ".stats";
  EXPECT_EQ(files, 1u);

  // A new promstatsd (a fresh aggregator) starts from the retired totals.
  StatsAggregator again(dir);
  ASSERT_TRUE(again.load().is_ok());
  fs = again.collect();
  EXPECT_EQ(value_of(fs, "replimail_deliveries_total", ok), 7);
  EXPECT_EQ(find(fs, "replimail_deliveries_total")->help, "Deliveries.");

  a.release();
  spawn_writer(dir, 10, 5, false);
  fs = again.collect();
  EXPECT_EQ(value_of(fs, "replimail_deliveries_total", ok), 17);
  EXPECT_EQ(find(fs, "replimail_service_active_connections"), nullptr);
  std::filesystem::remove_all(dir);
}

TEST(CollectTest, RetiredFileRoundTripsAndRefusesGarbage) {
  std::map<std::string, uint64_t> totals = {{"a_total{x=\"with space\"}", 5}, {"b_total", 1}};
  std::map<std::string, std::string> help = {{"a_total", "An a."}};
  std::string text = format_retired(totals, help);
  std::map<std::string, uint64_t> t2;
  std::map<std::string, std::string> h2;
  ASSERT_TRUE(parse_retired(text, &t2, &h2).is_ok());
  EXPECT_EQ(t2, totals);
  EXPECT_EQ(h2, help);
  EXPECT_FALSE(parse_retired("a_total five\n", &t2, &h2).is_ok());
  EXPECT_FALSE(parse_retired("novalue\n", &t2, &h2).is_ok());
}

TEST(CollectTest, ChannelFamiliesCarryBacklogLagAndPhase) {
  sync::ChannelReport r;
  r.channel = "replica";
  r.backlog_lines = 5;
  r.backlog_bytes = 120;
  r.oldest_age_ms = 2500;
  r.client_alive = true;
  sync::ChannelStatus st;
  st.connected = true;
  st.lines_applied = 42;
  st.last_success = 1700000000000;
  st.last_lag_ms = 80;
  r.status = st;
  r.phase = store::ChannelState{"replica", store::ChannelPhase::kBootstrapping, 1, ""};
  r.progress = sync::BootstrapEta{3, 10, 4096, 1.0, 100.0, 7};
  sync::ChannelReport idle;
  idle.channel = "";
  auto fs = channel_families({r, idle});
  const std::string ch = "{channel=\"replica\"}";
  EXPECT_EQ(value_of(fs, "replimail_channel_backlog_lines", "replimail_channel_backlog_lines" + ch),
            5);
  EXPECT_EQ(value_of(fs, "replimail_channel_backlog_bytes", "replimail_channel_backlog_bytes" + ch),
            120);
  EXPECT_EQ(value_of(fs, "replimail_channel_oldest_line_age_seconds",
                     "replimail_channel_oldest_line_age_seconds" + ch),
            2.5);
  EXPECT_EQ(value_of(fs, "replimail_channel_lag_seconds", "replimail_channel_lag_seconds" + ch),
            2.5);
  EXPECT_EQ(value_of(fs, "replimail_channel_connected", "replimail_channel_connected" + ch), 1);
  EXPECT_EQ(value_of(fs, "replimail_channel_lines_applied_total",
                     "replimail_channel_lines_applied_total" + ch),
            42);
  EXPECT_EQ(value_of(fs, "replimail_channel_last_batch_lag_seconds",
                     "replimail_channel_last_batch_lag_seconds" + ch),
            0.08);
  EXPECT_EQ(value_of(fs, "replimail_channel_phase",
                     "replimail_channel_phase{channel=\"replica\",phase=\"bootstrapping\"}"),
            1);
  EXPECT_EQ(value_of(fs, "replimail_channel_phase",
                     "replimail_channel_phase{channel=\"replica\",phase=\"rolling\"}"),
            0);
  EXPECT_EQ(value_of(fs, "replimail_channel_bootstrap_users_done",
                     "replimail_channel_bootstrap_users_done" + ch),
            3);
  EXPECT_EQ(value_of(fs, "replimail_channel_bootstrap_users_total",
                     "replimail_channel_bootstrap_users_total" + ch),
            10);
  // The default channel, never run: no backlog, not connected, no phase.
  EXPECT_EQ(value_of(fs, "replimail_channel_backlog_lines",
                     "replimail_channel_backlog_lines{channel=\"\"}"),
            0);
  EXPECT_EQ(
      value_of(fs, "replimail_channel_connected", "replimail_channel_connected{channel=\"\"}"), 0);
  EXPECT_EQ(value_of(fs, "replimail_channel_phase",
                     "replimail_channel_phase{channel=\"\",phase=\"rolling\"}"),
            -1);
}

}  // namespace
}  // namespace replimail::metrics
