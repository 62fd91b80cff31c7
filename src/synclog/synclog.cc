#include "synclog/synclog.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "common/fs.h"
#include "os/env.h"
#include "synclog/applied.h"
#include "synclog/logd_client.h"

namespace replimail::synclog {

namespace {

// The byte ranges writers lock (see synclog.h): byte 0 while appending
// (exclusive), byte 1 while the change a line announces is in flight
// (shared). A reader's whole-file lock conflicts with both.
constexpr off_t kAppendByte = 0;
constexpr off_t kInFlightByte = 1;

// Open-file-description lock of one byte (len 1) or, with len 0, of the
// whole file. Unlike classic POSIX locks these belong to the descriptor, not
// the process: closing another descriptor of the file (a reader's, or a
// retired one) does not drop them, and they exclude other descriptors of the
// same process too. They conflict with classic POSIX locks, so Cyrus's
// writers and readers, which use those, are ordered against ours.
int lock_range(int fd, short type, off_t start, off_t len, bool wait) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = start;
  fl.l_len = len;
  fl.l_pid = 0;
  for (;;) {
    int r = ::fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
    if (r == 0 || errno != EINTR) return r;
  }
}

// Opens the log at `path`, creating it (and its channel directory) if
// missing. A log this call creates is made durable before any line is
// appended to it: its directory (and, for a new channel directory, the
// parent) is fsynced, or a crash could take the file, and lines already
// acknowledged in it, away. -1 with errno set on failure.
int open_log(const std::string& path) {
  int fd = os::env().open(path, O_RDWR | O_APPEND | O_CLOEXEC, 0640);
  if (fd >= 0 || errno != ENOENT) return fd;
  std::string dir = fs::dirname(path);
  bool made_dir = !fs::exists(dir);
  if (made_dir && !fs::make_dirs(dir, 0755)) return -1;
  fd = os::env().open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return -1;
  Status synced = fs::fsync_dir(dir);
  if (synced && made_dir) synced = fs::fsync_dir(fs::dirname(dir));
  if (!synced) {
    os::env().close(fd);
    errno = EIO;
    return -1;
  }
  return fd;
}

}  // namespace

std::string log_path(const std::string& configdirectory, const std::string& channel) {
  if (channel.empty()) return configdirectory + "/sync/log";
  return configdirectory + "/sync/" + channel + "/log";
}

std::vector<std::string> parse_channel_list(std::string_view value) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < value.size()) {
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
    size_t start = i;
    while (i < value.size() && value[i] != ' ' && value[i] != '\t') ++i;
    if (i == start) break;
    std::string token(value.substr(start, i - start));
    if (token == "\"\"") token.clear();
    if (std::find(out.begin(), out.end(), token) == out.end()) out.push_back(std::move(token));
  }
  return out;
}

namespace detail {

// A log file this process has open. `in_flight` counts the LogHolds on it;
// while it is non-zero the descriptor holds the shared lock on
// kInFlightByte and stays open. Guarded by in_process.
struct OpenLog {
  std::string path;
  int fd = -1;
  dev_t dev = 0;
  ino_t ino = 0;
  int in_flight = 0;
  int unsynced = 0;     // UnsyncedLogs that still have to fsync it
  bool current = true;  // still the descriptor open_logs() hands out
};

// Lines handed to sync_logd (see SyncLog's constructor): released with a
// DONE, or written directly when the daemon cannot be told any more.
struct DaemonTicket {
  std::shared_ptr<LogdClient> client;
  LogdTicket ticket;
  std::string formatted;
  std::vector<std::string> fallback_paths;
};

// What a process waits for under sync_wait_replicas (see
// SyncLog::wait_for_replicas and synclog/applied.h): per replica channel,
// the pass its rolling client must have applied (the highest position of
// the lines logged since the last wait). Guarded by `mu`.
struct WaitState {
  std::string confdir;
  std::vector<std::string> channels;
  int replicas = 0;
  std::chrono::milliseconds timeout{0};
  bool refuse = false;

  std::mutex mu;
  std::map<std::string, ChannelPosition> positions;
  std::map<std::string, uint64_t> need;
  std::optional<WaitBell> bell;
  bool pending = false;  // something was noted since the last wait
  bool warned = false;

