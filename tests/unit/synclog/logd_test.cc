// sync_logd's core (synclog/logd.h), its journal (synclog/journal.h) and the
// writer's side of its socket (SyncLog through LogdServer).
#include "synclog/logd.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <thread>

#include "common/fs.h"
#include "os/env.h"
#include "os/fault_env.h"
#include "synclog/applied.h"
#include "synclog/journal.h"
#include "synclog/logd_client.h"
#include "synclog/logd_server.h"
#include "test_dir.h"

namespace replimail::synclog {
namespace {

std::string slurp(const std::string& path) {
  auto r = fs::read_file(path);
  return r.ok() ? *r : "<missing>";
}

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

ChannelSet channels(std::vector<std::string> names, std::vector<std::string> unsuppressable = {}) {
  ChannelSet cs;
  cs.enabled = true;
  cs.channels = std::move(names);
  cs.unsuppressable = std::move(unsuppressable);
  return cs;
}

// A daemon that never checkpoints on its own (tests call checkpoint()).
LogdOptions manual() {
  LogdOptions o;
  o.checkpoint_interval = std::chrono::hours(1);
  return o;
}

TEST(Journal, RecordsRoundTrip) {
  JournalEntry a{{"", "squatter"}, "APPEND user.bob\n"};
  JournalEntry b{{"r1"}, "MAILBOX \"user.bob.a b\"\nSEEN bob x\n"};
  std::string data = encode_record(a) + encode_record(b);
  ParsedJournal p = parse_journal(data);
  ASSERT_EQ(p.entries.size(), 2u);
  EXPECT_FALSE(p.torn);
  EXPECT_EQ(p.valid_bytes, data.size());
  EXPECT_EQ(p.entries[0].channels, a.channels);
  EXPECT_EQ(p.entries[0].lines, a.lines);
  EXPECT_EQ(p.entries[1].channels, b.channels);
  EXPECT_EQ(p.entries[1].lines, b.lines);
}

TEST(Journal, TornTailIsDropped) {
  std::string one = encode_record({{"a"}, "USER bob\n"});
  std::string two = encode_record({{"a"}, "USER alice\n"});
  for (size_t cut = 1; cut < two.size(); ++cut) {
    ParsedJournal p = parse_journal(one + two.substr(0, cut));
    ASSERT_EQ(p.entries.size(), 1u) << cut;
    EXPECT_TRUE(p.torn);
    EXPECT_EQ(p.valid_bytes, one.size());
  }
}

TEST(Journal, ChecksumCatchesAFlippedByte) {
  std::string one = encode_record({{"a"}, "USER bob\n"});
  std::string two = encode_record({{"a"}, "USER alice\n"});
  std::string three = encode_record({{"a"}, "USER carol\n"});
  std::string data = one + two + three;
  data[one.size() + two.size() - 3] ^= 0x20;  // in two's payload
  ParsedJournal p = parse_journal(data);
  ASSERT_EQ(p.entries.size(), 1u);
  EXPECT_TRUE(p.torn);
  EXPECT_EQ(p.entries[0].lines, "USER bob\n");
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);  // the CRC-32C check value
}

TEST(Journal, OpenCutsTheTornTail) {
  TestDir d;
  const std::string path = d.path() + "/sync/journal";
  std::string one = encode_record({{"a"}, "USER bob\n"});
  ASSERT_TRUE(fs::make_dirs(d.path() + "/sync"));
  ASSERT_TRUE(fs::write_file_atomic(path, one + "RJ1\n\x05"));
  Journal j;
  auto entries = j.open(path);
  ASSERT_TRUE(entries.ok()) << entries.status().to_string();
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ(slurp(path), one);
  ASSERT_TRUE(j.append(encode_record({{"a"}, "USER carol\n"})));
  EXPECT_EQ(parse_journal(slurp(path)).entries.size(), 2u);
}

TEST(ChannelSetTest, SuppressedGoesOnlyToUnsuppressable) {
  ChannelSet cs = channels({"", "r1", "squatter"}, {"squatter"});
  EXPECT_EQ(cs.targets(false), (std::vector<std::string>{"", "r1", "squatter"}));
  EXPECT_EQ(cs.targets(true), std::vector<std::string>{"squatter"});
  cs.enabled = false;
  EXPECT_TRUE(cs.targets(false).empty());
}

// An injected I/O fault: the journal's fdatasync fails. The request is
// refused (its writer then logs directly), the daemon takes nothing more,
// and what it had acknowledged before is fanned out by the next daemon.
TEST(LogDaemonFault, AFailedJournalSyncRefusesAndLosesNothingAcknowledged) {
  TestDir d;
  {
    // Installed before the journal is opened: FaultEnv knows a
    // descriptor's path from its open().
    os::FaultEnv f;
    os::ScopedEnv scope(&f);
    auto daemon = LogDaemon::open(d.path(), channels({"a"}), manual());
    ASSERT_TRUE(daemon.ok()) << daemon.status().to_string();
    LogDaemon& ld = **daemon;
    auto held = ld.submit(false, "APPEND user.bob\n", 1);
    ASSERT_TRUE(held.ok() && *held != 0u);
    f.inject(os::Fault::on_path(os::Op::kFsync, "/sync/journal"));
    auto refused = ld.submit(false, "APPEND user.carol\n", 2);
    EXPECT_FALSE(refused.ok());
    EXPECT_EQ(f.injected(), 1);
    EXPECT_TRUE(ld.broken());
    f.clear();
    EXPECT_FALSE(ld.submit(false, "APPEND user.dave\n", 3).ok());
  }
  // The replacement replays the journal: the acknowledged line arrives.
  auto again = LogDaemon::open(d.path(), channels({"a"}), manual());
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(count(slurp(d.path() + "/sync/a/log"), "APPEND user.bob\n"), 1u);
  // (A refused request's lines may be in the journal and replayed too: a
  // line only marks something dirty, so that is harmless.)
}

TEST(LogDaemonTest, LinesReachTheLogsOnlyAfterDone) {
  TestDir d;
  auto daemon = LogDaemon::open(d.path(), channels({"", "r1"}), manual());
  ASSERT_TRUE(daemon.ok()) << daemon.status().to_string();
  LogDaemon& ld = **daemon;
  auto id = ld.submit(false, "APPEND user.bob\n", 1);
  ASSERT_TRUE(id.ok());
  ASSERT_NE(*id, 0u);
  // Journaled, durable, but the change is still in flight.
  EXPECT_EQ(count(slurp(d.path() + "/sync/journal"), "APPEND user.bob\n"), 1u);
  ASSERT_TRUE(ld.checkpoint());
  EXPECT_EQ(slurp(d.path() + "/sync/log"), "<missing>");
  ld.done(*id);
  ASSERT_TRUE(ld.checkpoint());
  EXPECT_EQ(slurp(d.path() + "/sync/log"), "APPEND user.bob\n");
  EXPECT_EQ(slurp(d.path() + "/sync/r1/log"), "APPEND user.bob\n");
  // Everything is in the logs and flushed: the journal is empty.
  EXPECT_EQ(slurp(d.path() + "/sync/journal"), "");
  ld.done(*id);  // a second DONE changes nothing
  ASSERT_TRUE(ld.checkpoint());
  EXPECT_EQ(slurp(d.path() + "/sync/r1/log"), "APPEND user.bob\n");
}

// A writer that waits for replicas learns where its lines went from the
// daemon, read as it appended them: the pass after those begun by then.
TEST(LogDaemonTest, WrittenEntriesKnowTheirPositions) {
  TestDir d;
  auto pos = ChannelPosition::open(d.path(), "r1");
  ASSERT_TRUE(pos.ok());
  pos->begin_pass();
  pos->begin_pass();
  auto daemon = LogDaemon::open(d.path(), channels({"", "r1"}), manual());
  ASSERT_TRUE(daemon.ok()) << daemon.status().to_string();
  LogDaemon& ld = **daemon;
  auto id = ld.submit(false, "APPEND user.bob\n", 1);
  ASSERT_TRUE(id.ok());
  ld.done(*id);
  std::map<std::string, LinePosition> at;
  ASSERT_TRUE(ld.wait_written(*id, std::chrono::seconds(10), &at));
  EXPECT_EQ(slurp(d.path() + "/sync/r1/log"), "APPEND user.bob\n");
  // r1 has an applied.shm with two passes begun; "" has none.
  ASSERT_EQ(at.size(), 1u);
  EXPECT_EQ(at["r1"].need, 3u);
  EXPECT_EQ(at["r1"].file, pos->file());
  // Passes begun later do not move what was read at the append.
  pos->begin_pass();
  ASSERT_TRUE(ld.wait_written(*id, std::chrono::seconds(10), &at));
  EXPECT_EQ(at["r1"].need, 3u);
}

TEST(LogdProtocol, WrittenAnswerRoundTrips) {
  std::map<std::string, LinePosition> at{{"", {7, 2}}, {"r1", {123456, 99}}};
  const std::string answer = format_written(at);
  EXPECT_EQ(answer, "OK \"\"=7:2 r1=123456:99\n");
  std::map<std::string, LinePosition> back;
  ASSERT_TRUE(parse_written(answer.substr(0, answer.size() - 1), back));
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[""].file, 7u);
  EXPECT_EQ(back[""].need, 2u);
  EXPECT_EQ(back["r1"].need, 99u);
  ASSERT_TRUE(parse_written("OK", back));
  EXPECT_TRUE(back.empty());
  for (const char* bad : {"NO not written", "OK r1", "OK r1=5", "OK =1:2", "OK r1=x:2",
                          "OK r1=1:", "OK r1=1:2 r2"}) {
    EXPECT_FALSE(parse_written(bad, back)) << bad;
    EXPECT_TRUE(back.empty()) << bad;
  }
}

