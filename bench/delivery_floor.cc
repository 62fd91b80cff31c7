// bench/delivery_floor — what the disk alone costs one durable delivery
// (issue 15): the flushes an LMTP delivery of replimail makes, with nothing
// else (no parsing, no SQLite, no sockets), on the filesystem given.
//
// usage: delivery_floor [-d DIR] [-n N] [-c CONNS]
//   -d DIR    a folder on the filesystem of the instances' state (default
//             $TMPDIR or /tmp); a fresh sub-folder is made and removed
//   -n N      deliveries per mode and stream (default 1000)
//   -c CONNS  streams for the concurrent mode (default 8)
//
// One delivery's durable steps, as src/store/instance.cc orders them:
//   file    create <dir>/stage/<i>, write 15-22 KB, fsync
//   dir     link it as <dir>/mbox/<i>. and fsync the mailbox directory
//   journal append ~100 bytes to sync/journal, fdatasync (sync_logd's)
//   wal     write 6 SQLite pages + frame headers (24.7 KB) into a WAL file
//           that restarts from its start every 4 MB, as SQLite's does after
//           a checkpoint, fdatasync
//   then unlink the staged name (after the reply, off the clock).
// Modes:
//   serial    file, dir, journal, wal one after the other
//   parallel  [file ‖ dir ‖ journal] on three persistent worker threads,
//             then wal: replimail's order (a record never reaches the disk
//             before its file, directory entry and log lines)
//   noflush   serial without any flush: what the same steps cost the CPU
//             and the filesystem without the disk
//   concurrent CONNS streams, each a parallel delivery into its own
//             mailbox directory and WAL (one user per connection), one
//             shared journal: the aggregate rate
// Prints, per mode, the mean, median and 99th percentile time of one
// delivery in µs, the rate, and this process's CPU µs per delivery.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& what) {
  std::perror(what.c_str());
  std::exit(1);
}

void check(bool ok, const std::string& what) {
  if (!ok) die(what);
}

void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    check(w > 0, "write");
    p += w;
    n -= static_cast<size_t>(w);
  }
}

double cpu_us() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

