// The on-disk form of a mailbox index (`cyrus.index.db`): its schema and
// the row <-> struct conversions shared by Mailbox and MailboxTxn.
// Internal to store/.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/message_cache.h"
#include "store/record.h"
#include "store/sqlite_db.h"

namespace replimail::store::index {

inline constexpr const char* kIndexFile = "cyrus.index.db";
// CREATE ... IF NOT EXISTS statements for every table of the index.
extern const char* const kSchema;
// Makes the tables of the index (kSchema) and brings an older index's up to
// date (a column added since).
Status apply_schema(SqliteDb& db);
// The record columns, in read_record()'s order.
extern const char* const kRecordColumns;

// User flags are stored as one space-separated text column.
std::vector<std::string> split_flags(const std::string& s);
std::string join_flags(const std::vector<std::string>& flags);
// A record from a row selected with kRecordColumns.
IndexRecord read_record(const SqliteStmt& st);
Result<MailboxCounters> read_counters(SqliteDb& db);
Status write_counters(SqliteDb& db, const MailboxCounters& c);
// Annotations of `uid`, sorted by entry then userid.
Result<std::vector<MessageAnnotation>> read_annotations(SqliteDb& db, uint32_t uid);
// The cache row of `uid` if it describes a file with GUID `guid` in the
// current MessageCache::kVersion; nullopt if there is none or it is stale.
Result<std::optional<MessageCache>> read_cache(SqliteDb& db, uint32_t uid,
                                               const std::string& guid);
// Column `column` of the cache row of `uid` into `out` (its capacity kept),
// if the row describes a file with GUID `guid` in the current
// MessageCache::kVersion: true; false (`out` unchanged) if there is none or
// it is stale.
Result<bool> read_cache_column(SqliteDb& db, uint32_t uid, const std::string& guid,
                               CacheColumn column, std::string& out);
// Writes the cache row of `uid` and its search_fields row (computed from
// the header block). With `only_if_current`, only while the index holds a
// live record `uid` with GUID `guid` (no-op otherwise).
Status write_cache(SqliteDb& db, uint32_t uid, const std::string& guid, const MessageCache& c,
                   bool only_if_current);
// Writes the search_fields row of `uid` alone (`subject`: the search form
// of its Subject fields), as write_cache() does.
Status write_search_fields(SqliteDb& db, uint32_t uid, const std::string& guid,
                           std::string_view subject, bool only_if_current);
// True if `uid` has a search_fields row for GUID `guid` in the current
// kSearchFieldsVersion.
Result<bool> has_search_fields(SqliteDb& db, uint32_t uid, const std::string& guid);
// Deletes the cache row of `uid` and its search_fields row.
Status delete_cache(SqliteDb& db, uint32_t uid);
// User flag names in slot order.
Result<std::vector<std::string>> read_slots(SqliteDb& db);

}  // namespace replimail::store::index
