#include "synclog/log_watch.h"

#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace replimail::synclog {

LogDirWatch::LogDirWatch(const std::string& dir) {
  fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd_ >= 0 && ::inotify_add_watch(fd_, dir.c_str(),
                                      IN_CREATE | IN_MOVED_TO | IN_MODIFY | IN_CLOSE_WRITE) < 0) {
    int err = errno;
    ::close(fd_);
    fd_ = -1;
    errno = err;
  }
  if (fd_ < 0) error_ = std::strerror(errno);
}

LogDirWatch::~LogDirWatch() {
  if (fd_ >= 0) ::close(fd_);
}

bool LogDirWatch::drain(std::initializer_list<std::string_view> names) {
  if (fd_ < 0) return false;
  alignas(struct inotify_event) char buf[8192];
  bool hit = false;
  ssize_t got;
  while ((got = ::read(fd_, buf, sizeof buf)) > 0) {
    for (char* p = buf; p < buf + got;) {
      const auto* ev = reinterpret_cast<const struct inotify_event*>(p);
      std::string_view name = ev->len ? std::string_view(ev->name) : std::string_view();
      if (ev->mask & IN_Q_OVERFLOW) hit = true;
      if (names.size() == 0) hit = true;
      for (std::string_view n : names) {
        if (name == n) hit = true;
      }
      p += sizeof(struct inotify_event) + ev->len;
    }
  }
  return hit;
}

void LogDirWatch::wait(std::chrono::milliseconds timeout) const {
  if (fd_ < 0) {
    std::this_thread::sleep_for(timeout);
    return;
  }
  pollfd p{fd_, POLLIN, 0};
  ::poll(&p, 1, static_cast<int>(timeout.count()));
}

}  // namespace replimail::synclog
