// Bootstrap progress: JSON round trip, resume versus start over, the
// summary sync_status prints and the progress bar line.
#include "sync/bootstrap.h"

#include <gtest/gtest.h>

namespace replimail::sync {
namespace {

BootstrapProgress half_done() {
  BootstrapProgress p;
  p.channel = "replica";
  p.started = 1000;
  p.users = {{"alice", true, 1100, 0, {}},
             {"bob", false, 0, 0, {}},
             {"carol", true, 1200, 0, {}},
             {"dave", false, 0, 0, {}}};
  p.messages = 321;
  return p;
}

TEST(Bootstrap, JsonRoundTrip) {
  BootstrapProgress p = half_done();
  p.shared_done = true;
  auto back = bootstrap_from_json(to_json(p));
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(*back, p);
  EXPECT_FALSE(bootstrap_from_json("{}").ok());
  EXPECT_FALSE(bootstrap_from_json("not json").ok());
  EXPECT_FALSE(bootstrap_from_json(R"({"channel":"x","started":1,"finished":0,"shared_done":false,
                                       "messages":0,"users":[{"user":"a"}]})")
                   .ok());
}

TEST(Bootstrap, UnfinishedRunResumesWithItsOwnList) {
  BootstrapProgress p = half_done();
  BootstrapProgress r = start_or_resume(p, "replica", {"alice", "bob", "erin"}, 5000);
  EXPECT_EQ(r, p);  // same list, same done flags, same start
  EXPECT_EQ(r.done_count(), 2u);
}

TEST(Bootstrap, ARunFromBeforeTheChannelBeganBootstrappingStartsOver) {
  // The channel was removed mid-bootstrap and added again at 4000: the
  // users done before missed what changed while it was not logged.
  BootstrapProgress p = half_done();
  ASSERT_LT(p.started, 4000);
  BootstrapProgress r = start_or_resume(p, "replica", {"alice", "bob", "erin"}, 5000, 4000);
  EXPECT_EQ(r.started, 5000);
  EXPECT_EQ(r.done_count(), 0u);
  ASSERT_EQ(r.users.size(), 3u);
  // Killed and restarted within the same bootstrap: resumed.
  EXPECT_EQ(start_or_resume(p, "replica", {"alice"}, 5000, p.started), p);
}

TEST(Bootstrap, FinishedOrAbsentRunStartsOver) {
  BootstrapProgress p = half_done();
  p.finished = 2000;
  for (const auto& prev :
       {std::optional<BootstrapProgress>(p), std::optional<BootstrapProgress>()}) {
    BootstrapProgress r = start_or_resume(prev, "replica", {"alice", "erin"}, 5000);
    EXPECT_EQ(r.started, 5000);
    EXPECT_EQ(r.finished, 0);
    EXPECT_EQ(r.channel, "replica");
    ASSERT_EQ(r.users.size(), 2u);
    EXPECT_EQ(r.users[1].user, "erin");
    EXPECT_EQ(r.done_count(), 0u);
    EXPECT_FALSE(r.shared_done);
  }
}

TEST(Bootstrap, Summary) {
  EXPECT_EQ(bootstrap_summary(std::nullopt), "none");
  BootstrapProgress p = half_done();
  EXPECT_EQ(bootstrap_summary(p), "bootstrap 2/4 users");
  p.finished = 9;
  EXPECT_EQ(bootstrap_summary(p), "ready");
}

TEST(Bootstrap, ProgressLine) {
  using std::chrono::milliseconds;
  std::string l = progress_line(30, 120, 4500 * 1024, milliseconds(15000));
  EXPECT_NE(l.find("30/120 users"), std::string::npos) << l;
  EXPECT_NE(l.find("4.4 MiB"), std::string::npos) << l;
  EXPECT_NE(l.find("300.0 KiB/s"), std::string::npos) << l;
  // 30 users in 15 s: 90 more take 45 s.
  EXPECT_NE(l.find("ETA 0:45"), std::string::npos) << l;
  EXPECT_EQ(l.find("[" + std::string(7, '#') + std::string(23, '.') + "]"), 0u) << l;
  EXPECT_LE(l.size(), 79u);
  EXPECT_NE(progress_line(0, 10, 0, milliseconds(0)).find("ETA --:--"), std::string::npos);
  std::string full = progress_line(10, 10, 50, milliseconds(1000));
  EXPECT_NE(full.find("ETA 0:00"), std::string::npos) << full;
  EXPECT_EQ(full.find('.'), std::string::npos) << full;
  EXPECT_LE(progress_line(5, 10, 1, milliseconds(100), 40).size(), 40u);
}

TEST(Bootstrap, EtaAndItsText) {
  using std::chrono::milliseconds;
  BootstrapEta e = bootstrap_eta(250, 1000, 10u << 20, milliseconds(5000));
  EXPECT_DOUBLE_EQ(e.users_per_s, 50.0);
  EXPECT_DOUBLE_EQ(e.bytes_per_s, 2.0 * 1024 * 1024);
  EXPECT_EQ(e.eta_s, 15);
  EXPECT_EQ(eta_text(e), "250/1000 users, 10.0 MiB, 2.0 MiB/s, ETA 0:15");
  EXPECT_EQ(bootstrap_eta(0, 1000, 0, milliseconds(5000)).eta_s, -1);
  EXPECT_EQ(bootstrap_eta(0, 0, 0, milliseconds(0)).eta_s, 0);
  EXPECT_EQ(human_bytes(512), "512 B");
  EXPECT_EQ(human_bytes(1536), "1.5 KiB");
  EXPECT_EQ(human_bytes(3.0 * 1024 * 1024 * 1024), "3.0 GiB");
  EXPECT_EQ(human_duration(-1), "--:--");
  EXPECT_EQ(human_duration(62), "1:02");
  EXPECT_EQ(human_duration(3 * 3600 + 2 * 60 + 10), "3:02:10");
}

TEST(Bootstrap, FailuresAndBytesRoundTripAndAUserFailingThreeTimesFailsTheBootstrap) {
  BootstrapProgress p = half_done();
  p.bytes = 123456;
  EXPECT_FALSE(bootstrap_failure(p));
  for (auto& u : p.users) {
    if (u.done) continue;
    u.failures = kMaxUserFailures - 1;
    u.error = "IMAP_PROTOCOL_ERROR: bad";
  }
  EXPECT_FALSE(bootstrap_failure(p));
  auto back = bootstrap_from_json(to_json(p));
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(*back, p);
  for (auto& u : p.users)
    if (!u.done) u.failures = kMaxUserFailures;
  auto why = bootstrap_failure(p);
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("failed 3 times in a row: IMAP_PROTOCOL_ERROR: bad"), std::string::npos)
      << *why;
  // A file of an older version (no bytes, no failures) still reads.
  auto old = bootstrap_from_json(
      R"({"channel":"r","started":1,"finished":0,"shared_done":false,"messages":2,)"
      R"("users":[{"user":"alice","done":true,"finished":5}]})");
  ASSERT_TRUE(old.ok()) << old.status().to_string();
  EXPECT_EQ(old->bytes, 0u);
  EXPECT_EQ(old->users[0].failures, 0);
}

TEST(Bootstrap, PermanentConnectErrors) {
  EXPECT_TRUE(is_permanent_connect_error(Status(Code::kPermissionDenied, "auth")));
  EXPECT_TRUE(is_permanent_connect_error(Status(Code::kConfigError, "port")));
  EXPECT_FALSE(is_permanent_connect_error(Status(Code::kIoError, "refused")));
}

}  // namespace
}  // namespace replimail::sync
