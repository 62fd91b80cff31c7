// sync_logd under master (issue 15): real writer processes (cyr_synclog,
// imapd) hand their lines to the instance's log daemon, which journals them
// and fans them out to every channel log.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include "harness.h"
#include "synclog/logd_client.h"

namespace replimail::testing {
namespace {

using namespace std::chrono_literals;

const std::vector<std::string> kChannels = {"r1", "r2", "squatter"};

size_t count_line(const std::string& log, const std::string& line) {
  size_t n = 0;
  for (const auto& l : lines_of(log))
    if (l == line) ++n;
  return n;
}

Instance::Options logging_options() {
  Instance::Options o;
  o.channels = kChannels;
  return o;
}

// The sync_logd master runs for `inst` (-1 if none is running).
pid_t logd_pid(const Instance& inst) {
  for (pid_t p : descendants_of(inst.master_pid())) {
    std::string cmd = slurp("/proc/" + std::to_string(p) + "/cmdline");
    if (cmd.find("sync_logd") != std::string::npos) return p;
  }
  return -1;
}

// `writers` shell loops of cyr_synclog -u w<n>_<i>, at once; the lines each
// writer had acknowledged (exit 0).
std::set<std::string> run_writers(const Instance& inst, int writers, int each) {
  std::set<std::string> acked;
  std::mutex mu;
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      std::string script = "for i in $(seq 1 " + std::to_string(each) + "); do " + bin_dir() +
                           "/cyr_synclog -C " + inst.imapd_conf() + " -u w" + std::to_string(w) +
                           "_$i && echo w" + std::to_string(w) + "_$i; done";
      RunResult r = run({"/bin/sh", "-c", script}, "", 300s);
      std::lock_guard<std::mutex> lk(mu);
      for (const auto& l : lines_of(r.out)) acked.insert("USER " + l);
    });
  }
  for (auto& t : threads) t.join();
  return acked;
}

// "accepted" from the line sync_logd logs when it exits.
long accepted_at_exit(const std::string& master_log) {
  std::smatch m;
  long total = 0;
  std::string rest = master_log;
  std::regex re("sync_logd: exiting: (\\d+) entries accepted");
  while (std::regex_search(rest, m, re)) {
    total += std::stol(m[1]);
    rest = m.suffix();
  }
  return total;
}

TEST(SyncLogd, ConcurrentWritersReachEveryChannelExactlyOnce) {
  Instance inst(logging_options());
  ASSERT_EQ(inst.start(), "");
  ASSERT_GT(logd_pid(inst), 0) << inst.master_log();
  constexpr int kWriters = 8, kEach = 25;
  std::set<std::string> acked = run_writers(inst, kWriters, kEach);
  ASSERT_EQ(acked.size(), static_cast<size_t>(kWriters * kEach));
  for (const auto& channel : kChannels) {
    std::string log = inst.channel_log(channel);
    EXPECT_EQ(lines_of(log).size(), acked.size()) << channel;
    for (const auto& line : acked) EXPECT_EQ(count_line(log, line), 1u) << channel << ": " << line;
  }
  EXPECT_EQ(inst.stop(), 0);
  // Every line went through the daemon, none was written directly.
  EXPECT_EQ(accepted_at_exit(inst.master_log()), kWriters * kEach) << inst.master_log();
}

// Duplicates are allowed here: a daemon killed after writing entries to the
// channel logs but before its checkpoint replays them at restart.
TEST(SyncLogd, KilledMidBatchLosesNothingAcknowledged) {
  Instance inst(logging_options());
  ASSERT_EQ(inst.start(), "");
  std::atomic<bool> writing{true};
  std::set<std::string> acked;
  std::thread writers([&] {
    acked = run_writers(inst, 6, 60);
    writing = false;
  });
  int kills = 0;
  while (writing.load() && kills < 3) {
    pid_t pid = -1;
    ASSERT_TRUE(wait_until([&] { return (pid = logd_pid(inst)) > 0; }, 40s)) << inst.master_log();
    // Killed mid-batch: once this daemon has written lines of the writers.
    const std::string log = inst.channel_log_path(kChannels[0]);
    auto size_of = [&] {
      std::error_code ec;
      auto n = std::filesystem::file_size(log, ec);
      return ec ? std::uintmax_t{0} : n;
    };
    const std::uintmax_t before = size_of();
    wait_until([&] { return size_of() > before || !writing.load(); }, 20s);
    if (!writing.load()) break;
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    ++kills;
    ASSERT_TRUE(wait_until([&] { return !pid_alive(pid); }, 10s));
  }
  writers.join();
  EXPECT_GE(kills, 1);
  EXPECT_EQ(acked.size(), 6u * 60u);
  // The restarted daemon has replayed its journal once it answers.
  ASSERT_TRUE(wait_until([&] { return logd_pid(inst) > 0; }, 40s)) << inst.master_log();
  ASSERT_TRUE(wait_until(
      [&] {
        synclog::LogdClient logd(inst.logd_socket());
        return logd.flush().is_ok();
      },
      40s));
  size_t duplicates = 0;
  for (const auto& channel : kChannels) {
    std::string log = inst.channel_log(channel);
    for (const auto& line : acked) {
      size_t n = count_line(log, line);
      EXPECT_GE(n, 1u) << channel << ": " << line;
      if (n > 1) duplicates += n - 1;
    }
  }
  std::cout << "[ info ] " << kills << " kills, " << duplicates
            << " duplicate lines across the channels\n";
}