TEST(LogDaemonTest, AClosedConnectionReleasesItsEntries) {
  TestDir d;
  auto daemon = LogDaemon::open(d.path(), channels({"a"}), manual());
  ASSERT_TRUE(daemon.ok());
  ASSERT_TRUE((*daemon)->submit(false, "USER bob\n", 7).ok());
  ASSERT_TRUE((*daemon)->submit(false, "USER carol\n", 8).ok());
  (*daemon)->owner_closed(7);
  ASSERT_TRUE((*daemon)->checkpoint());
  EXPECT_EQ(slurp(d.path() + "/sync/a/log"), "USER bob\n");
  // carol's entry is still held: it stays in the journal.
  EXPECT_EQ(count(slurp(d.path() + "/sync/journal"), "USER carol\n"), 1u);
}

TEST(LogDaemonTest, JournalKeepsOnlyHeldEntriesOnceRewritten) {
  TestDir d;
  LogdOptions o = manual();
  o.journal_rewrite_bytes = 1;
  auto daemon = LogDaemon::open(d.path(), channels({"a"}), o);
  ASSERT_TRUE(daemon.ok());
  auto held = (*daemon)->submit(false, "USER held\n", 1);
  ASSERT_TRUE(held.ok());
  for (int i = 0; i < 20; ++i) {
    auto id = (*daemon)->submit(false, "USER u" + std::to_string(i) + "\n", 2);
    ASSERT_TRUE(id.ok());
    (*daemon)->done(*id);
  }
  ASSERT_TRUE((*daemon)->checkpoint());
  ParsedJournal j = parse_journal(slurp(d.path() + "/sync/journal"));
  ASSERT_EQ(j.entries.size(), 1u);
  EXPECT_EQ(j.entries[0].lines, "USER held\n");
  EXPECT_EQ(count(slurp(d.path() + "/sync/a/log"), "\n"), 20u);
  // Appends go on in the rewritten file.
  auto more = (*daemon)->submit(false, "USER more\n", 2);
  ASSERT_TRUE(more.ok());
  EXPECT_EQ(parse_journal(slurp(d.path() + "/sync/journal")).entries.size(), 2u);
}

