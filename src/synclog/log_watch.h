// Waking a reader of a channel's sync log as soon as the log grows: inotify
// on the log's directory (the log is replaced by rename, so the file itself
// cannot be watched). sync_client's and squatter's rolling modes both wait
// this way; without inotify (no watches left, a filesystem without it) the
// watch is not ok() and they poll instead.
#pragma once

#include <chrono>
#include <initializer_list>
#include <string>
#include <string_view>

namespace replimail::synclog {

class LogDirWatch {
 public:
  // Watches `dir` for files created, moved in, written or closed after
  // writing. On failure ok() is false and error() says why.
  explicit LogDirWatch(const std::string& dir);
  ~LogDirWatch();
  LogDirWatch(const LogDirWatch&) = delete;
  LogDirWatch& operator=(const LogDirWatch&) = delete;

  bool ok() const { return fd_ >= 0; }
  const std::string& error() const { return error_; }
  // The inotify descriptor (readable when an event is pending), for a
  // caller that polls it together with its own descriptors. -1 if !ok().
  int fd() const { return fd_; }

  // Reads every pending event. True if one named a file in `names` (any
  // file when `names` is empty), or if the kernel dropped events (queue
  // overflow: anything may have changed). False without inotify.
  bool drain(std::initializer_list<std::string_view> names = {});

  // Waits until an event is pending or `timeout` passed; without inotify,
  // sleeps `timeout`. Reads nothing: drain() does.
  void wait(std::chrono::milliseconds timeout) const;

 private:
  int fd_ = -1;
  std::string error_;
};

}  // namespace replimail::synclog
