#include "synclog/reader.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/fs.h"
#include "os/env.h"
#include "synclog/synclog.h"

namespace replimail::synclog {

namespace {

Result<std::string> read_fd(int fd, const std::string& path) {
  std::string data;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_status("read " + path);
    if (n == 0) return data;
    data.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

LogReader LogReader::for_channel(const std::string& configdirectory, const std::string& channel) {
  LogReader r;
  r.channel_ = true;
  r.log_path_ = log_path(configdirectory, channel);
  r.work_path_ = r.log_path_ + "-run";
  return r;
}

LogReader LogReader::for_file(const std::string& path) {
  LogReader r;
  r.log_path_ = path;
  r.work_path_ = path;
  return r;
}

Status LogReader::begin() {
  lines_.clear();
  errors_.clear();
  reprocessing_ = false;
  int fd = -1;
  if (channel_) {
    if (fs::exists(work_path_)) {
      reprocessing_ = true;
      spdlog::info("Reprocessing sync log file {}", work_path_);
    } else if (os::env().rename(log_path_, work_path_) < 0) {
      if (errno == ENOENT) return Status(Code::kAgain, "no sync log " + log_path_);
      return errno_status("rename " + log_path_);
    }
    fd = os::env().open(work_path_, O_RDWR | O_CLOEXEC);
    if (fd < 0) return errno_status("open " + work_path_);
    // Waits out any writer that opened the file before the rename and still
    // appends, or whose announced change is still in flight; its line is
    // then complete in the file we read, and its change committed or not.
    Status s = wait_for_writers(fd, work_path_);
    if (!s) {
      os::env().close(fd);
      return s;
    }
  } else if (work_path_ == "-") {
    fd = ::dup(STDIN_FILENO);
    if (fd < 0) return errno_status("dup stdin");
  } else {
    fd = os::env().open(work_path_, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno_status("open " + work_path_);
  }
  auto data = read_fd(fd, work_path_);
  os::env().close(fd);
  if (!data) return data.status();
  ParsedLog parsed = parse_log(*data);
  for (const auto& e : parsed.errors) spdlog::warn("sync log {}: {}", work_path_, e);
  lines_ = std::move(parsed.lines);
  errors_ = std::move(parsed.errors);
  return Status::success();
}

Status LogReader::end() {
  if (!channel_) return Status::success();
  if (os::env().unlink(work_path_) < 0 && errno != ENOENT) {
    return errno_status("unlink " + work_path_);
  }
  return Status::success();
}

}  // namespace replimail::synclog
