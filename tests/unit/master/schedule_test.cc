#include "master/schedule.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace replimail::master {
namespace {

using std::chrono::milliseconds;

TEST(BackoffTest, DoublesUpToTheCapAndResetsAfterALongRun) {
  Backoff b;
  EXPECT_EQ(b.next(milliseconds(10)), milliseconds(1000));
  EXPECT_EQ(b.next(milliseconds(10)), milliseconds(2000));
  EXPECT_EQ(b.next(milliseconds(10)), milliseconds(4000));
  EXPECT_EQ(b.next(milliseconds(10)), milliseconds(8000));
  EXPECT_EQ(b.next(milliseconds(10)), milliseconds(16000));
  EXPECT_EQ(b.next(milliseconds(10)), milliseconds(30000));
  EXPECT_EQ(b.next(milliseconds(10)), milliseconds(30000));
  EXPECT_EQ(b.next(milliseconds(29999)), milliseconds(30000));
  EXPECT_EQ(b.next(milliseconds(30000)), milliseconds(1000));
  EXPECT_EQ(b.next(milliseconds(0)), milliseconds(2000));
}

TEST(ForkRateTest, UnlimitedByDefault) {
  ForkRate r;
  auto t = Clock::now();
  for (int i = 0; i < 1000; ++i) r.record(t);
  EXPECT_TRUE(r.allows(t));
}

TEST(ForkRateTest, LimitsBurstsAndDecaysByHalfPerSecond) {
  ForkRate r(3);
  auto t = Clock::now();
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(r.allows(t)) << i;
    r.record(t);
  }
  EXPECT_FALSE(r.allows(t));
  EXPECT_NEAR(r.rate(t + std::chrono::seconds(1)), 1.5, 1e-9);
  EXPECT_TRUE(r.allows(t + std::chrono::seconds(1)));
  EXPECT_NEAR(r.rate(t + std::chrono::seconds(2)), 0.75, 1e-9);
}

class NextDailyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tz = std::getenv("TZ");
    saved_ = tz ? tz : "";
    had_ = tz != nullptr;
    ::setenv("TZ", "UTC", 1);
    ::tzset();
  }
  void TearDown() override {
    if (had_) {
      ::setenv("TZ", saved_.c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }
  std::string saved_;
  bool had_ = false;
};

TEST_F(NextDailyTest, LaterTodayOrTomorrow) {
  const std::time_t midnight = 1700006400;  // 2023-11-15 00:00:00 UTC
  EXPECT_EQ(next_daily(midnight, 400), midnight + 4 * 3600);
  EXPECT_EQ(next_daily(midnight + 5 * 3600, 400), midnight + 28 * 3600);
  // Exactly at the time: the next one is tomorrow.
  EXPECT_EQ(next_daily(midnight + 4 * 3600, 400), midnight + 28 * 3600);
  EXPECT_EQ(next_daily(midnight + 10, 0), midnight + 24 * 3600);
  EXPECT_EQ(next_daily(midnight, 2359), midnight + 23 * 3600 + 59 * 60);
}

}  // namespace
}  // namespace replimail::master
