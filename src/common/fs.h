// Filesystem helpers. Durability is explicit and lives here: nothing else in
// replimail hand-rolls "write temp, fsync, rename, fsync dir". Every call
// goes through the current os::Env (os/env.h), so tests can make any of them
// fail; a descriptor whose fsync failed stays failed (fsync_fd, write_all).
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace replimail::fs {

// Creates `path` and its missing parents with `mode`. OK if it exists.
Status make_dirs(const std::string& path, unsigned mode = 0755);
// Writes `data` to `path` atomically and durably: a temp file beside it is
// written and fsynced, renamed over `path`, and the directory is fsynced.
Status write_file_atomic(const std::string& path, std::string_view data, unsigned mode = 0644);
// Reads a whole (small) file. Not for message bodies: stream those.
Result<std::string> read_file(const std::string& path);
// fsync() the directory so that entries created/renamed in it are durable.
Status fsync_dir(const std::string& dir);
// fsync() an open descriptor, mapping failure to a Status naming `what`.
Status fsync_fd(int fd, std::string_view what);
// Writes all of `data` to `fd` (retrying short writes and EINTR).
Status write_all(int fd, std::string_view data, std::string_view what);
// The directory part of `path` ("." if none).
std::string dirname(const std::string& path);
bool exists(const std::string& path);
// Removes a file; OK if it did not exist.
Status remove_file(const std::string& path);

// An exclusive advisory lock (fcntl F_SETLKW) on a lock file, held for the
// object's lifetime. fcntl locks are what Cyrus uses, so a Cyrus process and
// a replimail process sharing a file would exclude each other.
class FileLock {
 public:
  FileLock() = default;
  ~FileLock();
  FileLock(FileLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  FileLock& operator=(FileLock&& o) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  // Blocks until the lock on `path` (created if missing) is held.
  static Result<FileLock> acquire(const std::string& path);
  bool held() const { return fd_ >= 0; }
  void release();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace replimail::fs