TEST(SyncLogd, WithoutTheDaemonWritersLogDirectly) {
  Instance::Options o = logging_options();
  o.sync_logd = false;
  Instance inst(o);
  ASSERT_EQ(inst.start(), "");
  EXPECT_EQ(logd_pid(inst), -1);
  std::set<std::string> acked = run_writers(inst, 4, 10);
  ASSERT_EQ(acked.size(), 40u);
  for (const auto& channel : kChannels) {
    std::string log = inst.channel_log(channel);
    EXPECT_EQ(lines_of(log).size(), acked.size()) << channel;
    for (const auto& line : acked) EXPECT_EQ(count_line(log, line), 1u) << channel << ": " << line;
  }
  EXPECT_FALSE(std::filesystem::exists(inst.logd_socket()));
}

// A line-at-a-time IMAP connection that stays open.
class ImapConn {
 public:
  explicit ImapConn(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{20, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~ImapConn() {
    if (fd_ >= 0) ::close(fd_);
  }
  std::string line() {
    std::string got;
    char c;
    while (fd_ >= 0 && ::read(fd_, &c, 1) == 1) {
      got += c;
      if (c == '\n') break;
    }
    return got;
  }
  // Sends "<tag> <command>" and returns the tagged answer line.
  std::string command(const std::string& tag, const std::string& cmd) {
    std::string text = tag + " " + cmd + "\r\n";
    if (::write(fd_, text.data(), text.size()) < 0) return "";
    for (;;) {
      std::string l = line();
      if (l.empty() || l.rfind(tag + " ", 0) == 0) return l;
    }
  }

 private:
  int fd_ = -1;
};

TEST(SyncLogd, ChannelAddedReachesAnOpenSessionWithoutANewWorker) {
  Instance::Options o = logging_options();
  o.services = {{"imap", "imapd"}};
  Instance inst(o);
  ASSERT_EQ(inst.start(), "");
  ImapConn imap(inst.port("imap"));
  ASSERT_NE(imap.line(), "");
  ASSERT_EQ(imap.command("a", "LOGIN admin adminpw").substr(0, 4), "a OK");
  ASSERT_EQ(imap.command("b", "CREATE user.bob").substr(0, 4), "b OK");
  EXPECT_NE(inst.channel_log("r1").find("bob"), std::string::npos);
  // imapd.conf gains a channel; no SIGHUP to master, no worker replaced:
  // the daemon sees the file change.
  inst.options().channels.push_back("fresh");
  inst.write_configs();
  ASSERT_TRUE(wait_until(
      [&] { return inst.master_log().find("channel(s) added: fresh") != std::string::npos; }, 20s))
      << inst.master_log();
  // Recorded for its bootstrap (store/channels.h) before it was logged to.
  EXPECT_NE(inst.master_log().find("channel fresh: new; its replica will be bootstrapped"),
            std::string::npos)
      << inst.master_log();
  // The same connection, so the same worker process.
  ASSERT_EQ(imap.command("c", "CREATE user.carol").substr(0, 4), "c OK");
  std::string fresh = inst.channel_log("fresh");
  EXPECT_NE(fresh.find("carol"), std::string::npos) << fresh;
  EXPECT_EQ(fresh.find("bob"), std::string::npos) << fresh;
}

// Through the daemon a line is durable once journaled: a channel log that
// cannot be written delays its lines (retried every checkpoint) but refuses
// nothing, and they all arrive once it can be written again.
TEST(SyncLogd, UnwritableChannelIsRetriedNotRefused) {
  Instance inst(logging_options());
  ASSERT_EQ(inst.start(), "");
  const std::string squatter = inst.channel_log_path("squatter");
  std::filesystem::create_directories(squatter);  // a directory where the log goes
  for (const char* u : {"a", "b", "c"}) ASSERT_TRUE(inst.tool("cyr_synclog", {"-u", u}).ok());
  // (FLUSH would wait for squatter too.)
  const std::string r1 = inst.channel_log_path("r1");
  EXPECT_TRUE(wait_until([&] { return slurp(r1) == "USER a\nUSER b\nUSER c\n"; }, 10s));
  ASSERT_TRUE(wait_until(
      [&] { return inst.master_log().find("cannot write channel squatter") != std::string::npos; },
      10s));
  std::filesystem::remove(squatter);
  ASSERT_TRUE(wait_until([&] { return lines_of(slurp(squatter)).size() == 3; }, 10s))
      << slurp(squatter);
  EXPECT_EQ(count_line(slurp(squatter), "USER a"), 1u);
  EXPECT_EQ(count_line(slurp(squatter), "USER c"), 1u);
  EXPECT_EQ(inst.channel_log("r1"), "USER a\nUSER b\nUSER c\n");
}

TEST(SyncLogd, RemovedChannelKeepsItsLogAndIsNamed) {
  Instance inst(logging_options());
  ASSERT_EQ(inst.start(), "");
  for (const char* u : {"a", "b", "c"}) ASSERT_TRUE(inst.tool("cyr_synclog", {"-u", u}).ok());
  ASSERT_EQ(lines_of(inst.channel_log("squatter")).size(), 3u);
  inst.options().channels = {"r1", "r2"};
  inst.write_configs();
  const std::string named = "channel squatter is no longer logged; its pending logs are kept: " +
                            inst.channel_log_path("squatter") + " (3 lines)";
  ASSERT_TRUE(wait_until([&] { return inst.master_log().find(named) != std::string::npos; }, 20s))
      << inst.master_log();
  ASSERT_TRUE(inst.tool("cyr_synclog", {"-u", "d"}).ok());
  EXPECT_EQ(inst.channel_log("squatter"), "USER a\nUSER b\nUSER c\n");
  EXPECT_EQ(count_line(inst.channel_log("r1"), "USER d"), 1u);
}

}  // namespace
}  // namespace replimail::testing
