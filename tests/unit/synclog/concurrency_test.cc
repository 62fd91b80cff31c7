// Writers in several processes append to one channel while a reader keeps
// taking the log over: every line must be read exactly once, whole.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "common/fs.h"

#include "synclog/reader.h"
#include "synclog/synclog.h"
#include "test_dir.h"

namespace replimail::synclog {
namespace {

constexpr int kWriters = 6;
constexpr int kEventsPerWriter = 200;

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
// batch (three lines that must stay together). False if any write failed.
bool write_events(SyncLog& log, int w) {
  bool all = true;
  for (int e = 0; e < kEventsPerWriter; ++e) {
    Status s = (e % 2) ? log.rename(name_for(w, e), name_for(w, e) + "x")
                       : log.mailbox(name_for(w, e));
    if (!s) all = false;
  }
  return all;
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
      ::_exit(write_events(log, w) ? 0 : 1);
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
    std::atomic<bool> all{true};
    std::vector<std::thread> threads;
    for (int w = 0; w < kWriters; ++w)
      threads.emplace_back([&log, &all, w] {
        if (!write_events(log, w)) all = false;
      });
    for (auto& t : threads) t.join();
    ::_exit(all ? 0 : 1);
  }
  expect_each_once(collect_until_exit(d.path(), {pid}), kWriters);
}

// True once /proc/locks shows someone waiting ("->") for a lock on inode
// `ino` (OFD lock waiters show no useful pid, so any waiter counts: the
// tests know who it can be).
bool waiting_for_lock(ino_t ino) {
  std::ifstream in("/proc/locks");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string id, arrow, kind, mode, type, who, file;
    f >> id >> arrow;
    if (arrow != "->") continue;
    f >> kind >> mode >> type >> who >> file;
    size_t colon = file.rfind(':');
    if (colon == std::string::npos) continue;
    if (file.substr(colon + 1) == std::to_string(ino)) return true;
  }
  return false;
}

int lock_whole(int fd, short type) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  return ::fcntl(fd, F_SETLK, &fl);
}

// A writer whose log is taken over again and again (each time while it
// waits for the lock, as a reader and a busy writer together make happen)
// keeps following the log: there is no number of takeovers after which it
// gives up and the event is lost. The test holds the lock of each new log,
// waits until the writer process is blocked on it, and renames it away.
TEST(SyncLogConcurrency, WriterFollowsTheLogThroughAnyNumberOfTakeovers) {
  constexpr int kTakeovers = 150;
  TestDir d;
  Config cfg = channel_config(d.path());
  const std::string path = log_path(d.path(), "r");
  ASSERT_TRUE(fs::make_dirs(fs::dirname(path), 0755));
  auto create_locked = [&path]() {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    EXPECT_GE(fd, 0) << std::strerror(errno);
    EXPECT_EQ(lock_whole(fd, F_WRLCK), 0) << std::strerror(errno);
    return fd;
  };
  int held = create_locked();
  ASSERT_GE(held, 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    SyncLog log(cfg);
    Status s = log.write({{"MAILBOX", {"user.followed"}}});
    ::_exit(s ? 0 : 1);
  }
  bool writer_alive = true;
  for (int k = 0; k < kTakeovers && writer_alive; ++k) {
    struct stat st {};
    ASSERT_EQ(::fstat(held, &st), 0);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!waiting_for_lock(st.st_ino)) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        ADD_FAILURE() << "writer exited after " << k << " takeovers, status " << status;
        writer_alive = false;
        break;
      }
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "writer never waited, takeover " << k;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!writer_alive) break;
    std::string old = path + "-old" + std::to_string(k);
    ASSERT_EQ(::rename(path.c_str(), old.c_str()), 0);
    int next = create_locked();
    ASSERT_GE(next, 0);
    ::close(held);  // drops its lock: the writer wakes on a file renamed away
    held = next;
  }
  ::close(held);
  if (writer_alive) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  auto now = fs::read_file(path);
  ASSERT_TRUE(now.ok()) << now.status().to_string();
  EXPECT_EQ(*now, "MAILBOX user.followed\n");
  for (int k = 0; k < kTakeovers; ++k) {
    auto old = fs::read_file(path + "-old" + std::to_string(k));
    if (old.ok()) {
      EXPECT_EQ(*old, "") << k;
    }
  }
}

// A line announces a change that is still in flight while its LogHold
// lives: a reader taking the log over waits until the hold is dropped (the
// change committed or abandoned), so that the state it then reads has it.
TEST(SyncLogConcurrency, ReaderWaitsForAnnouncementsInFlight) {
  TestDir d;
  Config cfg = channel_config(d.path());
  SyncLog log(cfg);
  auto hold = log.announce({{"MAILBOX", {"user.inflight"}}});
  ASSERT_TRUE(hold.ok()) << hold.status().to_string();
  struct stat st {};
  ASSERT_EQ(::stat(log_path(d.path(), "r").c_str(), &st), 0);
  std::atomic<bool> done{false};
  std::vector<Line> read;
  std::thread reader([&] {
    LogReader r = LogReader::for_channel(d.path(), "r");
    Status s = r.begin();
    EXPECT_TRUE(s) << s.to_string();
    read = r.lines();
    done = true;
  });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!waiting_for_lock(st.st_ino) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_TRUE(waiting_for_lock(st.st_ino)) << "the reader never waited";
  EXPECT_FALSE(done);
  // Another announcement meanwhile goes to a new log, not the one taken over.
  EXPECT_TRUE(log.mailbox("user.later"));
  hold->release();
  reader.join();
  EXPECT_EQ(read, (std::vector<Line>{{"MAILBOX", {"user.inflight"}}}));
  auto now = fs::read_file(log_path(d.path(), "r"));
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(*now, "MAILBOX user.later\n");
}

}  // namespace
}  // namespace replimail::synclog
