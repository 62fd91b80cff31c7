#include "synclog/applied.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

#include "common/config.h"
#include "synclog/reader.h"
#include "synclog/synclog.h"
#include "test_dir.h"

namespace replimail::synclog {
namespace {

using namespace std::chrono_literals;

Config make_config(const std::string& confdir, const std::string& extra) {
  auto c = Config::parse("configdirectory: " + confdir + "\n" + extra, "test.conf");
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return *c;
}

// Two replica channels and squatter's; sync_wait_replicas as given.
std::string waiting(int replicas, const std::string& more = "") {
  return "sync_log: on\nsync_log_channels: repa repb squatter\n"
         "repa_sync_host: a.example\nrepb_sync_host: b.example\n"
         "sync_wait_replicas: " +
         std::to_string(replicas) + "\nsync_wait_timeout: 1s\n" + more;
}

TEST(SyncWait, ReplicaChannelsHaveASyncHostAndAreNotSquatters) {
  TestDir d;
  SyncLog some(make_config(d.path(),
                           "sync_log: on\nsync_log_channels: repa squatter nohost\n"
                           "repa_sync_host: a.example\n"));
  EXPECT_EQ(some.replica_channels(), std::vector<std::string>{"repa"});
  // A server-wide sync_host gives every channel a host, squatter's too:
  // squatter still does not count.
  SyncLog all(make_config(d.path(),
                          "sync_log: on\nsync_log_channels: repa squatter \"\"\n"
                          "sync_host: r.example\n"));
  EXPECT_EQ(all.replica_channels(), (std::vector<std::string>{"repa", ""}));
}

TEST(SyncWait, PositionsAreSharedThroughTheFile) {
  TestDir d;
  auto a = ChannelPosition::open(d.path(), "repa");
  auto b = ChannelPosition::open(d.path(), "repa");
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  EXPECT_EQ(a->begin_pass(), 1u);
  EXPECT_EQ(a->begin_pass(), 2u);
  EXPECT_EQ(b->taken(), 2u);
  a->mark_applied(2);
  a->mark_applied(1);  // never goes back
  EXPECT_EQ(b->applied(), 2u);
  EXPECT_FALSE(b->stale());
  EXPECT_EQ(applied_path(d.path(), ""), d.path() + "/sync/applied.shm");
  EXPECT_EQ(applied_path(d.path(), "repa"), d.path() + "/sync/repa/applied.shm");
}

TEST(SyncWait, NothingLoggedReturnsAtOnce) {
  TestDir d;
  SyncLog log(make_config(d.path(), waiting(1, "sync_wait_on_timeout: refuse\n")));
  EXPECT_TRUE(log.wait_for_replicas());
  WaitCounters c = read_wait_counters(d.path());
  EXPECT_EQ(c.waits + c.timeouts_async + c.timeouts_refused, 0u);
}

TEST(SyncWait, APassThatBeganAfterTheLineReleasesTheWait) {
  TestDir d;
  SyncLog log(make_config(d.path(), waiting(1, "sync_wait_on_timeout: refuse\n")));
  ASSERT_TRUE(log.mailbox("user.alice"));
  std::thread client([&] {
    std::this_thread::sleep_for(100ms);
    auto p = ChannelPosition::open(d.path(), "repb");
    ASSERT_TRUE(p.ok());
    p->mark_applied(p->begin_pass());
  });
  Status s = log.wait_for_replicas();
  client.join();
  EXPECT_TRUE(s) << s.to_string();
  WaitCounters c = read_wait_counters(d.path());
  EXPECT_EQ(c.waits, 1u);
  EXPECT_EQ(c.timeouts_refused, 0u);
  // Waited for once: the next call has nothing to wait for.
  EXPECT_TRUE(log.wait_for_replicas());
  EXPECT_EQ(read_wait_counters(d.path()).waits, 1u);
}

TEST(SyncWait, APassThatBeganBeforeTheLineDoesNotCountAndRefuseTimesOut) {
  TestDir d;
  SyncLog log(make_config(d.path(), waiting(1, "sync_wait_on_timeout: refuse\n")));
  auto p = ChannelPosition::open(d.path(), "repa");
  ASSERT_TRUE(p.ok());
  const uint64_t before = p->begin_pass();
  ASSERT_TRUE(log.mailbox("user.alice"));
  // The pass may have taken the log over before the line was appended.
  p->mark_applied(before);
  Status s = log.wait_for_replicas();
  EXPECT_EQ(s.code(), Code::kNotReplicated) << s.to_string();
  EXPECT_NE(s.message().find("repa repb"), std::string::npos) << s.message();
  WaitCounters c = read_wait_counters(d.path());
  EXPECT_EQ(c.timeouts_refused, 1u);
  EXPECT_EQ(c.waits, 0u);
}

// The rule that makes the wait cheap: a writer waits for the pass that
// took its own line over, not for one that began after it learnt its line
// was logged. Here the rolling client of repa begins its pass (and renames
// the log) while writer A's change is still in flight, before A releases it;
// then writer B logs a line that only the next pass will carry. When the
// pass is applied, A is done at once and B is still waiting. (With the
// position read at release, A would need the next pass too and be refused.)
TEST(SyncWait, AWriterIsReleasedByThePassThatTookItsLineWhileALaterLineWaits) {
  TestDir d;
  const std::string conf = waiting(1, "sync_wait_on_timeout: refuse\n");
  SyncLog a(make_config(d.path(), conf));
  SyncLog b(make_config(d.path(), conf));
  auto p = ChannelPosition::open(d.path(), "repa");
  ASSERT_TRUE(p.ok());
  auto hold = a.announce({{"MAILBOX", {"user.alice"}}});
  ASSERT_TRUE(hold.ok()) << hold.status().to_string();
  uint64_t pass = 0;
  std::vector<Line> taken;
  std::thread client([&] {
    pass = p->begin_pass();
    LogReader r = LogReader::for_channel(d.path(), "repa");
    ASSERT_TRUE(r.begin());  // waits for A's change to be over
    taken = r.lines();
    ASSERT_TRUE(r.end());
  });
  // The pass has begun (it is numbered before it looks at the log) while
  // A's line is in flight; A's change is over only now.
  while (p->taken() == 0) std::this_thread::yield();
  hold->release();
  client.join();
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].args, std::vector<std::string>{"user.alice"});
  ASSERT_TRUE(b.mailbox("user.bob"));  // after the takeover: the next pass's
  p->mark_applied(pass);
  Status sa = a.wait_for_replicas();
  EXPECT_TRUE(sa) << sa.to_string();
  EXPECT_EQ(read_wait_counters(d.path()).waits, 1u);
  Status sb = b.wait_for_replicas();
  EXPECT_EQ(sb.code(), Code::kNotReplicated) << sb.to_string();
}