  // The position of `channel`, opened (again, if its file was replaced)
  // as needed; null if it cannot be. REQUIRES: mu held.
  ChannelPosition* position(const std::string& channel) {
    auto it = positions.find(channel);
    if (it != positions.end() && !it->second.stale()) return &it->second;
    auto p = ChannelPosition::open(confdir, channel);
    if (!p.ok()) {
      if (!warned) spdlog::error("sync_wait: channel {}: {}", channel, p.status().to_string());
      warned = true;
      if (it != positions.end()) positions.erase(it);
      return nullptr;
    }
    return &(positions.insert_or_assign(channel, std::move(*p)).first->second);
  }

  // The lines of a released change are in every channel's log, at the
  // positions their writer read (`where`, by log path). A channel missing
  // there, or whose position was read from an applied.shm replaced since,
  // gets the position of a line appended now (which is no earlier).
  void note(const std::vector<std::pair<std::string, LinePosition>>& where) {
    std::lock_guard<std::mutex> lk(mu);
    for (const auto& c : channels) {
      ChannelPosition* p = position(c);
      if (p == nullptr) continue;
      const std::string path = log_path(confdir, c);
      auto w = std::find_if(where.begin(), where.end(),
                            [&](const auto& pw) { return pw.first == path; });
      LinePosition at = p->position();
      if (w != where.end() && w->second.file == at.file) at = w->second;
      uint64_t& n = need[c];
      n = std::max(n, at.need);
    }
    pending = true;
  }

  Status wait();
};

}  // namespace detail

using detail::DaemonTicket;
using detail::OpenLog;
using detail::WaitState;

struct HoldAccess {
  static std::vector<std::shared_ptr<OpenLog>>& logs(LogHold& h) { return h.logs_; }
  static std::shared_ptr<DaemonTicket>& ticket(LogHold& h) { return h.ticket_; }
  static std::shared_ptr<WaitState>& wait(LogHold& h) { return h.wait_; }
  static std::vector<std::pair<std::string, LinePosition>>& positions(LogHold& h) {
    return h.positions_;
  }
};

