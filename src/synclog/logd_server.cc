#include "synclog/logd_server.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <thread>

#include "common/fs.h"
#include "synclog/logd_client.h"

namespace replimail::synclog {

namespace {

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool parse_u64(std::string_view s, uint64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

bool answers(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  bool ok = ::connect(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

Status LogdServer::listen(const std::string& path) {
  struct sockaddr_un addr {};
  if (path.size() >= sizeof(addr.sun_path))
    return Status(Code::kInvalidArgument, "socket path too long: " + path);
  if (Status s = fs::make_dirs(fs::dirname(path), 0750); !s) return s;
  if (answers(path)) return Status(Code::kIoError, "another sync_logd already listens on " + path);
  if (::unlink(path.c_str()) < 0 && errno != ENOENT) return errno_status("unlink " + path);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno_status("socket");
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::bind(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) < 0) {
    Status s = errno_status("bind " + path);
    ::close(fd);
    return s;
  }
  // Nobody can connect before listen(): the mode is right by then.
  if (::chmod(path.c_str(), 0600) < 0 || ::listen(fd, 128) < 0) {
    Status s = errno_status("listen " + path);
    ::close(fd);
    ::unlink(path.c_str());
    return s;
  }
  listen_fd_ = fd;
  path_ = path;
  return Status::success();
}

LogdServer::~LogdServer() {
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    ::unlink(path_.c_str());
  }
  std::unique_lock<std::mutex> lk(mu_);
  for (int fd : connections_) ::shutdown(fd, SHUT_RDWR);
  cv_.wait(lk, [&] { return threads_ == 0; });
}

void LogdServer::accept_one() {
  int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
      spdlog::warn("sync_logd: accept: {}", std::strerror(errno));
    return;
  }
  uint64_t owner;
  {
    std::lock_guard<std::mutex> lk(mu_);
    connections_.insert(fd);
    ++threads_;
    owner = next_owner_++;
  }
  std::thread([this, fd, owner] { serve(fd, owner); }).detach();
}

void LogdServer::serve(int fd, uint64_t owner) {
  std::string in;
  char buf[65536];
  bool open = true;
  while (open) {
    size_t nl = in.find('\n');
    if (nl == std::string::npos) {
      if (in.size() > 128) {
        send_all(fd, "NO request line too long\n");
        break;
      }
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      in.append(buf, static_cast<size_t>(n));
      continue;
    }
    std::string_view line(in.data(), nl);
    uint64_t id = 0;
    if (line == "FLUSH") {
      in.erase(0, nl + 1);
      bool drained = daemon_.drain(std::chrono::seconds(10));
      if (!send_all(fd, drained ? "OK\n" : "NO entries still held after 10 s\n")) break;
      continue;
    }
    if (line.rfind("WRITTEN ", 0) == 0 && parse_u64(line.substr(8), id)) {
      in.erase(0, nl + 1);
      std::map<std::string, LinePosition> positions;
      bool written = daemon_.wait_written(id, std::chrono::seconds(10), &positions);
      if (!send_all(fd, written ? format_written(positions) : "NO not written after 10 s\n"))
        break;
      continue;
    }
    if (line.rfind("DONE ", 0) == 0 && parse_u64(line.substr(5), id)) {
      daemon_.done(id);
      in.erase(0, nl + 1);
      continue;
    }
    // LOG <0|1> <length>
    uint64_t length = 0;
    if (line.size() < 7 || line.substr(0, 4) != "LOG " || (line[4] != '0' && line[4] != '1') ||
        line[5] != ' ' || !parse_u64(line.substr(6), length) || length == 0 ||
        length > kMaxLogdRequest) {
      send_all(fd, "NO bad request\n");
      break;
    }
    bool suppressed = line[4] == '1';
    in.erase(0, nl + 1);
    while (in.size() < length) {
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        open = false;
        break;
      }
      in.append(buf, static_cast<size_t>(n));
    }
    if (!open) break;
    std::string lines = in.substr(0, length);
    in.erase(0, length);
    if (lines.back() != '\n') {
      send_all(fd, "NO lines must end in LF\n");
      break;
    }
    auto r = daemon_.submit(suppressed, std::move(lines), owner);
    std::string answer =
        r.ok() ? "OK " + std::to_string(*r) + "\n" : "NO " + r.status().to_string() + "\n";
    if (!send_all(fd, answer)) break;
  }
  daemon_.owner_closed(owner);
  std::lock_guard<std::mutex> lk(mu_);
  connections_.erase(fd);
  ::close(fd);
  --threads_;
  cv_.notify_all();
}

}  // namespace replimail::synclog
