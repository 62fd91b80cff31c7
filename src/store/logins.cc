#include "store/logins.h"

#include <signal.h>

#include <cerrno>
#include <vector>

#include "store/sqlite_db.h"

namespace replimail::store {
namespace {

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS failures (key TEXT PRIMARY KEY, count INTEGER NOT NULL,"
    " first INTEGER NOT NULL, locked_until INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS failures_first ON failures(first);"
    "CREATE TABLE IF NOT EXISTS sessions (pid INTEGER PRIMARY KEY, service TEXT NOT NULL,"
    " host TEXT NOT NULL, user TEXT NOT NULL);";

bool process_alive(int64_t pid) {
  // EPERM: the process exists but belongs to someone else.
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

// Runs `body` in a write transaction, committing if it succeeded.
template <typename T, typename F>
Result<T> in_txn(SqliteDb& db, F&& body) {
  if (Status s = db.begin_immediate(); !s) return s;
  Result<T> r = body();
  if (!r.ok()) {
    db.rollback();
    return r;
  }
  if (Status s = db.commit(); !s) return s;
  return r;
}

}  // namespace

LoginDb::LoginDb(std::unique_ptr<SqliteDb> db, std::function<bool(int64_t)> alive)
    : db_(std::move(db)), alive_(std::move(alive)) {}
LoginDb::~LoginDb() = default;

Result<std::unique_ptr<LoginDb>> LoginDb::open(const std::string& configdirectory,
                                               std::function<bool(int64_t)> alive) {
  auto db = SqliteDb::open(configdirectory + "/logins.db");
  if (!db.ok()) return db.status();
  if (Status s = (*db)->exec(kSchema); !s) return s;
  if (!alive) alive = process_alive;
  return std::unique_ptr<LoginDb>(new LoginDb(std::move(*db), std::move(alive)));
}

Result<int64_t> LoginDb::locked_for(std::string_view key, int64_t now) {
  auto st = db_->prepare("SELECT locked_until FROM failures WHERE key = ?");
  if (!st.ok()) return st.status();
  st->bind(1, key);
  auto row = st->step();
  if (!row.ok()) return row.status();
  if (!*row) return int64_t{0};
  int64_t until = st->int64(0);
  return until > now ? until - now : 0;
}

Result<bool> LoginDb::record_failure(std::string_view key, int64_t now,
                                     const FailureBudget& budget) {
  return in_txn<bool>(*db_, [&]() -> Result<bool> {
    // Bounded: rows whose window and lockout are over say nothing more.
    auto old = db_->prepare("DELETE FROM failures WHERE first < ? AND locked_until <= ?");
    if (!old.ok()) return old.status();
    if (Status s = old->bind(1, now - budget.window_s).bind(2, now).run(); !s) return s;
    auto get = db_->prepare("SELECT count, first, locked_until FROM failures WHERE key = ?");
    if (!get.ok()) return get.status();
    get->bind(1, key);
    auto row = get->step();
    if (!row.ok()) return row.status();
    int64_t count = 0, first = now, locked_until = 0;
    if (*row) {
      count = get->int64(0);
      first = get->int64(1);
      locked_until = get->int64(2);
    }
    if (now - first >= budget.window_s) {
      count = 0;
      first = now;
    }
    ++count;
    bool starts_lockout = budget.limit > 0 && count >= budget.limit && locked_until <= now;
    if (starts_lockout) {
      // The lockout ends the window: afterwards the budget starts afresh.
      locked_until = now + budget.lockout_s;
      count = 0;
      first = now;
    }
    auto put = db_->prepare(
        "INSERT OR REPLACE INTO failures (key, count, first, locked_until) VALUES (?, ?, ?, ?)");
    if (!put.ok()) return put.status();
    if (Status s = put->bind(1, key).bind(2, count).bind(3, first).bind(4, locked_until).run(); !s)
      return s;
    // A flood from ever-new addresses cannot grow the file without bound.
    auto cap = db_->prepare(
        "DELETE FROM failures WHERE key IN (SELECT key FROM failures ORDER BY first DESC"
        " LIMIT -1 OFFSET ?) AND locked_until <= ?");
    if (!cap.ok()) return cap.status();
    if (Status s = cap->bind(1, kMaxFailureRows).bind(2, now).run(); !s) return s;
    return starts_lockout;
  });
}

Result<SessionCount> LoginDb::register_session(int64_t pid, std::string_view service,
                                               std::string_view host, std::string_view user,
                                               const SessionLimits& limits) {
  return in_txn<SessionCount>(*db_, [&]() -> Result<SessionCount> {
    auto all = db_->prepare("SELECT pid, host, user FROM sessions WHERE pid != ?");
    if (!all.ok()) return all.status();
    all->bind(1, pid);
    SessionCount c;
    std::vector<int64_t> gone;
    for (;;) {
      auto row = all->step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      if (!alive_(all->int64(0))) {
        gone.push_back(all->int64(0));
        continue;
      }
      if (all->text(1) == host) ++c.host;
      if (all->text(2) == user) ++c.user;
    }
    for (int64_t p : gone) {
      auto del = db_->prepare("DELETE FROM sessions WHERE pid = ?");  // reset when it goes
      if (!del.ok()) return del.status();
      if (Status s = del->bind(1, p).run(); !s) return s;
    }
    // As Cyrus: refused when the others already reach the limit.
    c.allowed = !(limits.max_per_host > 0 && c.host >= limits.max_per_host) &&
                !(limits.max_per_user > 0 && c.user >= limits.max_per_user);
    if (!c.allowed) return c;
    auto put = db_->prepare(
        "INSERT OR REPLACE INTO sessions (pid, service, host, user) VALUES (?, ?, ?, ?)");
    if (!put.ok()) return put.status();
    if (Status s = put->bind(1, pid).bind(2, service).bind(3, host).bind(4, user).run(); !s)
      return s;
    return c;
  });
}

Status LoginDb::unregister_session(int64_t pid) {
  auto del = db_->prepare("DELETE FROM sessions WHERE pid = ?");
  if (!del.ok()) return del.status();
  return del->bind(1, pid).run();
}

}  // namespace replimail::store