TEST(LogDaemonTest, SuppressedEntriesGoToUnsuppressableChannelsOnly) {
  TestDir d;
  auto daemon = LogDaemon::open(d.path(), channels({"r1", "squatter"}, {"squatter"}), manual());
  ASSERT_TRUE(daemon.ok());
  auto id = (*daemon)->submit(true, "APPEND user.bob\n", 1);
  ASSERT_TRUE(id.ok());
  (*daemon)->done(*id);
  ASSERT_TRUE((*daemon)->checkpoint());
  EXPECT_EQ(slurp(d.path() + "/sync/squatter/log"), "APPEND user.bob\n");
  EXPECT_EQ(slurp(d.path() + "/sync/r1/log"), "<missing>");
  (*daemon)->reconfigure(channels({"r1"}));
  auto none = (*daemon)->submit(true, "APPEND user.bob\n", 1);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0u);  // nothing to write, nothing journaled
}

TEST(LogDaemonTest, ReplaysWhatAPreviousDaemonLeft) {
  TestDir d;
  {
    auto daemon = LogDaemon::open(d.path(), channels({"", "r1"}), manual());
    ASSERT_TRUE(daemon.ok());
    ASSERT_TRUE((*daemon)->submit(false, "USER bob\n", 1).ok());
    ASSERT_TRUE((*daemon)->submit(false, "USER carol\n", 1).ok());
    // Gone without a DONE or a checkpoint (as a killed daemon would be,
    // minus the torn write the next lines add).
  }
  {
    std::string j = slurp(d.path() + "/sync/journal");
    ASSERT_EQ(count(j, "USER"), 2u);
    j += encode_record({{"r1"}, "USER dave\n"}).substr(0, 9);
    ASSERT_TRUE(fs::write_file_atomic(d.path() + "/sync/journal", j));
  }
  ChannelSet now = channels({"r2"});  // replay goes to the entries' channels
  auto daemon = LogDaemon::open(d.path(), now, manual());
  ASSERT_TRUE(daemon.ok()) << daemon.status().to_string();
  EXPECT_EQ((*daemon)->stats().replayed, 2u);
  EXPECT_EQ(slurp(d.path() + "/sync/log"), "USER bob\nUSER carol\n");
  EXPECT_EQ(slurp(d.path() + "/sync/r1/log"), "USER bob\nUSER carol\n");
  EXPECT_EQ(slurp(d.path() + "/sync/r2/log"), "<missing>");
  EXPECT_EQ(slurp(d.path() + "/sync/journal"), "");
}