namespace {

// The threads of this process share each cached descriptor, and so its
// locks: they take turns.
std::mutex in_process;

// The log files this process keeps open, by path, and those replaced since
// (taken over) that LogHolds still pin (guarded by in_process). A delivery
// writes every channel's log, so opening and closing each of them per write
// cost three system calls a channel; the identity check works as well on a
// file opened long ago.
std::map<std::string, std::shared_ptr<OpenLog>>& open_logs() {
  static auto* logs = new std::map<std::string, std::shared_ptr<OpenLog>>();
  return *logs;
}

// REQUIRES: in_process held.
Result<std::shared_ptr<OpenLog>> current_log(const std::string& path) {
  auto it = open_logs().find(path);
  if (it != open_logs().end()) return it->second;
  int fd = open_log(path);
  if (fd < 0) return errno_status("open " + path);
  struct stat st {};
  if (::fstat(fd, &st) < 0) {
    Status s = errno_status("fstat " + path);
    os::env().close(fd);
    return s;
  }
  auto log = std::make_shared<OpenLog>();
  log->path = path;
  log->fd = fd;
  log->dev = st.st_dev;
  log->ino = st.st_ino;
  open_logs().emplace(path, log);
  return log;
}

// Closes a retired descriptor once nothing pins it any more.
// REQUIRES: in_process held.
void close_if_unpinned(const std::shared_ptr<OpenLog>& log) {
  if (!log->current && log->in_flight == 0 && log->unsynced == 0 && log->fd >= 0) {
    os::env().close(log->fd);
    log->fd = -1;
  }
}

// The descriptor is not used for new appends any more (taken over, or a
// write or fsync failed on it); it is closed once nothing pins it.
// REQUIRES: in_process held.
void retire(const std::shared_ptr<OpenLog>& log) {
  auto it = open_logs().find(log->path);
  if (it != open_logs().end() && it->second == log) open_logs().erase(it);
  log->current = false;
  close_if_unpinned(log);
}

// REQUIRES: in_process held.
void unpin(const std::shared_ptr<OpenLog>& log) {
  if (--log->in_flight > 0) return;
  lock_range(log->fd, F_UNLCK, kInFlightByte, 1, false);
  close_if_unpinned(log);
}

// fsyncs each file at once (one thread per file beyond the first): flushes
// issued together wait for one journal commit of the filesystem, flushes in
// turn for one each. out[i] is the result for fds[i]; a negative fd is
// skipped.
void fsync_together(const std::vector<int>& fds, const std::vector<std::string>& paths,
                    std::vector<Status>& out) {
  auto flush = [&](size_t i) {
    if (fds[i] < 0) return;
    out[i] = fs::fsync_fd(fds[i], paths[i]);
  };
  std::vector<std::thread> others;
  for (size_t i = 1; i < fds.size(); ++i) others.emplace_back(flush, i);
  if (!fds.empty()) flush(0);
  for (auto& t : others) t.join();
}

// Takes the append lock of the log at `path` and writes `formatted` (Cyrus's
// writer, up to the fsync). On success the log's kAppendByte is locked and,
// if `position` is given, it holds where the lines went (read under that
// lock: synclog/applied.h). There is no limit on how often the log may be
// taken over meanwhile: each time a reader has renamed it, and the line
// follows to the new file.
// REQUIRES: in_process held.
Result<std::shared_ptr<OpenLog>> lock_and_write(const std::string& path, std::string_view formatted,
                                                std::optional<LinePosition>* position) {
  for (;;) {
    auto log = current_log(path);
    if (!log.ok()) return log.status();
    std::shared_ptr<OpenLog> l = *log;
    if (lock_range(l->fd, F_WRLCK, kAppendByte, 1, true) < 0) {
      Status s = errno_status("lock " + path);
      retire(l);
      return s;
    }
    // A reader may have renamed the file to log-run since we opened it (its
    // lock only waits for writers already holding theirs): then the line
    // belongs in the new file.
    struct stat by_name {};
    int found = ::stat(path.c_str(), &by_name);
    int stat_errno = errno;
    if (found == 0 && by_name.st_ino == l->ino && by_name.st_dev == l->dev) {
      struct stat by_fd {};
      if (::fstat(l->fd, &by_fd) < 0) {
        Status s = errno_status("fstat " + path);
        lock_range(l->fd, F_UNLCK, kAppendByte, 1, false);
        retire(l);
        return s;
      }
      Status s = fs::write_all(l->fd, formatted, path);
      if (s) {
        if (position != nullptr) *position = position_after_append(path);
        return l;
      }
      // No partial line may stay: the next writer's line would be glued to
      // it and both lost to the reader.
      if (os::env().ftruncate(l->fd, by_fd.st_size) < 0)
        spdlog::error("sync_log: cannot truncate partial line from {}: {}", path,
                      std::strerror(errno));
      lock_range(l->fd, F_UNLCK, kAppendByte, 1, false);
      retire(l);
      return s;
    }
    if (found < 0 && stat_errno != ENOENT) {
      errno = stat_errno;
      Status s = errno_status("stat " + path);
      lock_range(l->fd, F_UNLCK, kAppendByte, 1, false);
      retire(l);
      return s;
    }
    lock_range(l->fd, F_UNLCK, kAppendByte, 1, false);
    retire(l);
  }
}

}  // namespace

LogHold& LogHold::operator=(LogHold&& o) noexcept {
  if (this != &o) {
    release();
    logs_ = std::move(o.logs_);
    ticket_ = std::move(o.ticket_);
    wait_ = std::move(o.wait_);
    positions_ = std::move(o.positions_);
  }
  return *this;
}

void LogHold::release() {
  std::shared_ptr<WaitState> wait = std::move(wait_);
  wait_.reset();
  std::vector<std::pair<std::string, LinePosition>> where = std::move(positions_);
  positions_.clear();
  if (ticket_ != nullptr) {
    std::shared_ptr<DaemonTicket> t = std::move(ticket_);
    ticket_.reset();
    // A writer that waits for replicas needs its lines in the channel logs
    // and where they went (the daemon read it as it appended them).
    std::map<std::string, LinePosition> by_channel;
    if (wait ? t->client->done_and_written(t->ticket, &by_channel) : t->client->done(t->ticket)) {
      if (wait)
        for (const auto& [channel, at] : by_channel)
          where.emplace_back(log_path(wait->confdir, channel), at);
    } else {
      // The daemon that journaled the lines is gone; its successor replays
      // them without knowing whether the change committed, so they are
      // written again now that it has.
      auto direct = append_to_logs(t->fallback_paths, t->formatted, wait != nullptr);
      if (!direct.ok()) {
        spdlog::error("sync_log: sync_logd went away and the direct write failed: {}",
                      direct.status().to_string());
      } else {
        where = std::move(HoldAccess::positions(*direct));
      }
    }
  }
  if (!logs_.empty()) {
    std::lock_guard<std::mutex> guard(in_process);
    for (auto& log : logs_) unpin(log);
    logs_.clear();
  }
  if (wait) wait->note(where);
}

