#include "common/workers.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>

namespace replimail {
namespace {

TEST(Workers, ReturnsEachJobsResult) {
  Workers w(2);
  auto a = w.run([] { return 6 * 7; });
  auto b = w.run([] { return std::string("ok"); });
  EXPECT_EQ(a.get(), 42);
  EXPECT_EQ(b.get(), "ok");
}

// Two jobs that each wait for the other end only if they run at once: what
// a delivery's announce and staged-file flush need from two threads.
TEST(Workers, TwoThreadsRunTwoJobsAtOnce) {
  Workers w(2);
  std::promise<void> first_started, second_started;
  auto f1 = first_started.get_future();
  auto f2 = second_started.get_future();
  auto a = w.run([&] {
    first_started.set_value();
    return f2.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  });
  auto b = w.run([&] {
    second_started.set_value();
    return f1.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  });
  EXPECT_TRUE(a.get());
  EXPECT_TRUE(b.get());
}

TEST(Workers, AnExceptionReachesTheFuture) {
  Workers w(1);
  auto f = w.run([]() -> int { throw std::runtime_error("boom"); });
  EXPECT_THROW(f.get(), std::runtime_error);
  EXPECT_EQ(w.run([] { return 1; }).get(), 1);  // the thread survived it
}

TEST(Workers, DestructionRunsEveryQueuedJob) {
  std::atomic<int> done{0};
  {
    Workers w(1);
    for (int i = 0; i < 100; i++) w.run([&done] { done++; });
  }
  EXPECT_EQ(done.load(), 100);
}

TEST(Workers, ReusesItsThreads) {
  Workers w(2);
  std::set<std::thread::id> ids;
  std::mutex mu;
  for (int i = 0; i < 50; i++)
    w.run([&] {
       std::lock_guard<std::mutex> g(mu);
       ids.insert(std::this_thread::get_id());
     }).get();
  EXPECT_LE(ids.size(), 2U);
  EXPECT_EQ(ids.count(std::this_thread::get_id()), 0U);
}

}  // namespace
}  // namespace replimail
