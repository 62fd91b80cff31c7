// status.json round trip, the rate-limited writer, and what sync_status
// reads from a channel's files.
#include "sync/channel_status.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/fs.h"
#include "sync/bootstrap.h"

namespace replimail::sync {
namespace {

class ChannelStatusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "chstatus-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

ChannelStatus sample() {
  ChannelStatus s;
  s.channel = "replica";
  s.pid = 4242;
  s.connected = true;
  s.replica = "127.0.0.1:2005";
  s.state = "idle";
  s.last_success = 1790000000123;
  s.last_error = "user bob: IMAP_MAILBOX_LOCKED: \"user.bob\"";
  s.last_error_time = 1790000000001;
  s.batches = 17;
  s.lines_applied = 9000;
  s.last_lag_ms = 4;
  s.updated = 1790000000200;
  return s;
}

TEST_F(ChannelStatusTest, JsonRoundTrip) {
  ChannelStatus s = sample();
  auto back = status_from_json(to_json(s));
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(*back, s);
  // The field names are the interface sync_status and R2's tests read.
  auto j = nlohmann::json::parse(to_json(s));
  for (const char* key : {"channel", "pid", "connected", "replica", "last_success", "last_error",
                          "last_error_time", "batches", "lines_applied", "last_lag_ms"})
    EXPECT_TRUE(j.contains(key)) << key;
}

TEST_F(ChannelStatusTest, MalformedJsonIsAnError) {
  EXPECT_FALSE(status_from_json("").ok());
  EXPECT_FALSE(status_from_json("[1,2]").ok());
  EXPECT_FALSE(status_from_json("{\"channel\": 3}").ok());
  EXPECT_FALSE(status_from_json("{\"channel\": \"x\"}").ok());
}

TEST_F(ChannelStatusTest, WriterRateLimitsButForcesStateChanges) {
  StatusFile f(dir_ + "/status.json", std::chrono::milliseconds(300));
  ChannelStatus s = sample();
  f.update(s, false);  // first write: nothing written before
  s.batches = 18;
  f.update(s, false);  // within 300 ms: held back
  auto text = fs::read_file(f.path());
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(status_from_json(*text)->batches, 17u);
  ASSERT_TRUE(f.flush_due().has_value());
  EXPECT_GT(f.flush_due()->count(), 0);
  s.batches = 19;
  f.update(s, true);  // forced
  EXPECT_EQ(status_from_json(*fs::read_file(f.path()))->batches, 19u);
  EXPECT_FALSE(f.flush_due().has_value());
  s.batches = 20;
  f.update(s, false);
  f.flush();
  EXPECT_EQ(status_from_json(*fs::read_file(f.path()))->batches, 20u);
  EXPECT_GT(status_from_json(*fs::read_file(f.path()))->updated, 0);
}

TEST_F(ChannelStatusTest, CountsLinesOfMissingAndPresentFiles) {
  EXPECT_EQ(*count_lines(dir_ + "/none"), 0u);
  ASSERT_TRUE(fs::write_file_atomic(dir_ + "/f", "A x\nB y\nC z\n"));
  EXPECT_EQ(*count_lines(dir_ + "/f"), 3u);
  EXPECT_FALSE(file_birth_ms(dir_ + "/none").has_value());
  auto born = file_birth_ms(dir_ + "/f");
  ASSERT_TRUE(born.has_value());
  EXPECT_LE(std::abs(*born - unix_ms_now()), 5000);
}

TEST_F(ChannelStatusTest, InspectsBacklogStatusAndBootstrap) {
  const std::string conf = dir_ + "/conf";
  EXPECT_EQ(channel_dir(conf, "replica"), conf + "/sync/replica");
  EXPECT_EQ(channel_dir(conf, ""), conf + "/sync");
  ASSERT_TRUE(fs::make_dirs(channel_dir(conf, "replica")));

  // Nothing there yet: no backlog, never ran.
  int64_t now = unix_ms_now();
  ChannelReport empty = inspect_channel(conf, "replica", now);
  EXPECT_EQ(empty.backlog_lines, 0u);
  EXPECT_EQ(empty.oldest_age_ms, -1);
  EXPECT_FALSE(empty.status.has_value());
  EXPECT_FALSE(empty.client_alive);
  EXPECT_EQ(empty.bootstrap, "none");

  ASSERT_TRUE(fs::write_file_atomic(conf + "/sync/replica/log-run", "MAILBOX user.a\nUSER b\n"));
  ASSERT_TRUE(fs::write_file_atomic(conf + "/sync/replica/log", "MAILBOX user.c\n"));
  ChannelStatus mine = sample();
  mine.pid = ::getpid();
  ASSERT_TRUE(fs::write_file_atomic(status_path(conf, "replica"), to_json(mine)));
  BootstrapProgress bp;
  bp.channel = "replica";
  bp.started = 1;
  bp.users = {{"a", true, 5, 0, {}}, {"b", false, 0, 0, {}}, {"c", false, 0, 0, {}}};
  ASSERT_TRUE(fs::write_file_atomic(bootstrap_path(conf, "replica"), to_json(bp)));

  now = unix_ms_now() + 1500;
  ChannelReport r = inspect_channel(conf, "replica", now);
  EXPECT_EQ(r.backlog_lines, 3u);
  EXPECT_GE(r.oldest_age_ms, 1500);
  ASSERT_TRUE(r.status.has_value());
  EXPECT_TRUE(r.client_alive);  // our own pid
  EXPECT_EQ(r.bootstrap, "bootstrap 1/3 users");

  auto j = nlohmann::json::parse(reports_json({r, empty}));
  ASSERT_EQ(j["channels"].size(), 2u);
  EXPECT_EQ(j["channels"][0]["channel"], "replica");
  EXPECT_EQ(j["channels"][0]["backlog_lines"], 3);
  EXPECT_EQ(j["channels"][0]["connected"], true);
  EXPECT_EQ(j["channels"][0]["last_lag_ms"], 4);
  // The lag is the age of the oldest unreplicated line, not the last
  // batch's 4 ms: a stalled channel must not look current.
  EXPECT_GE(j["channels"][0]["lag_ms"].get<int64_t>(), 1500);
  EXPECT_EQ(j["channels"][1]["lag_ms"], 0);
  EXPECT_EQ(j["channels"][0]["bootstrap"], "bootstrap 1/3 users");
  EXPECT_EQ(j["channels"][1]["connected"], false);
  EXPECT_EQ(j["channels"][1]["state"], "never ran");

  std::string text = reports_text({r}, now);
  EXPECT_NE(text.find("channel replica"), std::string::npos) << text;
  EXPECT_NE(text.find("backlog      3 lines"), std::string::npos) << text;
  EXPECT_NE(text.find("running (pid"), std::string::npos) << text;
  EXPECT_NE(text.find("bootstrap 1/3 users"), std::string::npos) << text;
  EXPECT_EQ(text.find("lag          4 ms"), std::string::npos) << text;
  EXPECT_EQ(text.find("lag          0.0 s"), std::string::npos) << text;

  // A dead pid is reported as not running and not connected.
  mine.pid = 0x3ffffff0;
  ASSERT_TRUE(fs::write_file_atomic(status_path(conf, "replica"), to_json(mine)));
  ChannelReport dead = inspect_channel(conf, "replica", now);
  EXPECT_FALSE(dead.client_alive);
  auto jd = nlohmann::json::parse(reports_json({dead}));
  EXPECT_EQ(jd["channels"][0]["connected"], false);
  EXPECT_EQ(jd["channels"][0]["state"], "not running");

  // A garbled status file is reported, not fatal.
  ASSERT_TRUE(fs::write_file_atomic(status_path(conf, "replica"), "{garbage"));
  ChannelReport bad = inspect_channel(conf, "replica", now);
  EXPECT_FALSE(bad.status.has_value());
  EXPECT_NE(bad.status_error, "");
}

TEST_F(ChannelStatusTest, ShowsTheChannelPhaseWithBootstrapProgressOrFailureReason) {
  const std::string conf = dir_ + "/conf";
  ASSERT_TRUE(fs::make_dirs(channel_dir(conf, "replica")));
  const int64_t now = 1'000'000'000;
  BootstrapProgress bp;
  bp.channel = "replica";
  bp.started = now - 10'000;
  bp.bytes = 20u << 20;
  for (int i = 0; i < 100; i++) bp.users.push_back({"u" + std::to_string(i), i < 25, 5, 0, {}});
  ASSERT_TRUE(fs::write_file_atomic(bootstrap_path(conf, "replica"), to_json(bp)));
  store::ChannelState boot{"replica", store::ChannelPhase::kBootstrapping, now - 12'000, ""};
  ChannelReport r = inspect_channel(conf, "replica", now, boot);
  ASSERT_TRUE(r.progress.has_value());
  EXPECT_EQ(r.progress->done, 25u);
  EXPECT_EQ(r.progress->eta_s, 30);  // 25 users in 10 s: 75 more in 30 s
  std::string text = reports_text({r}, now);
  EXPECT_NE(text.find("replication  bootstrapping since 12.0 s ago: 25/100 users, 20.0 MiB, "
                      "2.0 MiB/s, ETA 0:30\n"),
            std::string::npos)
      << text;
  auto j = nlohmann::json::parse(reports_json({r}))["channels"][0];
  EXPECT_EQ(j["phase"], "bootstrapping");
  EXPECT_EQ(j["bootstrap_progress"]["users_done"], 25);
  EXPECT_EQ(j["bootstrap_progress"]["users_total"], 100);
  EXPECT_EQ(j["bootstrap_progress"]["bytes"], 20u << 20);
  EXPECT_EQ(j["bootstrap_progress"]["eta_s"], 30);

  // A bootstrap waiting for its replica says why.
  boot.reason = "retrying: connecting to r:1: refused";
  text = reports_text({inspect_channel(conf, "replica", now, boot)}, now);
  EXPECT_NE(text.find("ETA 0:30; retrying: connecting to r:1: refused\n"), std::string::npos)
      << text;

  store::ChannelState failed{"replica", store::ChannelPhase::kFailed, now - 1000,
                             "user u30 failed 3 times in a row: IMAP_PROTOCOL_ERROR: x"};
  r = inspect_channel(conf, "replica", now, failed);
  EXPECT_FALSE(r.progress.has_value());
  text = reports_text({r}, now);
  EXPECT_NE(text.find("replication  failed since 1.0 s ago: user u30 failed 3 times in a row: "
                      "IMAP_PROTOCOL_ERROR: x\n"),
            std::string::npos)
      << text;
  j = nlohmann::json::parse(reports_json({r}))["channels"][0];
  EXPECT_EQ(j["phase"], "failed");
  EXPECT_EQ(j["phase_reason"], failed.reason);

  r = inspect_channel(conf, "replica", now);
  EXPECT_NE(reports_text({r}, now).find("replication  not recorded"), std::string::npos);
}

}  // namespace
}  // namespace replimail::sync
