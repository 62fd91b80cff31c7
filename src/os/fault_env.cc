#include "os/fault_env.h"

#include <fcntl.h>
#include <unistd.h>

namespace replimail::os {

void FaultEnv::inject(const Fault& f) {
  std::lock_guard<std::mutex> lock(mu_);
  faults_.push_back({f, 0});
}

void FaultEnv::set_full(bool full, std::string path_part) {
  std::lock_guard<std::mutex> lock(mu_);
  full_ = full;
  full_part_ = std::move(path_part);
}

void FaultEnv::clear() {
  std::lock_guard<std::mutex> lock(mu_);
  faults_.clear();
  full_ = false;
  full_part_.clear();
}

int FaultEnv::calls(Op op, const std::string& path_part) const {
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  for (const auto& [o, path] : trace_)
    if (o == op && path.find(path_part) != std::string::npos) n++;
  return n;
}

void FaultEnv::reset_counts() {
  std::lock_guard<std::mutex> lock(mu_);
  trace_.clear();
}

int FaultEnv::injected() const {
  std::lock_guard<std::mutex> lock(mu_);
  return injected_;
}

int FaultEnv::check(Op op, const std::string& path, bool creates) {
  std::lock_guard<std::mutex> lock(mu_);
  trace_.emplace_back(op, path);
  int error = 0;
  for (auto& a : faults_) {
    const Fault& f = a.fault;
    if (f.op != op) continue;
    if (!f.path_part.empty() && path.find(f.path_part) == std::string::npos) continue;
    a.seen++;
    if (a.seen == f.nth || (f.and_after && a.seen > f.nth)) error = f.error;
  }
  if (error == 0 && full_ && creates &&
      (full_part_.empty() || path.find(full_part_) != std::string::npos))
    error = ENOSPC;
  if (error != 0) injected_++;
  return error;
}

std::string FaultEnv::path_of(int fd) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = fd_paths_.find(fd);
  return it == fd_paths_.end() ? std::string() : it->second;
}

static int fail(int error) {
  errno = error;
  return -1;
}

int FaultEnv::sys_open(const std::string& path, int flags, unsigned mode) {
  bool creates = (flags & O_CREAT) != 0 && ::access(path.c_str(), F_OK) != 0;
  if (int e = check(Op::kOpen, path, creates)) return fail(e);
  int fd = PosixEnv::sys_open(path, flags, mode);
  if (fd >= 0) {
    std::lock_guard<std::mutex> lock(mu_);
    fd_paths_[fd] = path;
  }
  return fd;
}

ssize_t FaultEnv::sys_write(int fd, const void* buf, size_t n) {
  if (int e = check(Op::kWrite, path_of(fd), true)) {
    if (n > 1) PosixEnv::sys_write(fd, buf, n / 2);
    return fail(e);
  }
  return PosixEnv::sys_write(fd, buf, n);
}

int FaultEnv::sys_fsync(int fd, Op op, bool data_only) {
  if (int e = check(op, path_of(fd), false)) return fail(e);
  return PosixEnv::sys_fsync(fd, op, data_only);
}

int FaultEnv::sys_syncfs(int fd) {
  if (int e = check(Op::kSyncfs, path_of(fd), false)) return fail(e);
  return PosixEnv::sys_syncfs(fd);
}

int FaultEnv::sys_ftruncate(int fd, off_t length) {
  if (int e = check(Op::kTruncate, path_of(fd), false)) return fail(e);
  return PosixEnv::sys_ftruncate(fd, length);
}

int FaultEnv::sys_close(int fd) {
  std::string path = path_of(fd);
  {
    std::lock_guard<std::mutex> lock(mu_);
    fd_paths_.erase(fd);
  }
  // The descriptor is closed even when the close reports an error, as
  // Linux does.
  int r = PosixEnv::sys_close(fd);
  if (int e = check(Op::kClose, path, false)) return fail(e);
  return r;
}

int FaultEnv::sys_rename(const std::string& from, const std::string& to) {
  if (int e = check(Op::kRename, to, false)) return fail(e);
  return PosixEnv::sys_rename(from, to);
}

int FaultEnv::sys_link(const std::string& from, const std::string& to) {
  if (int e = check(Op::kLink, to, true)) return fail(e);
  return PosixEnv::sys_link(from, to);
}

int FaultEnv::sys_symlink(const std::string& target, const std::string& linkpath) {
  if (int e = check(Op::kSymlink, linkpath, true)) return fail(e);
  return PosixEnv::sys_symlink(target, linkpath);
}

int FaultEnv::sys_unlink(const std::string& path) {
  if (int e = check(Op::kUnlink, path, false)) return fail(e);
  return PosixEnv::sys_unlink(path);
}

int FaultEnv::sys_mkdir(const std::string& path, unsigned mode) {
  // An existing directory is EEXIST, full disk or not.
  bool creates = ::access(path.c_str(), F_OK) != 0;
  if (int e = check(Op::kMkdir, path, creates)) return fail(e);
  return PosixEnv::sys_mkdir(path, mode);
}

int FaultEnv::sys_rmdir(const std::string& path) {
  if (int e = check(Op::kRmdir, path, false)) return fail(e);
  return PosixEnv::sys_rmdir(path);
}

}  // namespace replimail::os
