#include "store/sqlite_db.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <utility>

#include "store/memory.h"

namespace replimail::store {
namespace {

// Writers of one mailbox queue behind each other; a delivery burst from many
// processes must wait, not fail.
constexpr int kBusyTimeoutMs = 120000;

// The database files (device, inode) this process holds a writer flock() on.
// A second connection of the same process to such a file must not block on
// flock() (the holder may be its own caller); it falls back to SQLite's busy
// timeout, as before the queue existed.
std::mutex held_mu;
std::set<std::pair<dev_t, ino_t>> held;

// How much of each database file a connection maps for reading (SQLite's
// mmap_size): 1 GiB, or none once limit_database_memory() was called.
constexpr int64_t kMappedBytes = int64_t{1} << 30;
std::atomic<int64_t> g_mapped_bytes{kMappedBytes};

}  // namespace

SqliteStmt::~SqliteStmt() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

SqliteStmt& SqliteStmt::bind(int i, int64_t v) {
  sqlite3_bind_int64(stmt_, i, v);
  return *this;
}

SqliteStmt& SqliteStmt::bind(int i, std::string_view v) {
  sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

SqliteStmt& SqliteStmt::bind_blob(int i, std::string_view v) {
  // A zero-length blob with a null pointer would bind NULL.
  static const char kEmpty = 0;
  sqlite3_bind_blob(stmt_, i, v.empty() ? &kEmpty : v.data(), static_cast<int>(v.size()),
                    SQLITE_TRANSIENT);
  return *this;
}

Result<bool> SqliteStmt::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return Status(Code::kIoError, fmt::format("sqlite {}: {}", sqlite3_db_filename(db_, "main"),
                                            sqlite3_errmsg(db_)));
}

Result<std::vector<std::string>> SqliteStmt::texts() {
  std::vector<std::string> out;
  while (true) {
    auto r = step();
    if (!r.ok()) return r.status();
    if (!*r) return out;
    out.push_back(text(0));
  }
}

Status SqliteStmt::run() {
  while (true) {
    auto r = step();
    if (!r.ok()) return r.status();
    if (!*r) return Status::success();
  }
}

int64_t SqliteStmt::int64(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string SqliteStmt::text(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  if (p == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(p),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::string_view SqliteStmt::blob_view(int col) const {
  const void* p = sqlite3_column_blob(stmt_, col);
  if (p == nullptr) return {};
  return {static_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, col))};
}

std::string_view SqliteStmt::text_view(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  if (p == nullptr) return {};
  return {reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, col))};
}

Result<std::unique_ptr<SqliteDb>> SqliteDb::open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Status(Code::kIoError, fmt::format("open {}: {}", path, msg));
  }
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  std::unique_ptr<SqliteDb> out(new SqliteDb(db, path));
  // The -wal and -shm files stay when the last connection closes (the WAL
  // truncated after its checkpoint, see journal_size_limit): otherwise
  // SQLite deletes them, and the next process to read would have to create
  // them again, which a full disk refuses (issue 13, item 11). Their space
  // stays allocated to them, so a reader that re-initialises the -shm gets
  // it back.
  int persist = 1;
  sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
  // Switching a database to WAL needs an exclusive lock, and SQLite answers
  // SQLITE_BUSY at once, without its busy handler, while another process is
  // creating or recovering the same file; so retry until the busy timeout.
  // Reads go through a mapping of the file (as Cyrus maps cyrus.index and
  // cyrus.cache): a SEARCH or FETCH over a mailbox larger than SQLite's page
  // cache would otherwise copy every page with a read() each time.
  // Not in a process whose memory is bounded (limit_database_memory): the
  // pages of a mapping it reads stay in its resident set, which would then
  // grow with the mailboxes it streams through.
  const std::string pragmas = fmt::format(
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF; "
      "PRAGMA journal_size_limit=1048576; PRAGMA mmap_size={};",
      g_mapped_bytes.load(std::memory_order_relaxed));
  const char* kPragmas = pragmas.c_str();
  for (int waited_ms = 0;; waited_ms += 10) {
    int prc = sqlite3_exec(db, kPragmas, nullptr, nullptr, nullptr);
    if (prc == SQLITE_OK) return out;
    if ((prc & 0xff) != SQLITE_BUSY || waited_ms >= kBusyTimeoutMs) {
      Status s = out->exec(kPragmas);  // once more, for the error text
      if (!s) return s;
      return out;
    }
    ::usleep(10000);
  }
}

SqliteDb::~SqliteDb() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
  unlock_writer();
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Status SqliteDb::lock_writer() {
  if (lock_fd_ < 0) {
    // Never the database file itself (see the header).
    std::string lock_path = path_ + kWriterLockSuffix;
    lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    // Unwritable (another user's file, or no room for it): SQLite's own
    // locking still serialises writers, only less promptly.
    if (lock_fd_ < 0) return Status::success();
  }
  struct stat st;
  if (::fstat(lock_fd_, &st) != 0) return Status::success();
  std::pair<dev_t, ino_t> key(st.st_dev, st.st_ino);
  {
    std::lock_guard<std::mutex> guard(held_mu);
    if (held.count(key) != 0) return Status::success();
  }
  while (::flock(lock_fd_, LOCK_EX) != 0) {
    if (errno != EINTR)
      return Status(Code::kIoError, fmt::format("flock {}{}: {}", path_, kWriterLockSuffix,
                                                std::strerror(errno)));
  }
  std::lock_guard<std::mutex> guard(held_mu);
  held.insert(key);
  writer_locked_ = true;
  return Status::success();
}

void SqliteDb::unlock_writer() {
  if (!writer_locked_) return;
  struct stat st;
  if (::fstat(lock_fd_, &st) == 0) {
    std::lock_guard<std::mutex> guard(held_mu);
    held.erase({st.st_dev, st.st_ino});
  }
  ::flock(lock_fd_, LOCK_UN);
  writer_locked_ = false;
}

Status SqliteDb::error(std::string_view what) const {
  return Status(Code::kIoError, fmt::format("sqlite {} {}: {}", what, path_, sqlite3_errmsg(db_)));
}

Status SqliteDb::exec(std::string_view sql) {
  std::string s(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return Status(Code::kIoError, fmt::format("sqlite {}: {} ({})", path_, msg, s));
  }
  return Status::success();
}

Result<SqliteStmt> SqliteDb::prepare(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr) !=
        SQLITE_OK)
      return error("prepare");
    it = cache_.emplace(sql, stmt).first;
  }
  return SqliteStmt(it->second, db_);
}

Status SqliteDb::begin_immediate() {
  Status s = lock_writer();
  if (s) s = exec("BEGIN IMMEDIATE");
  if (!s) unlock_writer();
  return s;
}

Status SqliteDb::begin_read() { return exec("BEGIN"); }

Status SqliteDb::commit(const std::function<void()>& still_locked) {
  Status s = exec("COMMIT");
  if (s && still_locked) still_locked();
  // A failed COMMIT may leave the transaction open (the caller rolls back)
  // or may have rolled it back already.
  if (!in_transaction()) unlock_writer();
  return s;
}

void SqliteDb::rollback() {
  if (in_transaction()) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  unlock_writer();
}

bool SqliteDb::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }
int64_t SqliteDb::changes() const { return sqlite3_changes64(db_); }

void limit_database_memory(int64_t bytes) {
  sqlite3_soft_heap_limit64(bytes);
  g_mapped_bytes.store(bytes > 0 ? 0 : kMappedBytes, std::memory_order_relaxed);
}

}  // namespace replimail::store
