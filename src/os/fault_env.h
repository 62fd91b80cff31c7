// An Env for tests that does the real calls (PosixEnv) but fails chosen ones:
// the Nth call of a kind, every call of a kind on a matching path, or every
// call a full disk would refuse. Counts every call by kind, so that a test
// can run an operation once, then once more per call with that call failing
// (SQLite's and LevelDB's fault-injection tests do the same).
//
// An injected write() first writes half of its bytes, then fails: a torn
// write as a full disk leaves it. An injected fsync() flushes nothing.
//
// Thread-safe.
#pragma once

#include <cerrno>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "os/env.h"

namespace replimail::os {

struct Fault {
  Op op = Op::kWrite;
  // The nth matching call (1-based, counted from inject()) fails...
  int nth = 1;
  // ...and, if set, every matching call after it.
  bool and_after = false;
  // Only calls whose path (for a descriptor: the path it was opened by)
  // contains this; empty matches every path.
  std::string path_part;
  int error = EIO;

  // The nth call of `op` fails.
  static Fault nth_call(Op op, int nth, int error = EIO) { return {op, nth, false, "", error}; }
  // The nth call of `op` and every one after it fail.
  static Fault from_call(Op op, int nth, int error = EIO) { return {op, nth, true, "", error}; }
  // Every call of `op` on a path containing `part` fails.
  static Fault on_path(Op op, std::string part, int error = EIO) {
    return {op, 1, true, std::move(part), error};
  }
};

class FaultEnv : public PosixEnv {
 public:
  void inject(const Fault& f);
  // A full disk under paths containing `path_part` (empty: everywhere):
  // write(), link(), symlink(), mkdir() and open() that creates a file fail
  // with ENOSPC until set_full(false).
  void set_full(bool full, std::string path_part = "");
  // Forgets every fault (counts are kept).
  void clear();

  // Calls of `op` made since construction or reset_counts(); with
  // `path_part`, only those on a path containing it.
  int calls(Op op, const std::string& path_part = "") const;
  void reset_counts();
  // Faults injected so far (each failed call counts once).
  int injected() const;

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

 private:
  struct Armed {
    Fault fault;
    int seen = 0;
  };
  // Counts the call and returns the errno to fail it with, or 0.
  // `creates`: the call needs free space (a full disk refuses it).
  int check(Op op, const std::string& path, bool creates);
  std::string path_of(int fd) const;

  mutable std::mutex mu_;
  std::vector<Armed> faults_;
  bool full_ = false;
  std::string full_part_;
  std::vector<std::pair<Op, std::string>> trace_;
  int injected_ = 0;
  std::map<int, std::string> fd_paths_;
};

}  // namespace replimail::os
