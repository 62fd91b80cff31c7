#include "os/env.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <unordered_set>

namespace replimail::os {
namespace {

// Poisoned descriptors, process-wide: a descriptor number means the same
// file to every Env. `poison_count` lets the common case (nothing
// poisoned) skip the mutex.
std::mutex poison_mu;
std::unordered_set<int>& poisoned_fds() {
  static auto* fds = new std::unordered_set<int>();
  return *fds;
}
std::atomic<int> poison_count{0};

std::atomic<Env*> current{nullptr};

int eio() {
  errno = EIO;
  return -1;
}

}  // namespace

const char* op_name(Op op) {
  switch (op) {
    case Op::kOpen:
      return "open";
    case Op::kWrite:
      return "write";
    case Op::kFsync:
      return "fsync";
    case Op::kFsyncDir:
      return "fsync-dir";
    case Op::kSyncfs:
      return "syncfs";
    case Op::kTruncate:
      return "ftruncate";
    case Op::kClose:
      return "close";
    case Op::kRename:
      return "rename";
    case Op::kLink:
      return "link";
    case Op::kSymlink:
      return "symlink";
    case Op::kUnlink:
      return "unlink";
    case Op::kMkdir:
      return "mkdir";
    case Op::kRmdir:
      return "rmdir";
  }
  return "?";
}

bool Env::poisoned(int fd) const {
  if (poison_count.load(std::memory_order_acquire) == 0) return false;
  std::lock_guard<std::mutex> lock(poison_mu);
  return poisoned_fds().contains(fd);
}

void Env::poison(int fd) {
  std::lock_guard<std::mutex> lock(poison_mu);
  if (poisoned_fds().insert(fd).second) poison_count.fetch_add(1, std::memory_order_release);
}

void Env::clear_poison(int fd) {
  if (poison_count.load(std::memory_order_acquire) == 0) return;
  std::lock_guard<std::mutex> lock(poison_mu);
  if (poisoned_fds().erase(fd) != 0) poison_count.fetch_sub(1, std::memory_order_release);
}

int Env::open(const std::string& path, int flags, unsigned mode) {
  int fd = sys_open(path, flags, mode);
  // The number may have been a poisoned descriptor closed behind our back.
  if (fd >= 0) clear_poison(fd);
  return fd;
}

int Env::open_dir(const std::string& path) {
  return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
}

ssize_t Env::write(int fd, const void* buf, size_t n) {
  if (poisoned(fd)) return eio();
  return sys_write(fd, buf, n);
}

int Env::flush(int fd, Op op, bool data_only) {
  if (poisoned(fd)) return eio();
  int r = sys_fsync(fd, op, data_only);
  if (r != 0 && errno != EINTR) {
    int e = errno;
    poison(fd);
    errno = e;
  }
  return r;
}

int Env::fsync(int fd) { return flush(fd, Op::kFsync, false); }
int Env::fdatasync(int fd) { return flush(fd, Op::kFsync, true); }
int Env::fsync_dir(int fd) { return flush(fd, Op::kFsyncDir, false); }
int Env::syncfs(int fd) { return sys_syncfs(fd); }

int Env::ftruncate(int fd, off_t length) {
  if (poisoned(fd)) return eio();
  return sys_ftruncate(fd, length);
}

int Env::close(int fd) {
  clear_poison(fd);
  return sys_close(fd);
}

int Env::rename(const std::string& from, const std::string& to) { return sys_rename(from, to); }
int Env::link(const std::string& from, const std::string& to) { return sys_link(from, to); }
int Env::symlink(const std::string& target, const std::string& linkpath) {
  return sys_symlink(target, linkpath);
}
int Env::unlink(const std::string& path) { return sys_unlink(path); }
int Env::mkdir(const std::string& path, unsigned mode) { return sys_mkdir(path, mode); }
int Env::rmdir(const std::string& path) { return sys_rmdir(path); }

int PosixEnv::sys_open(const std::string& path, int flags, unsigned mode) {
  return ::open(path.c_str(), flags, mode);
}
ssize_t PosixEnv::sys_write(int fd, const void* buf, size_t n) { return ::write(fd, buf, n); }
int PosixEnv::sys_fsync(int fd, Op, bool data_only) {
  return data_only ? ::fdatasync(fd) : ::fsync(fd);
}
int PosixEnv::sys_syncfs(int fd) { return ::syncfs(fd); }
int PosixEnv::sys_ftruncate(int fd, off_t length) { return ::ftruncate(fd, length); }
int PosixEnv::sys_close(int fd) { return ::close(fd); }
int PosixEnv::sys_rename(const std::string& from, const std::string& to) {
  return ::rename(from.c_str(), to.c_str());
}
int PosixEnv::sys_link(const std::string& from, const std::string& to) {
  return ::link(from.c_str(), to.c_str());
}
int PosixEnv::sys_symlink(const std::string& target, const std::string& linkpath) {
  return ::symlink(target.c_str(), linkpath.c_str());
}
int PosixEnv::sys_unlink(const std::string& path) { return ::unlink(path.c_str()); }
int PosixEnv::sys_mkdir(const std::string& path, unsigned mode) {
  return ::mkdir(path.c_str(), mode);
}
int PosixEnv::sys_rmdir(const std::string& path) { return ::rmdir(path.c_str()); }

Env& env() {
  Env* e = current.load(std::memory_order_acquire);
  if (e != nullptr) return *e;
  static PosixEnv* posix = new PosixEnv();
  return *posix;
}

ScopedEnv::ScopedEnv(Env* e) : previous_(current.exchange(e, std::memory_order_acq_rel)) {}
ScopedEnv::~ScopedEnv() { current.store(previous_, std::memory_order_release); }

}  // namespace replimail::os
