#include "store/index_pool.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <iterator>
#include <utility>

#include <fmt/format.h>

namespace replimail::store {

Result<std::unique_ptr<SqliteDb>> IndexPool::acquire(const std::string& path, bool* fresh) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return errno_status("stat", path);
  }
  std::unique_ptr<SqliteDb> stale;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = idle_.begin(); it != idle_.end(); ++it) {
      if (it->db->path() != path) continue;
      std::unique_ptr<SqliteDb> db = std::move(it->db);
      bool same = it->dev == st.st_dev && it->ino == st.st_ino;
      idle_.erase(it);
      if (same) {
        *fresh = false;
        return db;
      }
      stale = std::move(db);
      break;
    }
  }
  stale.reset();  // closed outside the lock
  *fresh = true;
  return SqliteDb::open(path);
}

void IndexPool::release(std::unique_ptr<SqliteDb> db) {
  if (!db) return;
  if (db->in_transaction()) {
    db->rollback();
    return;
  }
  struct stat st;
  if (::stat(db->path().c_str(), &st) != 0) return;
  std::list<Idle> closing;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = idle_.begin(); it != idle_.end(); ++it) {
      if (it->db->path() == db->path()) {
        closing.splice(closing.end(), idle_, it);
        break;
      }
    }
    idle_.push_front(Idle{std::move(db), st.st_dev, st.st_ino});
    while (idle_.size() > capacity_) closing.splice(closing.end(), idle_, std::prev(idle_.end()));
  }
}

void IndexPool::forget(const std::string& path) {
  std::list<Idle> closing;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = idle_.begin(); it != idle_.end();) {
    auto next = std::next(it);
    if (it->db->path() == path) closing.splice(closing.end(), idle_, it);
    it = next;
  }
}

size_t IndexPool::idle() const {
  std::lock_guard<std::mutex> lock(mu_);
  return idle_.size();
}

}  // namespace replimail::store
