#include "store/mailbox_index.h"

#include <errno.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstring>

#include "mime/message.h"

namespace replimail::store::index {

const char* const kSchema = R"(
CREATE TABLE IF NOT EXISTS header(
  id INTEGER PRIMARY KEY CHECK (id = 1), last_uid INTEGER NOT NULL, highestmodseq INTEGER NOT NULL,
  recentuid INTEGER NOT NULL, recenttime INTEGER NOT NULL, last_appenddate INTEGER NOT NULL,
  pop3_last_login INTEGER NOT NULL, pop3_show_after INTEGER NOT NULL,
  uidvalidity INTEGER NOT NULL, options TEXT NOT NULL, sync_crc INTEGER NOT NULL,
  sync_crc_annot INTEGER NOT NULL, exists_count INTEGER NOT NULL, quota_used INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS records(
  uid INTEGER PRIMARY KEY, modseq INTEGER NOT NULL, last_updated INTEGER NOT NULL,
  system_flags INTEGER NOT NULL, user_flags TEXT NOT NULL, internaldate INTEGER NOT NULL,
  size INTEGER NOT NULL, guid TEXT NOT NULL, savedate INTEGER NOT NULL,
  createdmodseq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS records_modseq ON records(modseq);
CREATE TABLE IF NOT EXISTS flag_slots(slot INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS annotations(
  uid INTEGER NOT NULL, entry TEXT NOT NULL, userid TEXT NOT NULL, value TEXT NOT NULL,
  modseq INTEGER NOT NULL, PRIMARY KEY (uid, entry, userid));
CREATE TABLE IF NOT EXISTS message_cache(
  uid INTEGER PRIMARY KEY, version INTEGER NOT NULL, guid TEXT NOT NULL, header TEXT NOT NULL,
  envelope TEXT NOT NULL, bodystructure TEXT NOT NULL, body TEXT NOT NULL,
  text_segments TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS search_fields(
  uid INTEGER PRIMARY KEY, version INTEGER NOT NULL, guid TEXT NOT NULL, subject BLOB NOT NULL);
)";

Status apply_schema(SqliteDb& db) {
  Status s = db.exec(kSchema);
  if (!s) return s;
  // The index on guid serves the replica's RESERVE (which messages does a
  // folder hold?) without reading every record. An index made before it
  // gets it on first open; where that cannot be written (a full disk, a
  // read-only store) the mailbox works without it, RESERVE then scans.
  if (Status g = db.exec("CREATE INDEX IF NOT EXISTS records_guid ON records(guid)"); !g)
    spdlog::debug("index on guid not made: {}", g.to_string());
  // An index made before text_segments existed gets the column (its rows,
  // of an older MessageCache::kVersion, are stale anyway). Two processes
  // may both try: the loser's ALTER fails, and the column is there.
  auto has_column = [&] { return db.prepare("SELECT text_segments FROM message_cache LIMIT 0").ok(); };
  if (has_column()) return s;
  s = db.exec("ALTER TABLE message_cache ADD COLUMN text_segments TEXT NOT NULL DEFAULT ''");
  if (!s && has_column()) return Status::success();
  return s;
}

const char* const kRecordColumns =
    "uid, modseq, last_updated, system_flags, user_flags, internaldate, size, guid, savedate, "
    "createdmodseq";

std::vector<std::string> split_flags(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t sp = s.find(' ', pos);
    if (sp == std::string::npos) sp = s.size();
    if (sp > pos) out.push_back(s.substr(pos, sp - pos));
    pos = sp + 1;
  }
  return out;
}

std::string join_flags(const std::vector<std::string>& flags) {
  std::string out;
  for (const auto& f : flags) {
    if (!out.empty()) out += ' ';
    out += f;
  }
  return out;
}

IndexRecord read_record(const SqliteStmt& st) {
  IndexRecord r;
  r.uid = static_cast<uint32_t>(st.int64(0));
  r.modseq = static_cast<uint64_t>(st.int64(1));
  r.last_updated = st.int64(2);
  r.system_flags = static_cast<uint32_t>(st.int64(3));
  r.user_flags = split_flags(st.text(4));
  r.internaldate = st.int64(5);
  r.size = static_cast<uint64_t>(st.int64(6));
  r.guid = st.text(7);
  r.savedate = st.int64(8);
  r.createdmodseq = static_cast<uint64_t>(st.int64(9));
  return r;
}

Result<MailboxCounters> read_counters(SqliteDb& db) {
  auto st = db.prepare(
      "SELECT last_uid, highestmodseq, recentuid, recenttime, last_appenddate, pop3_last_login, "
      "pop3_show_after, uidvalidity, options, sync_crc, sync_crc_annot, exists_count, quota_used "
      "FROM header WHERE id = 1");
  if (!st.ok()) return st.status();
  auto row = st->step();
  if (!row.ok()) return row.status();
  if (!*row) return Status(Code::kIoError, fmt::format("{}: index header missing", db.path()));
  MailboxCounters c;
  c.last_uid = static_cast<uint32_t>(st->int64(0));
  c.highestmodseq = static_cast<uint64_t>(st->int64(1));
  c.recentuid = static_cast<uint32_t>(st->int64(2));
  c.recenttime = st->int64(3);
  c.last_appenddate = st->int64(4);
  c.pop3_last_login = st->int64(5);
  c.pop3_show_after = st->int64(6);
  c.uidvalidity = static_cast<uint32_t>(st->int64(7));
  c.options = st->text(8);
  c.sync_crc = static_cast<uint32_t>(st->int64(9));
  c.sync_crc_annot = static_cast<uint32_t>(st->int64(10));
  c.exists = static_cast<uint64_t>(st->int64(11));
  c.quota_used = static_cast<uint64_t>(st->int64(12));
  return c;
}

Status write_counters(SqliteDb& db, const MailboxCounters& c) {
  auto st = db.prepare(
      "INSERT OR REPLACE INTO header(id, last_uid, highestmodseq, recentuid, recenttime, "
      "last_appenddate, pop3_last_login, pop3_show_after, uidvalidity, options, sync_crc, "
      "sync_crc_annot, exists_count, quota_used) VALUES(1,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  if (!st.ok()) return st.status();
  st->bind(1, int64_t{c.last_uid})
      .bind(2, static_cast<int64_t>(c.highestmodseq))
      .bind(3, int64_t{c.recentuid})
      .bind(4, c.recenttime)
      .bind(5, c.last_appenddate)
      .bind(6, c.pop3_last_login)
      .bind(7, c.pop3_show_after)
      .bind(8, int64_t{c.uidvalidity})
      .bind(9, c.options)
      .bind(10, int64_t{c.sync_crc})
      .bind(11, int64_t{c.sync_crc_annot})
      .bind(12, static_cast<int64_t>(c.exists))
      .bind(13, static_cast<int64_t>(c.quota_used));
  return st->run();
}

Result<std::vector<MessageAnnotation>> read_annotations(SqliteDb& db, uint32_t uid) {
  auto st = db.prepare(
      "SELECT entry, userid, value, modseq FROM annotations WHERE uid = ? "
      "ORDER BY entry, userid");
  if (!st.ok()) return st.status();
  st->bind(1, int64_t{uid});
  std::vector<MessageAnnotation> out;
  while (true) {
    auto row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.push_back(
        {uid, st->text(0), st->text(1), st->text(2), static_cast<uint64_t>(st->int64(3))});
  }
}

Result<std::optional<MessageCache>> read_cache(SqliteDb& db, uint32_t uid,
                                               const std::string& guid) {
  auto st = db.prepare(
      "SELECT version, guid, header, envelope, bodystructure, body, text_segments FROM "
      "message_cache "
      "WHERE uid = ?");
  if (!st.ok()) return st.status();
  st->bind(1, int64_t{uid});
  auto row = st->step();
  if (!row.ok()) return row.status();
  if (!*row || st->int64(0) != MessageCache::kVersion || st->text(1) != guid)
    return std::optional<MessageCache>();
  MessageCache c;
  c.header = st->text(2);
  c.envelope = st->text(3);
  c.bodystructure = st->text(4);
  c.body = st->text(5);
  c.text_segments = st->text(6);
  return std::optional<MessageCache>(std::move(c));
}

Result<bool> read_cache_column(SqliteDb& db, uint32_t uid, const std::string& guid,
                               CacheColumn column, std::string& out) {
  // The other columns (envelope, structure) are never read: a row larger
  // than a page keeps its tail in overflow pages SQLite then leaves alone.
  auto st = db.prepare(column == CacheColumn::kHeader
                           ? "SELECT version, guid, header FROM message_cache WHERE uid = ?"
                           : "SELECT version, guid, text_segments FROM message_cache WHERE uid = ?");
  if (!st.ok()) return st.status();
  st->bind(1, int64_t{uid});
  auto row = st->step();
  if (!row.ok()) return row.status();
  if (!*row || st->int64(0) != MessageCache::kVersion || st->text_view(1) != guid) return false;
  out.assign(st->text_view(2));
  return true;
}

Status write_search_fields(SqliteDb& db, uint32_t uid, const std::string& guid,
                           std::string_view subject, bool only_if_current) {
  auto st = db.prepare(
      only_if_current
          ? std::string("INSERT OR REPLACE INTO search_fields(uid, version, guid, subject) "
                        "SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM records WHERE uid = "
                        "?1 AND guid = ?3 AND system_flags & ?5 = 0)")
          : std::string("INSERT OR REPLACE INTO search_fields(uid, version, guid, subject) "
                        "VALUES(?1, ?2, ?3, ?4)"));
  if (!st.ok()) return st.status();
  st->bind(1, int64_t{uid}).bind(2, kSearchFieldsVersion).bind(3, guid).bind_blob(4, subject);
  if (only_if_current) st->bind(5, int64_t{kFlagExpunged});
  return st->run();
}

Result<bool> has_search_fields(SqliteDb& db, uint32_t uid, const std::string& guid) {
  auto st = db.prepare("SELECT version, guid FROM search_fields WHERE uid = ?");
  if (!st.ok()) return st.status();
  st->bind(1, int64_t{uid});
  auto row = st->step();
  if (!row.ok()) return row.status();
  return *row && st->int64(0) == kSearchFieldsVersion && st->text_view(1) == guid;
}

Status write_cache(SqliteDb& db, uint32_t uid, const std::string& guid, const MessageCache& c,
                   bool only_if_current) {
  // With only_if_current (a lazy fill, outside the transaction that wrote
  // the record) the row is written only while its record is live with that
  // GUID, so a fill racing an expunge or a replaced record stores nothing.
  auto st = db.prepare(
      only_if_current
          ? std::string("INSERT OR REPLACE INTO message_cache(uid, version, guid, header, "
                        "envelope, bodystructure, body, text_segments) SELECT ?1, ?2, ?3, ?4, "
                        "?5, ?6, ?7, ?9 WHERE EXISTS (SELECT 1 FROM records WHERE uid = ?1 AND "
                        "guid = ?3 AND system_flags & ?8 = 0)")
          : std::string("INSERT OR REPLACE INTO message_cache(uid, version, guid, header, "
                        "envelope, bodystructure, body, text_segments) VALUES(?1, ?2, ?3, ?4, "
                        "?5, ?6, ?7, ?9)"));
  if (!st.ok()) return st.status();
  st->bind(1, int64_t{uid})
      .bind(2, MessageCache::kVersion)
      .bind(3, guid)
      .bind(4, c.header)
      .bind(5, c.envelope)
      .bind(6, c.bodystructure)
      .bind(7, c.body)
      .bind(9, c.text_segments);
  if (only_if_current) st->bind(8, int64_t{kFlagExpunged});
  if (Status s = st->run(); !s) return s;
  return write_search_fields(db, uid, guid, mime::field_search_form(c.header, "Subject"),
                             only_if_current);
}

Status delete_cache(SqliteDb& db, uint32_t uid) {
  for (const char* sql :
       {"DELETE FROM message_cache WHERE uid = ?", "DELETE FROM search_fields WHERE uid = ?"}) {
    auto st = db.prepare(sql);
    if (!st.ok()) return st.status();
    if (Status s = st->bind(1, int64_t{uid}).run(); !s) return s;
  }
  return Status::success();
}

Result<std::vector<std::string>> read_slots(SqliteDb& db) {
  auto st = db.prepare("SELECT name FROM flag_slots ORDER BY slot");
  if (!st.ok()) return st.status();
  return st->texts();
}

}  // namespace replimail::store::index