TEST(SyncWait, TwoReplicasWantedOneAppliedAsyncAcknowledges) {
  TestDir d;
  SyncLog log(make_config(d.path(), waiting(2)));
  ASSERT_TRUE(log.user("alice"));
  auto p = ChannelPosition::open(d.path(), "repa");
  ASSERT_TRUE(p.ok());
  p->mark_applied(p->begin_pass());
  EXPECT_TRUE(log.wait_for_replicas());
  WaitCounters c = read_wait_counters(d.path());
  EXPECT_EQ(c.timeouts_async, 1u);
  EXPECT_EQ(c.waits, 0u);
}

TEST(SyncWait, SuppressedWritersDoNotWait) {
  TestDir d;
  SyncLog log(make_config(d.path(), waiting(1, "sync_wait_on_timeout: refuse\n")));
  log.suppress();
  ASSERT_TRUE(log.mailbox("user.alice"));
  EXPECT_TRUE(log.wait_for_replicas());
  EXPECT_EQ(read_wait_counters(d.path()).timeouts_refused, 0u);
}

// wait_channel_applied (a move's pass waiting for the rolling channel into
// its target): an idle channel with nothing left is caught up at once; a
// logged line needs the pass that takes it over; a pass under way with
// nothing in the log is not idle.
TEST(ChannelApplied, AnIdleChannelWithNothingLoggedIsCaughtUp) {
  TestDir d;
  SyncLog log(make_config(d.path(), waiting(0)));
  auto p = ChannelPosition::open(d.path(), "repa");
  ASSERT_TRUE(p.ok());
  p->mark_applied(p->begin_pass());
  auto r = wait_channel_applied(d.path(), "repa", 10s);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(*r);
}

TEST(ChannelApplied, ALoggedLineNeedsThePassThatTakesItOver) {
  TestDir d;
  SyncLog log(make_config(d.path(), waiting(0)));
  auto p = ChannelPosition::open(d.path(), "repa");
  ASSERT_TRUE(p.ok());
  p->mark_applied(p->begin_pass());
  ASSERT_TRUE(log.mailbox("user.alice"));
  auto alone = wait_channel_applied(d.path(), "repa", 50ms);
  ASSERT_TRUE(alone.ok());
  EXPECT_FALSE(*alone) << "the line is in the log and no pass took it";
  std::thread client([&] {
    std::this_thread::sleep_for(50ms);
    auto c = ChannelPosition::open(d.path(), "repa");
    ASSERT_TRUE(c.ok());
    const uint64_t pass = c->begin_pass();
    std::filesystem::remove(log_path(d.path(), "repa"));
    c->mark_applied(pass);
  });
  auto r = wait_channel_applied(d.path(), "repa", 60s);
  client.join();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r);
}

TEST(ChannelApplied, APassUnderWayIsWaitedForEvenWithTheLogEmpty) {
  TestDir d;
  SyncLog log(make_config(d.path(), waiting(0)));
  auto p = ChannelPosition::open(d.path(), "repa");
  ASSERT_TRUE(p.ok());
  const uint64_t pass = p->begin_pass();
  auto busy = wait_channel_applied(d.path(), "repa", 50ms);
  ASSERT_TRUE(busy.ok());
  EXPECT_FALSE(*busy);
  std::thread client([&] {
    std::this_thread::sleep_for(50ms);
    p->mark_applied(pass);
  });
  auto r = wait_channel_applied(d.path(), "repa", 60s);
  client.join();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r);
}

}  // namespace
}  // namespace replimail::synclog