Result<LogHold> append_to_logs(const std::vector<std::string>& paths, std::string_view formatted,
                               bool positions) {
  std::lock_guard<std::mutex> guard(in_process);
  // Every file is written before any is flushed. Locks are taken in the
  // order given (the configured channel order, the same in every process).
  std::vector<std::shared_ptr<OpenLog>> locked(paths.size());
  std::vector<Status> out(paths.size());
  std::vector<std::optional<LinePosition>> at(paths.size());
  for (size_t i = 0; i < paths.size(); ++i) {
    auto l = lock_and_write(paths[i], formatted, positions ? &at[i] : nullptr);
    if (l.ok())
      locked[i] = *l;
    else
      out[i] = l.status();
  }
  std::vector<int> fds(paths.size(), -1);
  for (size_t i = 0; i < paths.size(); ++i)
    if (locked[i] != nullptr) fds[i] = locked[i]->fd;
  fsync_together(fds, paths, out);
  // Each written log now pins the announcement (shared kInFlightByte, taken
  // before the append lock goes, so that no reader's whole-file lock slips
  // in between).
  LogHold hold;
  Status first;
  for (size_t i = 0; i < paths.size(); ++i) {
    const std::shared_ptr<OpenLog>& l = locked[i];
    if (l == nullptr) {
      if (first) first = out[i];
      continue;
    }
    if (out[i] && lock_range(l->fd, F_RDLCK, kInFlightByte, 1, true) < 0)
      out[i] = errno_status("lock " + paths[i]);
    if (out[i]) {
      ++l->in_flight;
      HoldAccess::logs(hold).push_back(l);
      if (at[i]) HoldAccess::positions(hold).emplace_back(paths[i], *at[i]);
    } else {
      if (first) first = out[i];
    }
    lock_range(l->fd, F_UNLCK, kAppendByte, 1, false);
    // After a failed fsync nothing more is trusted to this descriptor.
    if (!out[i]) retire(l);
  }
  if (!first) {
    for (auto& l : HoldAccess::logs(hold)) unpin(l);
    HoldAccess::logs(hold).clear();
    return first;
  }
  return hold;
}

Status append_lines(const std::string& path, std::string_view formatted) {
  auto hold = append_to_logs({path}, formatted);
  return hold.status();
}

UnsyncedLogs::~UnsyncedLogs() {
  std::lock_guard<std::mutex> guard(in_process);
  for (auto& l : dirty_) {
    --l->unsynced;
    close_if_unpinned(l);
  }
}

Status UnsyncedLogs::append(const std::string& path, std::string_view formatted,
                            std::optional<LinePosition>* position) {
  std::lock_guard<std::mutex> guard(in_process);
  auto l = lock_and_write(path, formatted, position);
  if (!l.ok()) return l.status();
  std::shared_ptr<OpenLog> log = *l;
  lock_range(log->fd, F_UNLCK, kAppendByte, 1, false);
  if (std::find(dirty_.begin(), dirty_.end(), log) == dirty_.end()) {
    ++log->unsynced;
    dirty_.push_back(log);
  }
  return Status::success();
}

Status UnsyncedLogs::flush() {
  std::vector<std::shared_ptr<OpenLog>> logs = std::move(dirty_);
  dirty_.clear();
  std::vector<int> fds;
  std::vector<std::string> paths;
  for (auto& l : logs) {
    fds.push_back(l->fd);
    paths.push_back(l->path);
  }
  std::vector<Status> out(logs.size());
  // The fds stay open meanwhile: `unsynced` pins them.
  fsync_together(fds, paths, out);
  fsyncs_ += logs.size();
  std::lock_guard<std::mutex> guard(in_process);
  Status first;
  for (size_t i = 0; i < logs.size(); ++i) {
    --logs[i]->unsynced;
    if (!out[i]) {
      if (first) first = out[i];
      retire(logs[i]);
    }
    close_if_unpinned(logs[i]);
  }
  return first;
}

