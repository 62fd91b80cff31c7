#include "synclog/synclog.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "common/fs.h"
#include "os/env.h"

namespace replimail::synclog {

namespace {

// Cyrus's SYNC_LOG_RETRIES: how often a writer re-opens a log that a reader
// renamed away between our open() and our lock.
constexpr int kRetries = 64;

Status errno_status(const std::string& what) {
  return Status(Code::kIoError, what + ": " + std::strerror(errno));
}

int lock_fd(int fd, short type) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  for (;;) {
    int r = ::fcntl(fd, F_SETLKW, &fl);
    if (r == 0 || errno != EINTR) return r;
  }
}

int open_log(const std::string& path) {
  int fd = os::env().open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0 && errno == ENOENT && fs::make_dirs(fs::dirname(path), 0755)) {
    fd = os::env().open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
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

namespace {

// One log file, open and locked with `formatted` written, awaiting fsync.
struct Locked {
  int fd = -1;
  Status status;
};

// fcntl locks belong to the process, so they do not order this process's
// own threads: one thread's unlock would release another's lock while it
// still writes, and a reader could take the file over in between.
std::mutex in_process;

// The log files this process keeps open, by path (guarded by in_process).
// A delivery writes every channel's log, so opening and closing each of
// them per write cost three system calls a channel; the identity check
// below works as well on a file opened long ago.
std::map<std::string, int>& open_logs() {
  static auto* logs = new std::map<std::string, int>();
  return *logs;
}

int cached_log(const std::string& path) {
  auto it = open_logs().find(path);
  if (it != open_logs().end()) return it->second;
  int fd = open_log(path);
  if (fd >= 0) open_logs().emplace(path, fd);
  return fd;
}

void close_log(const std::string& path) {
  auto it = open_logs().find(path);
  if (it == open_logs().end()) return;
  os::env().close(it->second);
  open_logs().erase(it);
}

// Takes the lock of the log at `path` and writes `formatted` (Cyrus's
// writer, up to the fsync). On success the returned fd is still locked.
// REQUIRES: in_process held.
Locked lock_and_write(const std::string& path, std::string_view formatted) {
  for (int attempt = 0; attempt < kRetries; ++attempt) {
    int fd = cached_log(path);
    if (fd < 0) return {-1, errno_status("open " + path)};
    if (lock_fd(fd, F_WRLCK) < 0) {
      Status s = errno_status("lock " + path);
      close_log(path);
      return {-1, s};
    }
    // A reader may have renamed the file to log-run since we opened it; its
    // lock+unlock only waits for writers already holding the lock, so we
    // must notice and append to the new file instead.
    struct stat by_fd {};
    struct stat by_name {};
    if (::fstat(fd, &by_fd) == 0 && ::stat(path.c_str(), &by_name) == 0 &&
        by_fd.st_ino == by_name.st_ino && by_fd.st_dev == by_name.st_dev) {
      Status s = fs::write_all(fd, formatted, path);
      if (s) return {fd, s};
      // A torn write (a full disk takes part of it) would glue the next
      // writer's line onto a partial one: cut the file back first.
      os::env().ftruncate(fd, by_fd.st_size);
      lock_fd(fd, F_UNLCK);
      close_log(path);
      return {-1, s};
    }
    lock_fd(fd, F_UNLCK);
    close_log(path);
  }
  return {-1, Status(Code::kIoError, "log " + path + " renamed under us " +
                                         std::to_string(kRetries) + " times")};
}

}  // namespace

std::vector<Status> append_to_logs(const std::vector<std::string>& paths,
                                   std::string_view formatted) {
  std::lock_guard<std::mutex> guard(in_process);
  // Every file is written before any is flushed.
  // Locks are taken in the order given (the configured channel order,
  // the same in every process).
  std::vector<Locked> locked;
  locked.reserve(paths.size());
  for (const auto& path : paths) locked.push_back(lock_and_write(path, formatted));
  std::vector<Status> out(paths.size());
  auto flush = [&](size_t i) {
    out[i] = locked[i].status;
    if (locked[i].fd < 0) return;
    out[i] = fs::fsync_fd(locked[i].fd, paths[i]);
    lock_fd(locked[i].fd, F_UNLCK);
  };
  // The flushes run at once, one thread per further log: flushes issued
  // together wait for one journal commit, flushes in turn for one each.
  std::vector<std::thread> others;
  for (size_t i = 1; i < paths.size(); ++i) others.emplace_back(flush, i);
  if (!paths.empty()) flush(0);
  for (auto& t : others) t.join();
  // A descriptor whose flush failed is poisoned (os/env.h): the next
  // append opens the log afresh instead of failing on it.
  for (size_t i = 0; i < paths.size(); ++i)
    if (!out[i] && locked[i].fd >= 0) close_log(paths[i]);
  return out;
}

Status append_lines(const std::string& path, std::string_view formatted) {
  return append_to_logs({path}, formatted)[0];
}

SyncLog::SyncLog(const Config& cfg)
    : confdir_(cfg.configdirectory()),
      enabled_(cfg.get_bool("sync_log")),
      chain_(cfg.get_bool("sync_log_chain")),
      channels_(parse_channel_list(cfg.get("sync_log_channels"))),
      unsuppressable_(parse_channel_list(cfg.get("sync_log_unsuppressable_channels"))) {
  if (channels_.empty()) channels_.push_back("");
}

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

Status SyncLog::write_all_channels(const std::string& formatted, std::string_view what) {
  Status result;
  std::vector<std::string> chans = channels();
  std::vector<std::string> paths;
  for (const auto& channel : chans) paths.push_back(log_path(confdir_, channel));
  std::vector<Status> written = append_to_logs(paths, formatted);
  for (size_t i = 0; i < chans.size(); ++i) {
    const std::string& channel = chans[i];
    const std::string& path = paths[i];
    const Status& s = written[i];
    if (!s) {
      spdlog::error("sync_log: event lost for channel '{}' ({}): {}: {}", channel, path,
                    s.to_string(), what);
      if (result) result = s;
    }
  }
  return result;
}

void SyncLog::log(const std::vector<Line>& lines) { (void)write(lines); }

Status SyncLog::write(const std::vector<Line>& lines) {
  if (!enabled_ || lines.empty()) return Status::ok();
  Status result;
  std::string formatted;
  for (const auto& line : lines) {
    auto f = format_line(line);
    if (!f) {
      spdlog::error("sync_log: event lost, cannot format {} line: {}", line.keyword,
                    f.status().to_string());
      if (result) result = f.status();
      continue;
    }
    formatted += *f;
  }
  if (formatted.empty()) return result;
  std::string_view what(formatted);
  what.remove_suffix(1);
  Status s = write_all_channels(formatted, what);
  return result ? s : result;
}

Status SyncLog::log_raw(std::string_view text) {
  if (text.find_first_of("\r\n") != std::string_view::npos) {
    return Status(Code::kInvalidArgument, "line break in raw sync log line");
  }
  if (text.empty()) return Status(Code::kInvalidArgument, "empty raw sync log line");
  if (text.size() + 1 > kMaxLineLength) {
    return Status(Code::kInvalidArgument, "raw sync log line too long");
  }
  if (!enabled_) return Status::ok();
  return write_all_channels(std::string(text) + "\n", text);
}

void SyncLog::user(const std::string& userid) { log({{"USER", {userid}}}); }
void SyncLog::unuser(const std::string& userid) { log({{"UNUSER", {userid}}}); }
void SyncLog::meta(const std::string& userid) { log({{"META", {userid}}}); }
void SyncLog::mailbox(const std::string& name) { log({{"MAILBOX", {name}}}); }
void SyncLog::append(const std::string& name) { log({{"APPEND", {name}}}); }
void SyncLog::doublemailbox(const std::string& from, const std::string& to) {
  log({{"DOUBLEMAILBOX", {from, to}}});
}
void SyncLog::unmailbox(const std::string& name) { log({{"UNMAILBOX", {name}}}); }
void SyncLog::rename(const std::string& oldname, const std::string& newname) {
  log({{"RENAME", {oldname, newname}}, {"MAILBOX", {oldname}}, {"MAILBOX", {newname}}});
}
void SyncLog::quota(const std::string& root) { log({{"QUOTA", {root}}}); }
void SyncLog::annotation(const std::string& name) { log({{"ANNOTATION", {name}}}); }
void SyncLog::seen(const std::string& userid, const std::string& uniqueid) {
  log({{"SEEN", {userid, uniqueid}}});
}
void SyncLog::sub(const std::string& userid, const std::string& name) {
  log({{"SUB", {userid, name}}});
}

}  // namespace replimail::synclog
