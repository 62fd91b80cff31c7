// Writers in several processes append to one channel while a reader keeps
// taking the log over: every line must be read exactly once, whole.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <set>
#include <thread>

#include "synclog/reader.h"
#include "synclog/synclog.h"
#include "test_dir.h"

namespace replimail::synclog {
namespace {

constexpr int kWriters = 4;
constexpr int kEventsPerWriter = 150;

std::string name_for(int writer, int event) {
  // Long names make a torn or interleaved write visible as a parse error.
  return "user.w" + std::to_string(writer) + "." + std::to_string(event) + "." +
         std::string(300, static_cast<char>('a' + writer));
}

// Takes the channel's log over again and again until every writer process
// has exited, then once more. Returns all lines read; counts parse errors.
struct Collected {
  std::vector<Line> lines;
  size_t errors = 0;
  int runs = 0;
};

Collected collect_until_exit(const std::string& confdir, std::vector<pid_t> pids) {
  Collected out;
  auto drain = [&] {
    LogReader r = LogReader::for_channel(confdir, "r");
    Status s = r.begin();
    if (s.code() == Code::kAgain) return;
    ASSERT_TRUE(s) << s.to_string();
    ++out.runs;
    out.errors += r.errors().size();
    // A batch never straddles two files: it is one write under the lock.
    for (size_t i = 0; i < r.lines().size(); ++i) {
      if (r.lines()[i].keyword == "RENAME") {
        ASSERT_LT(i + 2, r.lines().size());
        EXPECT_EQ(r.lines()[i + 1], (Line{"MAILBOX", {r.lines()[i].args[0]}}));
        EXPECT_EQ(r.lines()[i + 2], (Line{"MAILBOX", {r.lines()[i].args[1]}}));
      }
    }
    out.lines.insert(out.lines.end(), r.lines().begin(), r.lines().end());
    ASSERT_TRUE(r.end());
  };
  size_t running = pids.size();
  while (running > 0) {
    drain();
    running = 0;
    for (pid_t& pid : pids) {
      if (pid == 0) continue;
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        pid = 0;
      } else {
        ++running;
      }
    }
  }
  drain();
  return out;
}

Config channel_config(const std::string& confdir) {
  auto cfg = Config::parse("configdirectory: " + confdir + "\nsync_log: 1\nsync_log_channels: r\n",
                           "t.conf");
  EXPECT_TRUE(cfg.ok());
  return *cfg;
}

// Writer `w` logs its events: even ones as MAILBOX, odd ones as a RENAME
// batch (three lines that must stay together).
void write_events(SyncLog& log, int w) {
  for (int e = 0; e < kEventsPerWriter; ++e) {
    if (e % 2) {
      log.rename(name_for(w, e), name_for(w, e) + "x");
    } else {
      log.mailbox(name_for(w, e));
    }
  }
}

void expect_each_once(const Collected& got, int writers) {
  EXPECT_EQ(got.errors, 0u);
  EXPECT_GT(got.runs, 1);
  std::map<std::string, int> seen;
  for (const auto& l : got.lines) {
    if (l.keyword == "MAILBOX") ++seen[l.args[0]];
  }
  size_t expected = 0;
  for (int w = 0; w < writers; ++w) {
    for (int e = 0; e < kEventsPerWriter; ++e) {
      EXPECT_EQ(seen[name_for(w, e)], 1) << w << "/" << e;
      ++expected;
      if (e % 2) {
        EXPECT_EQ(seen[name_for(w, e) + "x"], 1) << w << "/" << e;
        ++expected;
      }
    }
  }
  EXPECT_EQ(seen.size(), expected);
  EXPECT_EQ(got.lines.size(), static_cast<size_t>(writers * kEventsPerWriter * 2));
}

TEST(SyncLogConcurrency, EveryLineExactlyOnceAcrossRenames) {
  TestDir d;
  Config cfg = channel_config(d.path());
  std::vector<pid_t> pids;
  for (int w = 0; w < kWriters; ++w) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      SyncLog log(cfg);
      write_events(log, w);
      ::_exit(0);
    }
    pids.push_back(pid);
  }
  expect_each_once(collect_until_exit(d.path(), pids), kWriters);
}

TEST(SyncLogConcurrency, ThreadsOfOneProcessToo) {
  TestDir d;
  Config cfg = channel_config(d.path());
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    SyncLog log(cfg);
    std::vector<std::thread> threads;
    for (int w = 0; w < kWriters; ++w) threads.emplace_back([&log, w] { write_events(log, w); });
    for (auto& t : threads) t.join();
    ::_exit(0);
  }
  expect_each_once(collect_until_exit(d.path(), {pid}), kWriters);
}

}  // namespace
}  // namespace replimail::synclog
