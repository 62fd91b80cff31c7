// logins.db in configdirectory: what the login services of one instance
// share across their worker processes (replimail's; docs/OPERATIONS.md):
//
//   failures  one row per client host ("host:[192.0.2.1]") or user
//             ("user:alice") with recent failed logins: the count in the
//             current window, when the window began, and until when further
//             attempts are refused once the count reached its limit
//   sessions  one row per logged-in session (pid, service, host, user), for
//             maxlogins_per_host / maxlogins_per_user (Cyrus counts the same
//             from its proc files)
//
// Crash-safe (SQLite WAL) and bounded: failure rows older than their window
// and lockout are deleted as failures are recorded, and never more than
// kMaxFailureRows are kept (the oldest go first); session rows of processes
// that are gone are deleted as they are met.
//
// Thread-compatible: one LoginDb per process (workers serve one connection
// at a time).
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace replimail::store {

class SqliteDb;

inline constexpr int64_t kMaxFailureRows = 100000;

struct FailureBudget {
  int64_t limit = 0;       // failures in `window` that start a lockout; 0 = no budget
  int64_t window_s = 600;  // seconds
  int64_t lockout_s = 900;
};

struct SessionLimits {
  int64_t max_per_host = 0;  // 0 = no limit (as Cyrus)
  int64_t max_per_user = 0;
};

// Other logged-in sessions when a login asked to be counted.
struct SessionCount {
  bool allowed = true;
  int64_t host = 0;  // sessions from the same host
  int64_t user = 0;  // sessions of the same user
};

class LoginDb {
 public:
  // `alive(pid)`: whether a process holding a session row still runs.
  static Result<std::unique_ptr<LoginDb>> open(const std::string& configdirectory,
                                               std::function<bool(int64_t)> alive = nullptr);
  ~LoginDb();
  LoginDb(const LoginDb&) = delete;
  LoginDb& operator=(const LoginDb&) = delete;

  // Seconds `key` is still locked out at `now` (0 = not locked).
  Result<int64_t> locked_for(std::string_view key, int64_t now);
  // Counts a failure of `key` at `now` under `budget`; true if this one
  // started a lockout.
  Result<bool> record_failure(std::string_view key, int64_t now, const FailureBudget& budget);

  // The logged-in sessions of other processes from `host` and of `user`;
  // if both are under `limits`, registers this one (pid `pid`) in the same
  // transaction, so that two processes never both take the last place.
  Result<SessionCount> register_session(int64_t pid, std::string_view service,
                                        std::string_view host, std::string_view user,
                                        const SessionLimits& limits);
  // Forgets the session of process `pid` (logout, end of connection).
  Status unregister_session(int64_t pid);

 private:
  explicit LoginDb(std::unique_ptr<SqliteDb> db, std::function<bool(int64_t)> alive);
  std::unique_ptr<SqliteDb> db_;
  std::function<bool(int64_t)> alive_;
};

}  // namespace replimail::store
