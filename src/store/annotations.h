// Server-wide and mailbox-level annotations (RFC 5464 METADATA) in
// `<configdirectory>/annotations.db` (SQLite, WAL). Keyed by mailbox name
// ("" for server annotations), entry and userid ("" = shared). Each value
// carries the modseq of its last change. Per-message annotations live in the
// mailbox index instead (see mailbox.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace replimail::store {

class SqliteDb;

struct Annotation {
  std::string mboxname;  // "" = server-wide
  std::string entry;
  std::string userid;  // "" = shared
  std::string value;
  uint64_t modseq = 0;
  bool operator==(const Annotation&) const = default;
};

class AnnotationDb {
 public:
  static Result<std::unique_ptr<AnnotationDb>> open(const std::string& path);
  ~AnnotationDb();

  // Annotations of `mboxname` sorted by entry then userid.
  Result<std::vector<Annotation>> list(std::string_view mboxname);
  Result<Annotation> get(std::string_view mboxname, std::string_view entry,
                         std::string_view userid);  // kNotFound
 private:
  // Writing is Instance's alone: every change goes through its mutation
  // path, which writes the sync log.
  friend class Instance;

  // Stores `a` (an empty value deletes the entry).
  Status set(const Annotation& a);
  // Moves a mailbox's annotations to a new name (rename).
  Status rename(std::string_view oldname, std::string_view newname);
  Status remove_mailbox(std::string_view mboxname);

  explicit AnnotationDb(std::unique_ptr<SqliteDb> db);
  std::unique_ptr<SqliteDb> db_;
};

}  // namespace replimail::store
