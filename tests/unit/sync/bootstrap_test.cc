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
  p.users = {{"alice", true, 1100}, {"bob", false, 0}, {"carol", true, 1200}, {"dave", false, 0}};
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
  std::string l = progress_line(30, 120, 4500, milliseconds(15000));
  EXPECT_NE(l.find("30/120 users"), std::string::npos) << l;
  EXPECT_NE(l.find("4500 msgs"), std::string::npos) << l;
  EXPECT_NE(l.find("300 msg/s"), std::string::npos) << l;
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

}  // namespace
}  // namespace replimail::sync
