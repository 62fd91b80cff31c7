#include "synclog/logd_client.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace replimail::synclog {

namespace {

// How long a writer waits for the daemon's answer before writing directly:
// far above any journal fsync, so it only fires for a hung daemon.
constexpr int kAnswerTimeoutSecs = 30;

}  // namespace

std::string logd_socket_path(const std::string& configdirectory) {
  return configdirectory + "/socket/sync_logd";
}

std::string format_written(const std::map<std::string, LinePosition>& positions) {
  std::string out = "OK";
  for (const auto& [channel, at] : positions) {
    out += ' ';
    out += channel.empty() ? "\"\"" : channel;
    out += '=' + std::to_string(at.file) + ':' + std::to_string(at.need);
  }
  return out + '\n';
}

bool parse_written(std::string_view answer, std::map<std::string, LinePosition>& positions) {
  positions.clear();
  if (answer == "OK") return true;
  if (!answer.starts_with("OK ")) return false;
  answer.remove_prefix(3);
  auto number = [](std::string_view s, uint64_t& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size() && !s.empty();
  };
  while (!answer.empty()) {
    size_t end = answer.find(' ');
    std::string_view token = answer.substr(0, end);
    answer.remove_prefix(end == std::string_view::npos ? answer.size() : end + 1);
    size_t eq = token.rfind('=');
    size_t colon = token.rfind(':');
    LinePosition at;
    if (eq == std::string_view::npos || eq == 0 || colon == std::string_view::npos ||
        colon < eq || !number(token.substr(eq + 1, colon - eq - 1), at.file) ||
        !number(token.substr(colon + 1), at.need)) {
      positions.clear();
      return false;
    }
    std::string channel(token.substr(0, eq));
    if (channel == "\"\"") channel.clear();
    positions[channel] = at;
  }
  return true;
}

LogdClient::LogdClient(std::string socket_path) : path_(std::move(socket_path)) {}

LogdClient::~LogdClient() {
  std::lock_guard<std::mutex> guard(mu_);
  drop_locked();
}

void LogdClient::drop_locked() {
  // A child forked with the parent's connection must not close it under the
  // parent (shutdown would end it for both): it only forgets it.
  if (fd_ >= 0 && pid_ == ::getpid()) ::close(fd_);
  fd_ = -1;
}

bool LogdClient::connect_locked() {
  if (fd_ >= 0 && pid_ == ::getpid()) return true;
  drop_locked();
  struct sockaddr_un addr {};
  if (path_.size() >= sizeof(addr.sun_path)) return false;
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  int r;
  do {
    r = ::connect(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr));
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    ::close(fd);
    return false;
  }
  struct timeval tv {};
  tv.tv_sec = kAnswerTimeoutSecs;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  fd_ = fd;
  pid_ = ::getpid();
  ++connection_;
  return true;
}

bool LogdClient::send_locked(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

Result<LogdTicket> LogdClient::log(bool suppressed, std::string_view formatted) {
  std::lock_guard<std::mutex> guard(mu_);
  std::string request =
      "LOG " + std::string(suppressed ? "1" : "0") + " " + std::to_string(formatted.size()) + "\n";
  request += formatted;
  // A connection kept from earlier may belong to a daemon that has been
  // restarted since: then one fresh connection is tried.
  for (int attempt = 0;; ++attempt) {
    bool kept = fd_ >= 0 && pid_ == ::getpid();
    if (!connect_locked()) return Status(Code::kIoError, "sync_logd is not running");
    if (send_locked(request)) break;
    drop_locked();
    if (!kept || attempt > 0) return Status(Code::kIoError, "sync_logd: send failed");
  }
  // The answer is one short line and nothing else comes unasked, so reading
  // up to its LF cannot take bytes of a later answer.
  std::string answer;
  char buf[128];
  while (answer.find('\n') == std::string::npos) {
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || answer.size() > 4096) {
      drop_locked();
      return Status(Code::kIoError, "sync_logd: no answer");
    }
    answer.append(buf, static_cast<size_t>(n));
  }
  answer.resize(answer.find('\n'));
  if (answer.rfind("OK ", 0) == 0) {
    LogdTicket t;
    t.connection = connection_;
    try {
      t.id = std::stoull(answer.substr(3));
    } catch (...) {
      drop_locked();
      return Status(Code::kIoError, "sync_logd: bad answer: " + answer);
    }
    return t;
  }
  return Status(Code::kIoError, "sync_logd: " + answer);
}

bool LogdClient::answer_locked(std::string& answer) {
  answer.clear();
  char c;
  while (answer.size() < 4096) {
    ssize_t n = ::recv(fd_, &c, 1, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      drop_locked();
      return false;
    }
    if (c == '\n') return true;
    answer.push_back(c);
  }
  drop_locked();
  return false;
}

Status LogdClient::flush() {
  std::lock_guard<std::mutex> guard(mu_);
  if (!connect_locked()) return Status(Code::kIoError, "sync_logd is not running");
  if (!send_locked("FLUSH\n")) {
    drop_locked();
    return Status(Code::kIoError, "sync_logd: send failed");
  }
  std::string answer;
  if (!answer_locked(answer)) return Status(Code::kIoError, "sync_logd: no answer");
  if (answer == "OK") return Status::success();
  return Status(Code::kIoError, "sync_logd: " + answer);
}

bool LogdClient::done_and_written(const LogdTicket& ticket,
                                  std::map<std::string, LinePosition>* positions) {
  if (positions != nullptr) positions->clear();
  if (ticket.id == 0) return true;
  std::lock_guard<std::mutex> guard(mu_);
  if (fd_ < 0 || pid_ != ::getpid() || connection_ != ticket.connection) return false;
  const std::string id = std::to_string(ticket.id);
  if (!send_locked("DONE " + id + "\nWRITTEN " + id + "\n")) {
    drop_locked();
    return false;
  }
  std::string answer;
  if (!answer_locked(answer) || (answer != "OK" && !answer.starts_with("OK "))) return false;
  // The lines are written even if a position cannot be read: the caller
  // then reads the channels' positions itself, which is never too early.
  std::map<std::string, LinePosition> at;
  if (!parse_written(answer, at))
    spdlog::warn("sync_logd: unreadable positions in \"{}\"", answer);
  if (positions != nullptr) *positions = std::move(at);
  return true;
}

bool LogdClient::done(const LogdTicket& ticket) {
  if (ticket.id == 0) return true;
  std::lock_guard<std::mutex> guard(mu_);
  if (fd_ < 0 || pid_ != ::getpid() || connection_ != ticket.connection) return false;
  if (send_locked("DONE " + std::to_string(ticket.id) + "\n")) return true;
  drop_locked();
  return false;
}

}  // namespace replimail::synclog
