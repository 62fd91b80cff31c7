// What a login service (imapd, pop3d, lmtpd's AUTH, sync_server) asks
// around an authentication attempt: failedloginpause, the failure budgets
// per client host and per user, and maxlogins_per_host/maxlogins_per_user
// (service/login_guard.h implements it over logins.db). Sessions hold a
// pointer that may be null: no pause, no limits.
#pragma once

#include <string>
#include <string_view>

namespace replimail::net {

struct LoginCheck {
  enum class Kind {
    kAllowed,
    kLockedOut,  // too many failures from the host or for the user: try later
    kTooMany,    // maxlogins_per_host / maxlogins_per_user reached
  };
  Kind kind = Kind::kAllowed;
  // kTooMany: Cyrus's parenthesised detail without the parentheses,
  // "2 of 2 from [192.0.2.1], 1 of 1 for alice".
  std::string detail;
  bool allowed() const { return kind == Kind::kAllowed; }
};

class LoginPolicy {
 public:
  virtual ~LoginPolicy() = default;
  // Before an attempt is tried: kLockedOut if the client host (or `user`,
  // when the command names one; "" otherwise) is locked out.
  virtual LoginCheck before_attempt(std::string_view user) = 0;
  // An attempt failed: counted against the host and `user` (if known),
  // then failedloginpause is slept.
  virtual void failed(std::string_view user) = 0;
  // The credentials of `user` proved right. kLockedOut if the user is
  // locked out (a guess that hit is refused like the others); with
  // `count_session`, kTooMany over maxlogins_*, else the session is counted
  // as logged in until logged_out() or the end of the connection.
  virtual LoginCheck succeeded(std::string_view user, bool count_session) = 0;
  // The session logged out (IMAP UNAUTHENTICATE) or ended.
  virtual void logged_out() = 0;
};

}  // namespace replimail::net
