#include "synclog/applied.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>

#include "common/fs.h"
#include "synclog/synclog.h"

namespace replimail::synclog {

namespace {

// The files are one page: a mapping never reaches past their end.
constexpr size_t kPage = 4096;

struct ChannelPage {
  std::atomic<uint64_t> taken;
  std::atomic<uint64_t> applied;
};

struct WaitPage {
  std::atomic<uint32_t> bell;  // the futex word
  uint32_t unused;
  std::atomic<uint64_t> waits;
  std::atomic<uint64_t> wait_ms;
  std::atomic<uint64_t> timeouts_async;
  std::atomic<uint64_t> timeouts_refused;
};

static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
static_assert(sizeof(ChannelPage) <= kPage && sizeof(WaitPage) <= kPage);

}  // namespace

namespace detail {

struct Mapping {
  std::string path;
  int fd = -1;
  void* addr = nullptr;
  dev_t dev = 0;
  ino_t ino = 0;
  ~Mapping() {
    if (addr != nullptr) ::munmap(addr, kPage);
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace detail

namespace {

using detail::Mapping;

// Opens (creating, with its directory, unless `create` is false) and maps
// the page file at `path`. Several processes may create it at once: each
// extends it to one page of zeros at most, which is the initial state (so
// a file found shorter, just created by another, is extended too).
Result<std::unique_ptr<Mapping>> map_page(const std::string& path, bool create = true) {
  auto m = std::make_unique<Mapping>();
  m->path = path;
  m->fd = ::open(path.c_str(), O_RDWR | (create ? O_CREAT : 0) | O_CLOEXEC, 0640);
  if (m->fd < 0 && errno == ENOENT && create) {
    if (Status s = fs::make_dirs(fs::dirname(path), 0755); !s) return s;
    m->fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  }
  if (m->fd < 0) return errno_status("open " + path);
  struct stat st {};
  if (::fstat(m->fd, &st) < 0) return errno_status("fstat " + path);
  if (st.st_size < static_cast<off_t>(kPage) && ::ftruncate(m->fd, kPage) < 0)
    return errno_status("ftruncate " + path);
  m->dev = st.st_dev;
  m->ino = st.st_ino;
  void* addr = ::mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
  if (addr == MAP_FAILED) return errno_status("mmap " + path);
  m->addr = addr;
  return m;
}

ChannelPage& channel_page(const std::unique_ptr<Mapping>& m) {
  return *static_cast<ChannelPage*>(m->addr);
}

WaitPage& wait_page(const std::unique_ptr<Mapping>& m) { return *static_cast<WaitPage*>(m->addr); }

// The futex word lives in a shared file mapping, so the calls are the
// shared (not FUTEX_PRIVATE) ones: waiters and wakers are other processes.
long futex(std::atomic<uint32_t>* word, int op, uint32_t val, const struct timespec* timeout) {
  return ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op, val, timeout, nullptr, 0);
}

void ring_bell(const std::unique_ptr<Mapping>& m) {
  WaitPage& w = wait_page(m);
  w.bell.fetch_add(1);
  futex(&w.bell, FUTEX_WAKE, INT_MAX, nullptr);
}

}  // namespace

std::string applied_path(const std::string& configdirectory, const std::string& channel) {
  return fs::dirname(log_path(configdirectory, channel)) + "/applied.shm";
}

std::string wait_state_path(const std::string& configdirectory) {
  return configdirectory + "/sync/wait.shm";
}

std::optional<LinePosition> position_after_append(const std::string& log_path) {
  // One mapping per channel for the life of the process (sync_logd writes
  // every channel many times a second): a stat per call tells whether the
  // file is still the one mapped.
  static std::mutex mu;
  static auto* mapped = new std::map<std::string, std::unique_ptr<Mapping>>();
  const std::string path = fs::dirname(log_path) + "/applied.shm";
  struct stat st {};
  std::lock_guard<std::mutex> lk(mu);
  auto it = mapped->find(path);
  if (::stat(path.c_str(), &st) != 0) {
    if (it != mapped->end()) mapped->erase(it);
    return std::nullopt;
  }
  if (it == mapped->end() || it->second->ino != st.st_ino || it->second->dev != st.st_dev) {
    auto m = map_page(path, false);
    if (!m.ok()) return std::nullopt;
    it = mapped->insert_or_assign(path, std::move(*m)).first;
  }
  const Mapping& m = *it->second;
  return LinePosition{static_cast<uint64_t>(m.ino),
                      channel_page(it->second).taken.load() + 1};
}

Result<ChannelPosition> ChannelPosition::open(const std::string& configdirectory,
                                              const std::string& channel) {
  auto m = map_page(applied_path(configdirectory, channel));
  if (!m.ok()) return m.status();
  auto b = map_page(wait_state_path(configdirectory));
  if (!b.ok()) return b.status();
  ChannelPosition p;
  p.map_ = std::move(*m);
  p.bell_ = std::move(*b);
  return p;
}

ChannelPosition::ChannelPosition(ChannelPosition&&) noexcept = default;
ChannelPosition& ChannelPosition::operator=(ChannelPosition&&) noexcept = default;
ChannelPosition::~ChannelPosition() = default;

uint64_t ChannelPosition::taken() const { return channel_page(map_).taken.load(); }
uint64_t ChannelPosition::applied() const { return channel_page(map_).applied.load(); }

uint64_t ChannelPosition::file() const { return static_cast<uint64_t>(map_->ino); }

LinePosition ChannelPosition::position() const { return LinePosition{file(), taken() + 1}; }

uint64_t ChannelPosition::begin_pass() { return channel_page(map_).taken.fetch_add(1) + 1; }

void ChannelPosition::mark_applied(uint64_t pass) {
  std::atomic<uint64_t>& a = channel_page(map_).applied;
  uint64_t was = a.load();
  while (was < pass && !a.compare_exchange_weak(was, pass)) {
  }
  if (was < pass) ring_bell(bell_);
}

bool ChannelPosition::stale() const {
  struct stat st {};
  return ::stat(map_->path.c_str(), &st) != 0 || st.st_ino != map_->ino || st.st_dev != map_->dev;
}

Result<WaitBell> WaitBell::open(const std::string& configdirectory) {
  auto m = map_page(wait_state_path(configdirectory));
  if (!m.ok()) return m.status();
  WaitBell b;
  b.map_ = std::move(*m);
  return b;
}

WaitBell::WaitBell(WaitBell&&) noexcept = default;
WaitBell& WaitBell::operator=(WaitBell&&) noexcept = default;
WaitBell::~WaitBell() = default;

uint32_t WaitBell::value() const { return wait_page(map_).bell.load(); }

void WaitBell::wait(uint32_t seen, std::chrono::milliseconds limit) const {
  if (limit.count() <= 0) return;
  struct timespec ts {};
  ts.tv_sec = static_cast<time_t>(limit.count() / 1000);
  ts.tv_nsec = static_cast<long>(limit.count() % 1000) * 1000000L;
  // EAGAIN (the bell already moved), EINTR and ETIMEDOUT all mean: look
  // again.
  futex(&wait_page(map_).bell, FUTEX_WAIT, seen, &ts);
}

void WaitBell::ring() { ring_bell(map_); }

void WaitBell::count_wait(std::chrono::milliseconds took) {
  WaitPage& w = wait_page(map_);
  w.waits.fetch_add(1);
  w.wait_ms.fetch_add(static_cast<uint64_t>(took.count()));
}

void WaitBell::count_timeout(bool refused) {
  WaitPage& w = wait_page(map_);
  (refused ? w.timeouts_refused : w.timeouts_async).fetch_add(1);
}

WaitCounters WaitBell::counters() const {
  const WaitPage& w = wait_page(map_);
  WaitCounters c;
  c.waits = w.waits.load();
  c.wait_ms = w.wait_ms.load();
  c.timeouts_async = w.timeouts_async.load();
  c.timeouts_refused = w.timeouts_refused.load();
  return c;
}

namespace {

// No line waits in the channel's log or in a log-run a pass took over.
bool log_empty(const std::string& configdirectory, const std::string& channel) {
  const std::string log = log_path(configdirectory, channel);
  for (const std::string& path : {log, log + "-run"}) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && st.st_size > 0) return false;
  }
  return true;
}

}  // namespace

Result<bool> wait_channel_applied(const std::string& configdirectory, const std::string& channel,
                                  std::chrono::milliseconds limit) {
  using Clock = std::chrono::steady_clock;
  auto position = ChannelPosition::open(configdirectory, channel);
  if (!position.ok()) return position.status();
  auto bell = WaitBell::open(configdirectory);
  if (!bell.ok()) return bell.status();
  const uint64_t need = position->position().need;
  const auto deadline = Clock::now() + limit;
  for (;;) {
    const uint32_t seen = bell->value();
    const uint64_t taken = position->taken();
    if (position->applied() >= need) return true;
    if (position->applied() == taken && log_empty(configdirectory, channel) &&
        position->taken() == taken)
      return true;
    const auto now = Clock::now();
    if (now >= deadline || position->stale()) return false;
    // An idle client rings nothing: look again at least every 100 ms.
    bell->wait(seen, std::min(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now),
                              std::chrono::milliseconds(100)));
  }
}

WaitCounters read_wait_counters(const std::string& configdirectory) {
  const std::string path = wait_state_path(configdirectory);
  if (!fs::exists(path)) return {};
  auto b = WaitBell::open(configdirectory);
  return b.ok() ? b->counters() : WaitCounters{};
}

}  // namespace replimail::synclog