Status wait_for_writers(int fd, const std::string& path) {
  if (lock_range(fd, F_WRLCK, 0, 0, true) < 0) return errno_status("lock " + path);
  lock_range(fd, F_UNLCK, 0, 0, false);
  return Status::success();
}

SyncLog::SyncLog(const Config& cfg)
    : confdir_(cfg.configdirectory()),
      enabled_(cfg.get_bool("sync_log")),
      chain_(cfg.get_bool("sync_log_chain")),
      channels_(parse_channel_list(cfg.get("sync_log_channels"))),
      unsuppressable_(parse_channel_list(cfg.get("sync_log_unsuppressable_channels"))) {
  if (channels_.empty()) channels_.push_back("");
  if (enabled_) daemon_ = std::make_shared<LogdClient>(logd_socket_path(confdir_));
  for (const auto& c : channels_)
    if (c != "squatter" && !cfg.channel_get(c, "sync_host").empty()) replicas_.push_back(c);
  const int64_t want = cfg.get_int("sync_wait_replicas");
  if (enabled_ && want > 0) {
    wait_ = std::make_shared<WaitState>();
    wait_->confdir = confdir_;
    wait_->channels = replicas_;
    wait_->replicas = static_cast<int>(want);
    wait_->timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
        cfg.get_duration("sync_wait_timeout"));
    wait_->refuse = cfg.get("sync_wait_on_timeout") == "refuse";
  }
}

SyncLog::~SyncLog() = default;

std::vector<std::string> SyncLog::channels() const {
  if (!enabled_) return {};
  if (!suppressed_.load()) return channels_;
  std::vector<std::string> out;
  for (const auto& c : channels_) {
    if (std::find(unsuppressable_.begin(), unsuppressable_.end(), c) != unsuppressable_.end()) {
      out.push_back(c);
    }
  }
  return out;
}

void SyncLog::suppress() {
  if (!chain_) suppressed_.store(true);
}

std::vector<std::string> SyncLog::channel_paths() const {
  std::vector<std::string> paths;
  for (const auto& channel : channels()) paths.push_back(log_path(confdir_, channel));
  return paths;
}

Result<LogHold> SyncLog::write_all_channels(const std::string& formatted, std::string_view what) {
  if (daemon_ != nullptr) {
    auto ticket = daemon_->log(suppressed_.load(), formatted);
    if (ticket.ok()) {
      LogHold hold;
      if (ticket->id == 0) return hold;
      auto t = std::make_shared<DaemonTicket>();
      t->client = daemon_;
      t->ticket = *ticket;
      t->formatted = formatted;
      t->fallback_paths = channel_paths();
      HoldAccess::ticket(hold) = std::move(t);
      if (!suppressed_.load()) HoldAccess::wait(hold) = wait_;
      return hold;
    }
    spdlog::debug("sync_log: writing directly: {}", ticket.status().to_string());
  }
  std::vector<std::string> paths = channel_paths();
  if (paths.empty()) return LogHold();
  const bool waits = wait_ != nullptr && !suppressed_.load();
  auto hold = append_to_logs(paths, formatted, waits);
  if (!hold.ok()) {
    spdlog::error("sync_log: cannot log, the change is refused: {}: {}", hold.status().to_string(),
                  what);
  } else if (waits) {
    HoldAccess::wait(*hold) = wait_;
  }
  return hold;
}

Status SyncLog::wait_for_replicas() {
  if (wait_ == nullptr || suppressed_.load()) return Status::success();
  return wait_->wait();
}

