// Idle connections to mailbox indexes (cyrus.index.db), kept open for reuse
// by the same process.
//
// Opening a mailbox index afresh for every delivery or command is costly: the
// last connection to close checkpoints the WAL into the database and deletes
// the WAL and shared-memory files (several fsyncs and two file creations at
// the next open). A process that keeps a few indexes open pays that only when
// SQLite's autocheckpoint decides. Mailbox::open() takes its connection here
// and gives it back when the Mailbox is destroyed.
//
// A pooled connection is reused only if the index file at its path is still
// the same inode (another process may have deleted the mailbox, or
// reconstructed its index); otherwise it is closed. Thread-safe.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"
#include "store/sqlite_db.h"

namespace replimail::store {

class IndexPool {
 public:
  // At most `capacity` idle connections are kept; the least recently
  // released beyond that are closed.
  explicit IndexPool(size_t capacity) : capacity_(capacity) {}

  // An open connection to the index at `path` (which must exist): a pooled
  // one whose file is unchanged, else a new one. `*fresh` tells the caller
  // whether the connection was just opened (and needs its schema checked).
  Result<std::unique_ptr<SqliteDb>> acquire(const std::string& path, bool* fresh);
  // Takes back a connection that is not in a transaction (one that is, is
  // rolled back and closed).
  void release(std::unique_ptr<SqliteDb> db);
  // Closes the idle connections to `path` (its mailbox is being deleted).
  void forget(const std::string& path);
  size_t idle() const;

 private:
  struct Idle {
    std::unique_ptr<SqliteDb> db;
    dev_t dev;
    ino_t ino;
  };

  size_t capacity_;
  mutable std::mutex mu_;
  std::list<Idle> idle_;  // most recently released first
};

}  // namespace replimail::store
