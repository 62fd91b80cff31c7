// A thin SQLite connection for the store's databases: opened in WAL mode
// with synchronous=FULL (a commit is on disk when it returns) and a long
// busy timeout (writers from several processes queue rather than fail).
// Prepared statements are cached per connection. Internal to store/.
//
// Writers queue in the kernel: begin_immediate() first takes an exclusive
// flock() on a lock file beside the database (`<path>-lock`), held until
// commit() or rollback(). SQLite's own busy handler polls the write lock with
// sleeps of 1, 2, 5, 10... ms, so eight processes appending to one mailbox
// spent most of their time asleep while the lock was free; a blocked flock()
// is woken the moment the holder lets go.
//
// Nothing but SQLite may open a database file (or its -wal or -shm): closing
// any descriptor of a file drops every POSIX lock the process holds on it,
// including those SQLite holds for this process's other connections, and
// other processes then checkpoint and delete the WAL under them ("How To
// Corrupt An SQLite Database File", 2.2). Several connections of one process
// to one file are safe: SQLite shares their locks and defers closing a
// descriptor while another connection holds locks on the same file.
//
// The -wal and -shm files are kept when the last connection closes (the WAL
// truncated): reading a database never has to create a file, so readers work
// on a full disk.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace replimail::store {

// A cached statement in use; reset (and its bindings cleared) on destruction.
class SqliteStmt {
 public:
  SqliteStmt(sqlite3_stmt* stmt, sqlite3* db) : stmt_(stmt), db_(db) {}
  ~SqliteStmt();
  SqliteStmt(SqliteStmt&& o) noexcept : stmt_(o.stmt_), db_(o.db_) { o.stmt_ = nullptr; }
  SqliteStmt(const SqliteStmt&) = delete;
  SqliteStmt& operator=(const SqliteStmt&) = delete;

  // Parameters are numbered from 1.
  SqliteStmt& bind(int i, int64_t v);
  SqliteStmt& bind(int i, std::string_view v);
  // `v` as a BLOB (bytes kept as they are, NULs included).
  SqliteStmt& bind_blob(int i, std::string_view v);
  // A row is ready (true) or the statement is done (false).
  Result<bool> step();
  // Steps to completion, ignoring rows.
  Status run();
  // Steps to completion, collecting column 0 of every row as text.
  Result<std::vector<std::string>> texts();
  int64_t int64(int col) const;
  std::string text(int col) const;
  // Column `col` as text in SQLite's own memory, without a copy: valid
  // until the next step() or the statement's destruction.
  std::string_view text_view(int col) const;
  // Column `col` as a BLOB, as text_view() (empty for NULL).
  std::string_view blob_view(int col) const;

 private:
  sqlite3_stmt* stmt_;
  sqlite3* db_;
};

// The writer lock file of a database is its path plus this suffix.
inline constexpr const char* kWriterLockSuffix = "-lock";

class SqliteDb {
 public:
  // Opens (creating if missing) the database at `path`.
  static Result<std::unique_ptr<SqliteDb>> open(const std::string& path);
  ~SqliteDb();

  // Runs one or more statements without results.
  Status exec(std::string_view sql);
  // A cached prepared statement for `sql`.
  Result<SqliteStmt> prepare(const std::string& sql);
  // Transactions. begin_immediate() takes the write lock, queueing behind
  // other writers (see above); if this process already writes the same file
  // through another connection, it waits up to the busy timeout instead of
  // blocking forever.
  Status begin_immediate();
  Status begin_read();
  // Commits; `still_locked`, if given, runs after a successful COMMIT and
  // before the write lock is released, so that what it does (unlinking the
  // files of expunged records) is never seen half-done by the next writer.
  Status commit(const std::function<void()>& still_locked = {});
  void rollback();
  bool in_transaction() const;
  int64_t changes() const;
  const std::string& path() const { return path_; }

 private:
  SqliteDb(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Status error(std::string_view what) const;
  Status lock_writer();
  void unlock_writer();

  sqlite3* db_;
  std::string path_;
  int lock_fd_ = -1;            // `path_-lock`, for flock(); opened on first write
  bool writer_locked_ = false;  // this connection holds the flock()
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

}  // namespace replimail::store
