// Quota roots in `<configdirectory>/quota.db` (SQLite, WAL): per root the
// limits (STORAGE in KiB, MESSAGE count; -1 = unlimited), a MODSEQ, and the
// usage of every mailbox under the root, maintained on append and expunge.
// A mailbox's quota root is the longest root equal to its name or a
// hierarchy ancestor of it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace replimail::store {

class SqliteDb;

struct QuotaRoot {
  std::string root;
  int64_t storage_limit_kib = -1;  // -1: unlimited
  int64_t message_limit = -1;      // -1: unlimited
  uint64_t modseq = 0;
  uint64_t storage_used = 0;  // bytes
  uint64_t message_used = 0;
  bool operator==(const QuotaRoot&) const = default;
};

class QuotaDb {
 public:
  static Result<std::unique_ptr<QuotaDb>> open(const std::string& path);
  ~QuotaDb();

  Result<QuotaRoot> get(std::string_view root);  // kNotFound if absent
  Result<std::vector<QuotaRoot>> list(std::string_view prefix);
  // The root governing `mboxname`, if any.
  Result<std::optional<QuotaRoot>> find_root(std::string_view mboxname);
  // OK if adding `bytes` in `messages` messages to `mboxname` stays within
  // its root's limits (or it has no root); kQuotaExceeded otherwise.
  Status check(std::string_view mboxname, uint64_t bytes, uint64_t messages);

 private:
  // Writing is Instance's alone: every change goes through its mutation
  // path, which writes the sync log.
  friend class Instance;

  // Creates or changes the limits of `root` (usage kept); `modseq` 0 means
  // "bump the root's modseq". Returns the stored root.
  Result<QuotaRoot> set_limits(std::string_view root, int64_t storage_limit_kib,
                               int64_t message_limit, uint64_t modseq = 0);
  Status remove(std::string_view root);
  // Adds (possibly negative) usage to the root of `mboxname`, if any.
  Status add_usage(std::string_view mboxname, int64_t bytes, int64_t messages);
  // Sets the usage of `root` outright (recomputation by reconstruct).
  Status set_usage(std::string_view root, uint64_t bytes, uint64_t messages);

  explicit QuotaDb(std::unique_ptr<SqliteDb> db);
  std::unique_ptr<SqliteDb> db_;
};

// True if `root` governs `mboxname` (equal, or a hierarchy ancestor).
bool quota_root_covers(std::string_view root, std::string_view mboxname);

}  // namespace replimail::store
