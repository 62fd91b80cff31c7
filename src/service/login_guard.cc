#include "service/login_guard.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <ctime>
#include <thread>

#include "net/sasl.h"

namespace replimail::service {
namespace {

std::string host_key(const std::string& host) { return "host:" + host; }
std::string user_key(std::string_view user) { return "user:" + std::string(user); }

int64_t seconds(const Config& config, const char* key) {
  return static_cast<int64_t>(config.get_duration(key).count());
}

}  // namespace

LoginGuard::LoginGuard(const Config& config, std::string service)
    : service_(std::move(service)),
      pause_(config.get_duration("failedloginpause")),
      pid_(::getpid()),
      now_([] { return static_cast<int64_t>(std::time(nullptr)); }),
      sleep_([](std::chrono::seconds s) { std::this_thread::sleep_for(s); }) {
  int64_t window = seconds(config, "loginfailures_window");
  int64_t lockout = seconds(config, "loginfailures_lockout");
  host_budget_ = {config.get_int("maxloginfailures_per_host"), window, lockout};
  user_budget_ = {config.get_int("maxloginfailures_per_user"), window, lockout};
  limits_ = {config.get_int("maxlogins_per_host"), config.get_int("maxlogins_per_user")};
  if (host_budget_.limit <= 0 && user_budget_.limit <= 0 && limits_.max_per_host <= 0 &&
      limits_.max_per_user <= 0)
    return;
  auto db = store::LoginDb::open(config.configdirectory());
  if (!db.ok()) {
    spdlog::error("{}: logins.db: {}; login limits are off", service_, db.status().to_string());
    return;
  }
  db_ = std::move(*db);
  // A session row left by an earlier process with this PID is not ours.
  if (Status s = db_->unregister_session(pid_); !s)
    spdlog::warn("{}: logins.db: {}", service_, s.to_string());
}

LoginGuard::~LoginGuard() { end_connection(); }

void LoginGuard::begin_connection(int fd) {
  end_connection();
  std::string remote = net::sasl_ip_port(fd, false);  // "192.0.2.1;40212"
  // fmt, not a chain of operator+: GCC 12 -O3's false -Wrestrict.
  host_ = remote.empty() ? "[local]" : fmt::format("[{}]", remote.substr(0, remote.rfind(';')));
}

void LoginGuard::end_connection() { logged_out(); }

bool LoginGuard::locked(const std::string& key) {
  auto left = db_->locked_for(key, now_());
  if (!left.ok()) {
    spdlog::warn("{}: logins.db: {}", service_, left.status().to_string());
    return false;
  }
  if (*left > 0) spdlog::info("{}: {} locked out for {}s more", service_, key, *left);
  return *left > 0;
}

void LoginGuard::count_failure(const std::string& key, int64_t limit) {
  const store::FailureBudget& b = key.starts_with("host:") ? host_budget_ : user_budget_;
  if (limit <= 0) return;
  auto started = db_->record_failure(key, now_(), b);
  if (!started.ok()) {
    spdlog::warn("{}: logins.db: {}", service_, started.status().to_string());
  } else if (*started) {
    spdlog::warn("{}: {}: {} failed logins within {}s: locked out for {}s", service_, key, b.limit,
                 b.window_s, b.lockout_s);
  }
}

net::LoginCheck LoginGuard::before_attempt(std::string_view user) {
  net::LoginCheck c;
  if (!db_) return c;
  if ((host_budget_.limit > 0 && locked(host_key(host_))) ||
      (user_budget_.limit > 0 && !user.empty() && locked(user_key(user))))
    c.kind = net::LoginCheck::Kind::kLockedOut;
  return c;
}

void LoginGuard::failed(std::string_view user) {
  if (db_) {
    count_failure(host_key(host_), host_budget_.limit);
    if (!user.empty()) count_failure(user_key(user), user_budget_.limit);
  }
  sleep_(pause_);
}

net::LoginCheck LoginGuard::succeeded(std::string_view user, bool count_session) {
  net::LoginCheck c;
  if (!db_) return c;
  if (user_budget_.limit > 0 && locked(user_key(user))) {
    c.kind = net::LoginCheck::Kind::kLockedOut;
    return c;
  }
  if (!count_session || (limits_.max_per_host <= 0 && limits_.max_per_user <= 0)) return c;
  auto n = db_->register_session(pid_, service_, host_, user, limits_);
  if (!n.ok()) {
    spdlog::warn("{}: logins.db: {}", service_, n.status().to_string());
    return c;
  }
  if (n->allowed) {
    registered_ = true;
    return c;
  }
  // Cyrus's wording (imapd.c checklimits).
  c.kind = net::LoginCheck::Kind::kTooMany;
  if (limits_.max_per_host > 0)
    c.detail = fmt::format("{} of {} from {}", n->host, limits_.max_per_host, host_);
  if (limits_.max_per_user > 0)
    c.detail += fmt::format("{}{} of {} for {}", c.detail.empty() ? "" : ", ", n->user,
                            limits_.max_per_user, user);
  spdlog::error("{}: Too many open connections ({})", service_, c.detail);
  return c;
}

void LoginGuard::logged_out() {
  if (!registered_ || !db_) return;
  registered_ = false;
  if (Status s = db_->unregister_session(pid_); !s)
    spdlog::warn("{}: logins.db: {}", service_, s.to_string());
}

}  // namespace replimail::service
