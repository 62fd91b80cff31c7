#include "common/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include <fmt/format.h>

#include "os/env.h"

namespace replimail::fs {
std::string dirname(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

Status make_dirs(const std::string& path, unsigned mode) {
  if (path.empty()) return Status(Code::kInvalidArgument, "make_dirs: empty path");
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    cur = path.substr(0, pos);
    if (cur.empty()) continue;
    if (os::env().mkdir(cur, mode) != 0 && errno != EEXIST) return errno_status("mkdir", cur);
  }
  return Status::success();
}

Status fsync_fd(int fd, std::string_view what) {
  if (os::env().fsync(fd) != 0)
    return Status::from_errno(errno, fmt::format("fsync {}: {}", what, std::strerror(errno)));
  return Status::success();
}

Status fsync_dir(const std::string& dir) {
  os::Env& env = os::env();
  int fd = env.open_dir(dir);
  if (fd < 0) return errno_status("open dir", dir);
  Status s;
  if (env.fsync_dir(fd) != 0) s = errno_status("fsync dir", dir);
  env.close(fd);
  return s;
}

Status write_all(int fd, std::string_view data, std::string_view what) {
  while (!data.empty()) {
    ssize_t n = os::env().write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::from_errno(errno, fmt::format("write {}: {}", what, std::strerror(errno)));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::success();
}

Status write_file_atomic(const std::string& path, std::string_view data, unsigned mode) {
  os::Env& env = os::env();
  std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  int fd = env.open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return errno_status("create", tmp);
  Status s = write_all(fd, data, tmp);
  if (s) s = fsync_fd(fd, tmp);
  if (env.close(fd) != 0 && s) s = errno_status("close", tmp);
  if (s && env.rename(tmp, path) != 0) s = errno_status("rename", path);
  if (!s) {
    env.unlink(tmp);
    return s;
  }
  return fsync_dir(dirname(path));
}

Result<std::string> read_file(const std::string& path) {
  int fd = os::env().open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status(Code::kNotFound, path);
    return errno_status("open", path);
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status s = errno_status("read", path);
      os::env().close(fd);
      return s;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  os::env().close(fd);
  return out;
}

Status remove_file(const std::string& path) {
  if (os::env().unlink(path) != 0 && errno != ENOENT) return errno_status("unlink", path);
  return Status::success();
}

FileLock::~FileLock() { release(); }

FileLock& FileLock::operator=(FileLock&& o) noexcept {
  if (this != &o) {
    release();
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

void FileLock::release() {
  if (fd_ >= 0) {
    os::env().close(fd_);  // closing drops the fcntl lock
    fd_ = -1;
  }
}

Result<FileLock> FileLock::acquire(const std::string& path) {
  int fd = os::env().open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 && errno == ENOENT) {
    if (Status s = make_dirs(dirname(path)); !s) return s;
    fd = os::env().open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  }
  if (fd < 0) return errno_status("open lock", path);
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  for (;;) {
    if (::fcntl(fd, F_SETLKW, &fl) == 0) return FileLock(fd);
    if (errno == EINTR) continue;
    Status s = errno_status("lock", path);
    os::env().close(fd);
    return s;
  }
}

}  // namespace replimail::fs
