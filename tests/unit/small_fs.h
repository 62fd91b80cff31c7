// Runs a test body on a small, fillable filesystem: a tmpfs of a given size
// mounted in a private mount namespace of a forked child (tests run as
// root). Used by the full-spool tests of several rooms (issue 13, item 11).
#pragma once

#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <string>

#include "../support/temp_dir.h"

namespace replimail::testing {

// The child's exit code when no tmpfs could be mounted (not root, no
// namespaces); the report then says why.
inline constexpr int kCannotMount = 77;

// Forks; the child mounts a `size_kib` tmpfs on a fresh directory, runs
// `body(dir)` and exits 0 if it returned "", else 1. Returns the child's exit
// code (-1 if it died) and sets `*report` to what `body` returned.
inline int run_on_small_fs(size_t size_kib, std::string* report,
                           const std::function<std::string(const std::string&)>& body) {
  // The report and the mount point are made here and removed here: the
  // child's private mount namespace dies with it, its directory does not.
  const std::string report_dir = replimail::testing::make_temp_dir("replimail-report-");
  if (report_dir.empty()) return -1;
  const std::string report_path = report_dir + "/report";
  const std::string dir = report_dir + "/fs";
  if (::mkdir(dir.c_str(), 0700) != 0) return -1;
  int rfd = ::open(report_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (rfd < 0) return -1;
  ::close(rfd);
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    auto say = [&](const std::string& s, int rc) {
      int fd = ::open(report_path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
      if (fd >= 0) {
        ssize_t n = ::write(fd, s.data(), s.size());
        (void)n;
        ::close(fd);
      }
      ::_exit(rc);
    };
    if (::unshare(CLONE_NEWNS) != 0 ||
        ::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount("tmpfs", dir.c_str(), "tmpfs", 0, fmt::format("size={}k", size_kib).c_str()) != 0)
      say(fmt::format("cannot mount a tmpfs in a private namespace: {}", std::strerror(errno)),
          kCannotMount);
    std::string r = body(dir);
    ::umount(dir.c_str());
    say(r, r.empty() ? 0 : 1);
  }
  int status = 0;
  int rc = -1;
  if (::waitpid(pid, &status, 0) == pid && WIFEXITED(status)) rc = WEXITSTATUS(status);
  report->clear();
  char buf[4096];
  int fd = ::open(report_path.c_str(), O_RDONLY | O_CLOEXEC);
  ssize_t n;
  while (fd >= 0 && (n = ::read(fd, buf, sizeof(buf))) > 0) report->append(buf, size_t(n));
  if (fd >= 0) ::close(fd);
  ::unlink(report_path.c_str());
  ::rmdir(dir.c_str());
  ::rmdir(report_dir.c_str());
  return rc;
}

// Writes a file at `path` until the filesystem refuses; true if it ended in
// ENOSPC.
inline bool fill_filesystem(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  std::string chunk(4096, 'f');
  while (::write(fd, chunk.data(), chunk.size()) > 0) {
  }
  bool full = errno == ENOSPC;
  while (::write(fd, "f", 1) > 0) {
  }
  ::close(fd);
  return full;
}

}  // namespace replimail::testing