// Every fdatasync takes a while, as on a disk: requests pile up meanwhile.
class SlowSyncEnv : public os::PosixEnv {
 protected:
  int sys_fsync(int fd, os::Op op, bool data_only) override {
    if (data_only) std::this_thread::sleep_for(std::chrono::milliseconds(15));
    return PosixEnv::sys_fsync(fd, op, data_only);
  }
};

TEST(LogDaemonTest, GroupCommitSharesJournalSyncs) {
  TestDir d;
  SlowSyncEnv slow;
  os::ScopedEnv scoped(&slow);
  auto daemon = LogDaemon::open(d.path(), channels({"a", "b", "c", "d", "e", "f"}), manual());
  ASSERT_TRUE(daemon.ok());
  LogDaemon& ld = **daemon;
  constexpr int kThreads = 16, kEach = 6;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto id = ld.submit(false, "USER u" + std::to_string(t) + "_" + std::to_string(i) + "\n",
                            static_cast<uint64_t>(t + 1));
        if (!id.ok()) {
          ++failures;
          continue;
        }
        ld.done(*id);
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0);
  ASSERT_TRUE(ld.checkpoint());
  LogdStats st = ld.stats();
  EXPECT_EQ(st.accepted, static_cast<uint64_t>(kThreads * kEach));
  // One fsync per request would be kThreads * kEach.
  EXPECT_LE(st.journal_syncs, st.accepted / 3) << st.journal_syncs;
  for (const char* c : {"a", "b", "c", "d", "e", "f"}) {
    std::string log = slurp(d.path() + "/sync/" + c + "/log");
    EXPECT_EQ(count(log, "\n"), static_cast<size_t>(kThreads * kEach)) << c;
    for (int t = 0; t < kThreads; ++t)
      for (int i = 0; i < kEach; ++i)
        EXPECT_EQ(count(log, "USER u" + std::to_string(t) + "_" + std::to_string(i) + "\n"), 1u);
  }
}

