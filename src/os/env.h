// The operating system as the store, the sync log and replication see it:
// every call that creates, changes or flushes a file goes through one Env
// (LevelDB's Env, SQLite's VFS), so that a test can make any of them fail
// (os/fault_env.h) and check what the caller does about it.
//
// The calls keep the shape and the contract of the POSIX call of the same
// name: they return -1 (or a negative count) and set errno on failure. The
// process has one current Env (env()); PosixEnv is the default.
//
// A descriptor whose fsync() or fdatasync() failed is poisoned (the
// PostgreSQL lesson: after a failed fsync the kernel may have dropped the
// dirty pages and a later fsync can report success for data that never
// reached the disk). Every later write, fsync, fdatasync or ftruncate on it
// fails with EIO until it is closed; the only way on is to rewrite the data
// into a new file or to fail the operation. Poisoning is done here, in the
// Env's public calls, so that every implementation gets it.
//
// Thread-safe.
#pragma once

#include <sys/types.h>

#include <string>

namespace replimail::os {

// The kinds of call, for fault injection and counting.
enum class Op {
  kOpen,      // open(), whether creating or not
  kWrite,     // write()
  kFsync,     // fsync() and fdatasync() of a file
  kFsyncDir,  // fsync() of a directory (fs::fsync_dir)
  kSyncfs,    // syncfs(): one flush of a whole filesystem
  kTruncate,  // ftruncate()
  kClose,     // close()
  kRename,    // rename()
  kLink,      // link()
  kSymlink,   // symlink()
  kUnlink,    // unlink()
  kMkdir,     // mkdir()
  kRmdir,     // rmdir()
};
const char* op_name(Op op);

class Env {
 public:
  virtual ~Env() = default;

  int open(const std::string& path, int flags, unsigned mode = 0);
  ssize_t write(int fd, const void* buf, size_t n);
  int fsync(int fd);
  int fdatasync(int fd);
  // fsync() of a directory opened with open_dir(): the entries created,
  // linked, renamed or removed in it become durable.
  int open_dir(const std::string& path);
  int fsync_dir(int fd);
  int syncfs(int fd);
  int ftruncate(int fd, off_t length);
  int close(int fd);
  int rename(const std::string& from, const std::string& to);
  int link(const std::string& from, const std::string& to);
  int symlink(const std::string& target, const std::string& linkpath);
  int unlink(const std::string& path);
  int mkdir(const std::string& path, unsigned mode);
  int rmdir(const std::string& path);

  // True if `fd` is poisoned (a flush of it failed and it is still open).
  bool poisoned(int fd) const;

 protected:
  // The calls themselves, without poisoning. `op` tells kFsync from
  // kFsyncDir for sys_fsync and kOpen of a directory for sys_open.
  virtual int sys_open(const std::string& path, int flags, unsigned mode) = 0;
  virtual ssize_t sys_write(int fd, const void* buf, size_t n) = 0;
  virtual int sys_fsync(int fd, Op op, bool data_only) = 0;
  virtual int sys_syncfs(int fd) = 0;
  virtual int sys_ftruncate(int fd, off_t length) = 0;
  virtual int sys_close(int fd) = 0;
  virtual int sys_rename(const std::string& from, const std::string& to) = 0;
  virtual int sys_link(const std::string& from, const std::string& to) = 0;
  virtual int sys_symlink(const std::string& target, const std::string& linkpath) = 0;
  virtual int sys_unlink(const std::string& path) = 0;
  virtual int sys_mkdir(const std::string& path, unsigned mode) = 0;
  virtual int sys_rmdir(const std::string& path) = 0;

 private:
  void poison(int fd);
  void clear_poison(int fd);
  int flush(int fd, Op op, bool data_only);
};

// The real system calls.
class PosixEnv : public Env {
 protected:
  int sys_open(const std::string& path, int flags, unsigned mode) override;
  ssize_t sys_write(int fd, const void* buf, size_t n) override;
  int sys_fsync(int fd, Op op, bool data_only) override;
  int sys_syncfs(int fd) override;
  int sys_ftruncate(int fd, off_t length) override;
  int sys_close(int fd) override;
  int sys_rename(const std::string& from, const std::string& to) override;
  int sys_link(const std::string& from, const std::string& to) override;
  int sys_symlink(const std::string& target, const std::string& linkpath) override;
  int sys_unlink(const std::string& path) override;
  int sys_mkdir(const std::string& path, unsigned mode) override;
  int sys_rmdir(const std::string& path) override;
};

// The process's current Env (a PosixEnv unless a test installed another).
Env& env();

// Installs `e` as the current Env for its lifetime (tests). Not nestable
// across threads: install it before starting the threads that use it.
class ScopedEnv {
 public:
  explicit ScopedEnv(Env* e);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  Env* previous_;
};

}  // namespace replimail::os
