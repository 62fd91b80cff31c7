// Writers in several processes append to one channel while a reader keeps
// taking the log over: every line must be read exactly once, whole.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <set>

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

TEST(SyncLogConcurrency, EveryLineExactlyOnceAcrossRenames) {
  TestDir d;
  auto cfg = Config::parse("configdirectory: " + d.path() + "\nsync_log: 1\nsync_log_channels: r\n",
                           "t.conf");
  ASSERT_TRUE(cfg.ok());
  std::vector<pid_t> pids;
  for (int w = 0; w < kWriters; ++w) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      SyncLog log(*cfg);
      for (int e = 0; e < kEventsPerWriter; ++e) {
        // Odd events are three-line batches that must stay together.
        if (e % 2) {
          log.rename(name_for(w, e), name_for(w, e) + "x");
        } else {
          log.mailbox(name_for(w, e));
        }
      }
      ::_exit(0);
    }
    pids.push_back(pid);
  }

  std::vector<Line> all;
  size_t errors = 0;
  int runs = 0;
  auto drain = [&] {
    LogReader r = LogReader::for_channel(d.path(), "r");
    Status s = r.begin();
    if (s.code() == Code::kAgain) return;
    ASSERT_TRUE(s) << s.to_string();
    ++runs;
    errors += r.errors().size();
    // A batch never straddles two files: it is one write under the lock.
    for (size_t i = 0; i < r.lines().size(); ++i) {
      if (r.lines()[i].keyword == "RENAME") {
        ASSERT_LT(i + 2, r.lines().size());
        EXPECT_EQ(r.lines()[i + 1], (Line{"MAILBOX", {r.lines()[i].args[0]}}));
        EXPECT_EQ(r.lines()[i + 2], (Line{"MAILBOX", {r.lines()[i].args[1]}}));
      }
    }
    all.insert(all.end(), r.lines().begin(), r.lines().end());
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

  EXPECT_EQ(errors, 0u);
  EXPECT_GT(runs, 1);
  std::map<std::string, int> seen;
  for (const auto& l : all) {
    if (l.keyword == "MAILBOX") ++seen[l.args[0]];
  }
  // Each MAILBOX event once; each rename adds its two MAILBOX lines.
  size_t expected = 0;
  for (int w = 0; w < kWriters; ++w) {
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
  EXPECT_EQ(all.size(), static_cast<size_t>(kWriters * kEventsPerWriter * 2));
}

}  // namespace
}  // namespace replimail::synclog