namespace detail {

Status WaitState::wait() {
  using Clock = std::chrono::steady_clock;
  std::lock_guard<std::mutex> lk(mu);
  if (!pending) return Status::success();
  if (!bell) {
    auto b = WaitBell::open(confdir);
    if (b.ok()) {
      bell.emplace(std::move(*b));
    } else {
      spdlog::error("sync_wait: {}", b.status().to_string());
    }
  }
  const auto start = Clock::now();
  const auto deadline = start + timeout;
  std::vector<std::string> behind;
  for (;;) {
    const uint32_t seen = bell ? bell->value() : 0;
    int done = 0;
    behind.clear();
    for (const auto& c : channels) {
      auto n = need.find(c);
      auto p = positions.find(c);
      if (n != need.end() && p != positions.end() && p->second.applied() >= n->second) {
        ++done;
      } else {
        behind.push_back(c.empty() ? "\"\"" : c);
      }
    }
    const auto now = Clock::now();
    if (done >= replicas) {
      if (bell)
        bell->count_wait(std::chrono::duration_cast<std::chrono::milliseconds>(now - start));
      need.clear();
      pending = false;
      return Status::success();
    }
    if (now >= deadline || !bell) break;
    bell->wait(seen,
               std::min(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) +
                            std::chrono::milliseconds(1),
                        std::chrono::milliseconds(1000)));
  }
  need.clear();
  pending = false;
  if (bell) bell->count_timeout(refuse);
  std::string names;
  for (const auto& c : behind) names += (names.empty() ? "" : " ") + c;
  if (channels.empty()) names = "(no channel with a sync host is logged)";
  const std::string what =
      fmt::format("{} replica(s) wanted (sync_wait_replicas), not applied within {} ms by: {}",
                  replicas, timeout.count(), names);
  if (refuse) {
    spdlog::warn(
        "sync_wait: {}; refused, the client is told to try again "
        "(sync_wait_on_timeout: refuse)",
        what);
    return Status(Code::kNotReplicated, what);
  }
  spdlog::warn("sync_wait: {}; acknowledged without them (sync_wait_on_timeout: async)", what);
  return Status::success();
}

}  // namespace detail

Result<LogHold> SyncLog::announce(const std::vector<Line>& lines) {
  if (!enabled_ || lines.empty()) return LogHold();
  std::string formatted;
  for (const auto& line : lines) {
    auto f = format_line(line);
    if (!f) {
      spdlog::error("sync_log: cannot format {} line, the change is refused: {}", line.keyword,
                    f.status().to_string());
      return f.status();
    }
    formatted += *f;
  }
  std::string_view what(formatted);
  what.remove_suffix(1);
  return write_all_channels(formatted, what);
}

Status SyncLog::write(const std::vector<Line>& lines) { return announce(lines).status(); }

Status SyncLog::log_raw(std::string_view text) {
  if (text.find_first_of("\r\n") != std::string_view::npos) {
    return Status(Code::kInvalidArgument, "line break in raw sync log line");
  }
  if (text.empty()) return Status(Code::kInvalidArgument, "empty raw sync log line");
  if (text.size() + 1 > kMaxLineLength) {
    return Status(Code::kInvalidArgument, "raw sync log line too long");
  }
  if (!enabled_) return Status::success();
  return write_all_channels(std::string(text) + "\n", text).status();
}

Status SyncLog::user(const std::string& userid) { return write({{"USER", {userid}}}); }
Status SyncLog::unuser(const std::string& userid) { return write({{"UNUSER", {userid}}}); }
Status SyncLog::meta(const std::string& userid) { return write({{"META", {userid}}}); }
Status SyncLog::mailbox(const std::string& name) { return write({{"MAILBOX", {name}}}); }
Status SyncLog::append(const std::string& name) { return write({{"APPEND", {name}}}); }
Status SyncLog::doublemailbox(const std::string& from, const std::string& to) {
  return write({{"DOUBLEMAILBOX", {from, to}}});
}
Status SyncLog::unmailbox(const std::string& name) { return write({{"UNMAILBOX", {name}}}); }
Status SyncLog::rename(const std::string& oldname, const std::string& newname) {
  return write({{"RENAME", {oldname, newname}}, {"MAILBOX", {oldname}}, {"MAILBOX", {newname}}});
}
Status SyncLog::quota(const std::string& root) { return write({{"QUOTA", {root}}}); }
Status SyncLog::annotation(const std::string& name) { return write({{"ANNOTATION", {name}}}); }
Status SyncLog::seen(const std::string& userid, const std::string& uniqueid) {
  return write({{"SEEN", {userid, uniqueid}}});
}
Status SyncLog::sub(const std::string& userid, const std::string& name) {
  return write({{"SUB", {userid, name}}});
}

}  // namespace replimail::synclog