TEST(LogDaemonTest, ChannelsAddedAndRemoved) {
  TestDir d;
  auto daemon = LogDaemon::open(d.path(), channels({"old", "kept"}), manual());
  ASSERT_TRUE(daemon.ok());
  LogDaemon& ld = **daemon;
  auto first = ld.submit(false, "USER bob\n", 1);
  ASSERT_TRUE(first.ok());
  ld.reconfigure(channels({"kept", "new"}));
  auto second = ld.submit(false, "USER carol\n", 1);
  ASSERT_TRUE(second.ok());
  ld.done(*first);
  ld.done(*second);
  ASSERT_TRUE(ld.checkpoint());
  // Each entry goes to the channels of its time.
  EXPECT_EQ(slurp(d.path() + "/sync/old/log"), "USER bob\n");
  EXPECT_EQ(slurp(d.path() + "/sync/kept/log"), "USER bob\nUSER carol\n");
  EXPECT_EQ(slurp(d.path() + "/sync/new/log"), "USER carol\n");
  EXPECT_EQ(describe_pending_logs(d.path(), "old"), d.path() + "/sync/old/log (1 lines)");
}

// A daemon served on its socket in this process, as sync_logd does.
class Served {
 public:
  Served(const std::string& confdir, ChannelSet cs) {
    auto d = LogDaemon::open(confdir, std::move(cs), manual());
    EXPECT_TRUE(d.ok()) << d.status().to_string();
    daemon = std::move(*d);
    server = std::make_unique<LogdServer>(*daemon);
    Status s = server->listen(logd_socket_path(confdir));
    EXPECT_TRUE(s) << s.to_string();
    loop = std::thread([this] {
      while (!stop.load()) {
        struct pollfd p {
          server->fd(), POLLIN, 0
        };
        if (::poll(&p, 1, 20) > 0) server->accept_one();
      }
    });
  }
  ~Served() {
    stop = true;
    loop.join();
    server.reset();
    daemon.reset();
  }
  std::unique_ptr<LogDaemon> daemon;
  std::unique_ptr<LogdServer> server;
  std::atomic<bool> stop{false};
  std::thread loop;
};

Config make_config(const std::string& confdir, const std::string& extra) {
  auto c = Config::parse("configdirectory: " + confdir + "\nsync_log: 1\n" + extra, "test.conf");
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return *c;
}

