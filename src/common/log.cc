#include "common/log.h"

#include <fmt/format.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "common/ascii.h"
#include "common/config.h"

namespace replimail {
namespace {

std::string& program_name() {
  static std::string name;
  return name;
}

// The ident lines carry: "<prefix>/<program>" or "<program>".
std::string& ident() {
  static std::string id;
  return id;
}

// Lines to a unix datagram socket (syslogd's /dev/log).
class SyslogSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  SyslogSink(int facility, std::string path) : facility_(facility), path_(std::move(path)) {}
  ~SyslogSink() override {
    if (fd_ >= 0) ::close(fd_);
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    std::string_view text(formatted.data(), formatted.size());
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
    std::string datagram = syslog_datagram(facility_, syslog_severity(msg.level),
                                           std::chrono::system_clock::to_time_t(msg.time), ident(),
                                           static_cast<int>(::getpid()), text);
    // Once more after reconnecting: the daemon may have made a new socket.
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (fd_ < 0 && !connect()) return;
      if (::send(fd_, datagram.data(), datagram.size(), MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) return;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // full: dropped, never waited for
      ::close(fd_);
      fd_ = -1;
    }
  }
  void flush_() override {}

 private:
  bool connect() {
    struct sockaddr_un addr {};
    if (path_.size() >= sizeof addr.sun_path) return false;
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    if (::connect(fd_, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      fd_ = -1;
      return false;
    }
    return true;
  }

  int facility_;
  std::string path_;
  int fd_ = -1;
};

void set_pattern(spdlog::logger& logger, std::string_view prefix) {
  ident() = prefix.empty() ? program_name() : std::string(prefix) + "/" + program_name();
  // The syslog sink formats its own datagram (its pattern is the message).
  for (auto& sink : logger.sinks()) {
    if (dynamic_cast<SyslogSink*>(sink.get()) != nullptr) {
      sink->set_pattern("%l: %v");
    } else {
      sink->set_pattern(std::string("%Y-%m-%d %H:%M:%S.%e ") + ident() + "[" +
                        std::to_string(::getpid()) + "] %l: %v");
    }
  }
}

}  // namespace

void init_logging(std::string_view program, bool verbose) {
  program_name() = std::string(program);
  auto logger = spdlog::stderr_logger_mt(std::string(program) + "-" + std::to_string(::getpid()));
  const char* prefix = std::getenv("CYRUS_SYSLOG_PREFIX");
  set_pattern(*logger, prefix != nullptr ? prefix : "");
  logger->set_level(verbose ? spdlog::level::debug : spdlog::level::info);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

void apply_syslog_prefix(std::string_view configured) {
  if (std::getenv("CYRUS_SYSLOG_PREFIX") != nullptr || configured.empty()) return;
  if (auto logger = spdlog::default_logger()) set_pattern(*logger, configured);
}

void apply_logging_config(const Config& cfg) {
  apply_syslog_prefix(cfg.get("syslog_prefix"));
  if (auto name = cfg.raw("syslog_facility")) {
    if (auto facility = syslog_facility_code(*name)) enable_syslog(*facility);
  }
}

std::optional<int> syslog_facility_code(std::string_view name) {
  static constexpr std::pair<std::string_view, int> kFacilities[] = {
      {"DAEMON", LOG_DAEMON}, {"MAIL", LOG_MAIL},     {"NEWS", LOG_NEWS},
      {"USER", LOG_USER},     {"LOCAL0", LOG_LOCAL0}, {"LOCAL1", LOG_LOCAL1},
      {"LOCAL2", LOG_LOCAL2}, {"LOCAL3", LOG_LOCAL3}, {"LOCAL4", LOG_LOCAL4},
      {"LOCAL5", LOG_LOCAL5}, {"LOCAL6", LOG_LOCAL6}, {"LOCAL7", LOG_LOCAL7},
  };
  for (const auto& [n, code] : kFacilities)
    if (iequals(n, name)) return code;
  return std::nullopt;
}

int syslog_severity(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return LOG_DEBUG;
    case spdlog::level::info:
      return LOG_INFO;
    case spdlog::level::warn:
      return LOG_WARNING;
    case spdlog::level::err:
      return LOG_ERR;
    case spdlog::level::critical:
      return LOG_CRIT;
    default:
      return LOG_INFO;
  }
}

std::string syslog_datagram(int facility, int severity, std::time_t when, std::string_view ident,
                            int pid, std::string_view message) {
  struct tm tm;
  ::localtime_r(&when, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%b %e %H:%M:%S", &tm);
  // fmt rather than a chain of operator+: GCC 12 at -O3 reports a false
  // -Wrestrict inside std::string's insert for `"<" + std::to_string(...)`.
  return fmt::format("<{}>{} {}[{}]: {}", facility | severity, stamp, ident, pid, message);
}

void enable_syslog(int facility, const std::string& path) {
  auto logger = spdlog::default_logger();
  if (!logger) return;
  auto& sinks = logger->sinks();
  sinks.erase(std::remove_if(sinks.begin(), sinks.end(),
                             [](const spdlog::sink_ptr& s) {
                               return dynamic_cast<SyslogSink*>(s.get()) != nullptr;
                             }),
              sinks.end());
  auto sink = std::make_shared<SyslogSink>(facility, path);
  sink->set_pattern("%l: %v");
  sinks.push_back(std::move(sink));
}

}  // namespace replimail
