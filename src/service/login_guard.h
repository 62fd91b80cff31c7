// The login policy of a service worker (net/login_policy.h) over the
// instance's logins.db (store/logins.h), configured from imapd.conf:
//
//   failedloginpause            Cyrus's: sleep after each failed attempt
//   maxlogins_per_host/_user    Cyrus's: logged-in sessions of imapd and
//                               pop3d together, from one host / of one user
//   maxloginfailures_per_host   replimail's: failures from one host in
//   maxloginfailures_per_user   loginfailures_window that lock it (or the
//   loginfailures_window        user) out for loginfailures_lockout
//   loginfailures_lockout
//
// logins.db is opened only when one of the limits is set. A database that
// cannot be read or written is logged and the login goes on (it is a
// throttle, never a reason to lock everybody out).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/config.h"
#include "net/login_policy.h"
#include "store/logins.h"

namespace replimail::service {

class LoginGuard : public net::LoginPolicy {
 public:
  // `service` ("imapd") names the sessions it registers.
  LoginGuard(const Config& config, std::string service);
  ~LoginGuard() override;

  // A new connection on socket `fd`: its client host is "[192.0.2.1]", or
  // "[local]" for a unix socket or a pipe (as Cyrus names them).
  void begin_connection(int fd);
  // The connection ended: its session no longer counts.
  void end_connection();

  net::LoginCheck before_attempt(std::string_view user) override;
  void failed(std::string_view user) override;
  net::LoginCheck succeeded(std::string_view user, bool count_session) override;
  void logged_out() override;

  // Tests: the clock (seconds) and the pause.
  void set_clock(std::function<int64_t()> now) { now_ = std::move(now); }
  void set_sleep(std::function<void(std::chrono::seconds)> sleep) { sleep_ = std::move(sleep); }

 private:
  bool locked(const std::string& key);
  void count_failure(const std::string& key, int64_t limit);

  std::string service_;
  std::chrono::seconds pause_;
  store::FailureBudget host_budget_;
  store::FailureBudget user_budget_;
  store::SessionLimits limits_;
  std::unique_ptr<store::LoginDb> db_;  // null when no limit is set
  std::string host_;
  bool registered_ = false;
  pid_t pid_;
  std::function<int64_t()> now_;
  std::function<void(std::chrono::seconds)> sleep_;
};

}  // namespace replimail::service