TEST(LogdSocketTest, SyncLogGoesThroughTheDaemonAndFallsBackWithoutIt) {
  TestDir d;
  SyncLog log(make_config(d.path(), "sync_log_channels: a b\n"));
  {
    Served served(d.path(), channels({"a", "c"}));
    auto hold = log.announce({{"APPEND", {"user.bob"}}});
    ASSERT_TRUE(hold.ok()) << hold.status().to_string();
    EXPECT_EQ(served.daemon->stats().accepted, 1u);
    ASSERT_TRUE(served.daemon->checkpoint());
    EXPECT_EQ(slurp(d.path() + "/sync/a/log"), "<missing>");  // still in flight
    hold->release();
    // DONE has no answer; FLUSH waits for it to have been acted on.
    LogdClient reader(logd_socket_path(d.path()));
    ASSERT_TRUE(reader.flush());
    // The daemon's channel set, not the writer's.
    EXPECT_EQ(slurp(d.path() + "/sync/c/log"), "APPEND user.bob\n");
    EXPECT_EQ(slurp(d.path() + "/sync/a/log"), "APPEND user.bob\n");
  }
  EXPECT_FALSE(fs::exists(logd_socket_path(d.path())));
  // No daemon: the writer's own channels, directly.
  ASSERT_TRUE(log.user("carol"));
  EXPECT_EQ(slurp(d.path() + "/sync/a/log"), "APPEND user.bob\nUSER carol\n");
  EXPECT_EQ(slurp(d.path() + "/sync/b/log"), "USER carol\n");
  EXPECT_EQ(slurp(d.path() + "/sync/c/log"), "APPEND user.bob\n");
  // A daemon started again is used again by the same SyncLog.
  Served again(d.path(), channels({"c"}));
  ASSERT_TRUE(log.user("dave"));
  EXPECT_EQ(again.daemon->stats().accepted, 1u);
}

TEST(LogdSocketTest, AWriterThatWaitsForReplicasHasItsLinesInTheLogsOnRelease) {
  TestDir d;
  SyncLog log(make_config(d.path(),
                          "sync_log_channels: a\na_sync_host: r.example\n"
                          "sync_wait_replicas: 1\nsync_wait_timeout: 5s\n"));
  Served served(d.path(), channels({"a"}));
  auto hold = log.announce({{"APPEND", {"user.bob"}}});
  ASSERT_TRUE(hold.ok()) << hold.status().to_string();
  hold->release();
  // No FLUSH: release() itself waited for the daemon's WRITTEN answer, so
  // the pass a rolling client begins now carries the line.
  EXPECT_EQ(slurp(d.path() + "/sync/a/log"), "APPEND user.bob\n");
  auto pos = ChannelPosition::open(d.path(), "a");
  ASSERT_TRUE(pos.ok());
  pos->mark_applied(pos->begin_pass());
  EXPECT_TRUE(log.wait_for_replicas());
  EXPECT_EQ(read_wait_counters(d.path()).waits, 1u);
}

TEST(LogdSocketTest, ADaemonGoneBeforeDoneMeansADirectWrite) {
  TestDir d;
  SyncLog log(make_config(d.path(), "sync_log_channels: mine\n"));
  auto served = std::make_unique<Served>(d.path(), channels({"theirs"}));
  auto hold = log.announce({{"MAILBOX", {"user.bob"}}});
  ASSERT_TRUE(hold.ok());
  EXPECT_EQ(slurp(d.path() + "/sync/mine/log"), "<missing>");
  served.reset();  // the daemon goes (its journal keeps the entry)
  hold->release();
  // The change has committed; whoever replays the journal cannot know it,
  // so the writer logs it itself.
  EXPECT_EQ(slurp(d.path() + "/sync/mine/log"), "MAILBOX user.bob\n");
}

TEST(LogdSocketTest, BadRequestsAreRefused) {
  TestDir d;
  Served served(d.path(), channels({"a"}));
  const std::string path = logd_socket_path(d.path());
  for (std::string bad : {"HELLO\n", "LOG 2 5\nUSER\n", "LOG 0 999999999999\n", "LOG 0 4\nUSER"}) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path.c_str());
    ASSERT_EQ(::connect(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(::write(fd, bad.data(), bad.size()), static_cast<ssize_t>(bad.size()));
    char buf[256] = {};
    ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
    ::close(fd);
    EXPECT_GT(n, 0) << bad;
    EXPECT_EQ(std::string(buf).substr(0, 3), "NO ") << bad;
  }
  EXPECT_EQ(served.daemon->stats().accepted, 0u);
  SyncLog log(make_config(d.path(), "sync_log_channels: a\n"));
  ASSERT_TRUE(log.user("bob"));  // still serving
  EXPECT_EQ(served.daemon->stats().accepted, 1u);
}

}  // namespace
}  // namespace replimail::synclog