// A thread that runs one job at a time, handed to it by run() and joined by
// wait(): the persistent worker a delivery's parallel flushes would use.
class Worker {
 public:
  Worker() : thread_([this] { loop(); }) {}
  ~Worker() {
    {
      std::lock_guard<std::mutex> g(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void run(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> g(mu_);
      job_ = std::move(job);
      done_ = false;
    }
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> g(mu_);
    cv_.wait(g, [this] { return done_; });
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> g(mu_);
    for (;;) {
      cv_.wait(g, [this] { return stop_ || static_cast<bool>(job_); });
      if (stop_) return;
      auto job = std::move(job_);
      job_ = nullptr;
      g.unlock();
      job();
      g.lock();
      done_ = true;
      cv_.notify_all();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> job_;
  bool done_ = true, stop_ = false;
  std::thread thread_;
};

// The shared sync log journal: appends and fdatasyncs under one lock (the
// daemon's group commit is not modelled: each delivery pays its own flush).
struct Journal {
  int fd = -1;
  bool flush = true;
  std::mutex mu;
  void append() {
    static const std::string line(100, 'j');
    std::lock_guard<std::mutex> g(mu);
    write_all(fd, line.data(), line.size());
    if (flush) check(::fdatasync(fd) == 0, "fdatasync journal");
  }
};

// One mailbox: its directory, its WAL, its staging folder, and three
// workers for the parallel flushes.
struct Stream {
  std::string stage, mbox;
  int dirfd = -1, walfd = -1, staged_fd = -1;
  bool flush = true;
  off_t wal_off = 0;
  std::mt19937 rng;
  std::string body;
  std::vector<double> times_us;
  Worker w_file, w_dir, w_journal;

  Stream(const std::string& root, int k) : rng(static_cast<unsigned>(k) * 7919U + 1U) {
    stage = root + "/stage" + std::to_string(k);
    mbox = root + "/mbox" + std::to_string(k);
    check(::mkdir(stage.c_str(), 0700) == 0, "mkdir " + stage);
    check(::mkdir(mbox.c_str(), 0700) == 0, "mkdir " + mbox);
    dirfd = ::open(mbox.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    check(dirfd >= 0, "open " + mbox);
    walfd = ::open((mbox + "/index.db-wal").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    check(walfd >= 0, "open wal");
    body.resize(22 * 1024);
    for (auto& c : body) c = static_cast<char>('a' + rng() % 26);
  }
  ~Stream() {
    ::close(dirfd);
    ::close(walfd);
  }

  std::string staged_path(int i) const { return stage + "/" + std::to_string(i); }

  void write_file(int i) {
    size_t size = 15 * 1024 + rng() % (7 * 1024);
    int fd = ::open(staged_path(i).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    check(fd >= 0, "create staged");
    write_all(fd, body.data(), size);
    staged_fd = fd;
  }
  void fsync_file() {
    check(!flush || ::fsync(staged_fd) == 0, "fsync staged");
    ::close(staged_fd);
  }
  void link_and_fsync_dir(int i) {
    std::string to = mbox + "/" + std::to_string(i) + ".";
    check(::link(staged_path(i).c_str(), to.c_str()) == 0, "link");
    check(!flush || ::fsync(dirfd) == 0, "fsync dir");
  }
  void wal_commit() {
    static const std::string frames(6 * (24 + 4096), 'w');
    if (wal_off + static_cast<off_t>(frames.size()) > 4 << 20) wal_off = 0;
    check(::pwrite(walfd, frames.data(), frames.size(), wal_off) ==
              static_cast<ssize_t>(frames.size()),
          "pwrite wal");
    wal_off += static_cast<off_t>(frames.size());
    check(!flush || ::fdatasync(walfd) == 0, "fdatasync wal");
  }

  void serial(int i, Journal& j) {
    write_file(i);
    fsync_file();
    link_and_fsync_dir(i);
    j.append();
    wal_commit();
    ::unlink(staged_path(i).c_str());
  }
  void parallel(int i, Journal& j) {
    write_file(i);
    w_file.run([this] { fsync_file(); });
    w_journal.run([&j] { j.append(); });
    w_dir.run([this, i] { link_and_fsync_dir(i); });
    w_file.wait();
    w_journal.wait();
    w_dir.wait();
    wal_commit();
    ::unlink(staged_path(i).c_str());
  }
};

struct Figures {
  double mean_us, p50_us, p99_us, rate, cpu_us_per_delivery;
};

Figures summarize(std::vector<double> t, double wall_s, double cpu, size_t deliveries) {
  std::sort(t.begin(), t.end());
  double sum = 0;
  for (double x : t) sum += x;
  return {sum / static_cast<double>(t.size()), t[t.size() / 2], t[t.size() * 99 / 100],
          static_cast<double>(deliveries) / wall_s, cpu / static_cast<double>(deliveries)};
}

void print(const char* mode, int streams, const Figures& f) {
  std::printf("%-10s streams=%d  mean %7.1f us  p50 %7.1f us  p99 %7.1f us  %8.1f deliveries/s  "
              "cpu %5.1f us/delivery\n",
              mode, streams, f.mean_us, f.p50_us, f.p99_us, f.rate, f.cpu_us_per_delivery);
  std::fflush(stdout);
}

Figures run(const std::string& root, int streams, int n, bool parallel, int tag,
            bool flush = true) {
  std::string dir = root + "/run" + std::to_string(tag);
  check(::mkdir(dir.c_str(), 0700) == 0, "mkdir " + dir);
  Journal journal;
  journal.fd = ::open((dir + "/journal").c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  check(journal.fd >= 0, "open journal");
  journal.flush = flush;
  std::vector<std::unique_ptr<Stream>> ss;
  for (int k = 0; k < streams; k++) {
    ss.push_back(std::make_unique<Stream>(dir, k));
    ss.back()->flush = flush;
  }
  double cpu0 = cpu_us();
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (auto& s : ss) {
    threads.emplace_back([&s, &journal, n, parallel] {
      for (int i = 0; i < n; i++) {
        auto a = Clock::now();
        if (parallel)
          s->parallel(i, journal);
        else
          s->serial(i, journal);
        s->times_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
      }
    });
  }
  for (auto& t : threads) t.join();
  double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  double cpu = cpu_us() - cpu0;
  std::vector<double> all;
  for (auto& s : ss) all.insert(all.end(), s->times_us.begin(), s->times_us.end());
  ::close(journal.fd);
  ss.clear();
  std::filesystem::remove_all(dir);
  return summarize(all, wall, cpu, all.size());
}

}  // namespace

int main(int argc, char** argv) {
  const char* tmp = std::getenv("TMPDIR");
  std::string base = tmp != nullptr ? tmp : "/tmp";
  int n = 1000, conns = 8;
  for (int opt; (opt = ::getopt(argc, argv, "d:n:c:")) != -1;) {
    switch (opt) {
      case 'd': base = optarg; break;
      case 'n': n = std::atoi(optarg); break;
      case 'c': conns = std::atoi(optarg); break;
      default:
        std::fprintf(stderr, "usage: delivery_floor [-d DIR] [-n N] [-c CONNS]\n");
        return 64;
    }
  }
  std::string tmpl = base + "/delivery-floor.XXXXXX";
  check(::mkdtemp(tmpl.data()) != nullptr, "mkdtemp " + tmpl);
  std::printf("delivery_floor: %s, %d deliveries per stream\n", tmpl.c_str(), n);
  print("serial", 1, run(tmpl, 1, n, false, 0));
  print("parallel", 1, run(tmpl, 1, n, true, 1));
  print("concurrent", conns, run(tmpl, conns, n / conns > 0 ? n / conns : 1, true, 2));
  print("noflush", 1, run(tmpl, 1, n, false, 3, false));
  std::filesystem::remove_all(tmpl);
  return 0;
}
