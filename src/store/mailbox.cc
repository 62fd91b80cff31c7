#include "store/mailbox.h"

#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <unordered_set>

#include "common/fs.h"
#include "mime/message.h"
#include "store/index_pool.h"
#include "store/mailbox_index.h"
#include "store/mboxname.h"
#include "store/sqlite_db.h"
#include "store/staged_message.h"
#include "store/sync_crc.h"

namespace replimail::store {

using namespace index;

Result<std::string> mailbox_dir(const std::string& partition_path, const std::string& uniqueid) {
  Status s = validate_uniqueid(uniqueid);
  if (!s) return s;
  if (partition_path.empty()) return Status(Code::kConfigError, "empty partition path");
  std::string u0 = uniqueid.substr(0, 1);
  std::string u1 = uniqueid.size() > 1 ? uniqueid.substr(1, 1) : "_";
  return fmt::format("{}/uuid/{}/{}/{}", partition_path, u0, u1, uniqueid);
}

std::string message_file(const std::string& dir, uint32_t uid) {
  return fmt::format("{}/{}.", dir, uid);
}

Mailbox::Mailbox(MailboxEntry entry, std::string dir, std::unique_ptr<SqliteDb> db,
                 std::shared_ptr<IndexPool> pool)
    : entry_(std::move(entry)), dir_(std::move(dir)), db_(std::move(db)), pool_(std::move(pool)) {}

Mailbox::~Mailbox() {
  if (reading_) end_read();
  if (!cache_fills_.empty() || !search_fields_fills_.empty()) {
    Status s = flush_cache();
    if (!s) spdlog::warn("{}: message cache not filled: {}", name(), s.to_string());
  }
  if (pool_) pool_->release(std::move(db_));
}

Status Mailbox::create(const MailboxEntry& entry, const std::string& dir,
                       const MailboxCounters& counters) {
  Status s = fs::make_dirs(dir, 0750);
  if (!s) return s;
  auto db = SqliteDb::open(dir + "/" + kIndexFile);
  if (!db.ok()) return db.status();
  // The tables and the counters in one transaction: one WAL commit (one
  // fdatasync) where each CREATE on its own made one apiece.
  s = (*db)->begin_immediate();
  if (!s) return s;
  s = apply_schema(**db);
  if (!s) {
    (*db)->rollback();
    return s;
  }
  auto existing = read_counters(**db);
  if (existing.ok() &&
      (existing->last_uid != 0 || existing->highestmodseq > counters.highestmodseq)) {
    (*db)->rollback();
    return Status(Code::kMailboxExists, fmt::format("{}: index already exists", dir));
  }
  s = write_counters(**db, counters);
  if (s) s = (*db)->commit();
  if (!s) {
    (*db)->rollback();
    return s;
  }
  return fs::fsync_dir(fs::dirname(dir));
}

Result<std::unique_ptr<Mailbox>> Mailbox::open(const MailboxEntry& entry, const std::string& dir,
                                               std::shared_ptr<IndexPool> pool) {
  std::string path = dir + "/" + kIndexFile;
  if (!fs::exists(path))
    return Status(Code::kMailboxNonexistent, fmt::format("{}: index {} missing", entry.name, path));
  bool fresh = true;
  auto db = pool ? pool->acquire(path, &fresh) : SqliteDb::open(path);
  if (!db.ok()) return db.status();
  if (fresh) {
    Status s = apply_schema(**db);
    if (!s) return s;
  }
  return std::unique_ptr<Mailbox>(new Mailbox(entry, dir, std::move(*db), std::move(pool)));
}

Result<MailboxCounters> Mailbox::counters() { return read_counters(*db_); }

Result<IndexRecord> Mailbox::record(uint32_t uid) {
  auto st = db_->prepare(fmt::format("SELECT {} FROM records WHERE uid = ?", kRecordColumns));
  if (!st.ok()) return st.status();
  st->bind(1, int64_t{uid});
  auto row = st->step();
  if (!row.ok()) return row.status();
  if (!*row) return Status(Code::kNotFound, fmt::format("{}: no record uid {}", name(), uid));
  return read_record(*st);
}

Status Mailbox::for_each_record(uint64_t since_modseq,
                                const std::function<bool(const IndexRecord&)>& fn) {
  // From a modseq on, the records come through the modseq index and are
  // sorted: "ORDER BY uid" alone makes SQLite walk the whole table in UID
  // order to spare the sort, and a rolling sync of one new message then
  // read every record of the mailbox (three times per APPLY).
  auto st = db_->prepare(fmt::format("SELECT {} FROM records WHERE modseq > ? ORDER BY {}",
                                     kRecordColumns, since_modseq == 0 ? "uid" : "+uid"));
  if (!st.ok()) return st.status();
  st->bind(1, static_cast<int64_t>(since_modseq));
  while (true) {
    auto row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::success();
    if (!fn(read_record(*st))) return Status::success();
  }
}

Result<std::vector<uint32_t>> Mailbox::uids_of_guid(const std::string& guid) {
  auto st = db_->prepare("SELECT uid, system_flags FROM records WHERE guid = ? ORDER BY uid");
  if (!st.ok()) return st.status();
  st->bind(1, guid);
  std::vector<uint32_t> out;
  while (true) {
    auto row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    if ((static_cast<uint32_t>(st->int64(1)) & kFlagExpunged) == 0)
      out.push_back(static_cast<uint32_t>(st->int64(0)));
  }
}

Result<std::vector<std::pair<std::string, uint32_t>>> Mailbox::uids_of_guids(
    const std::vector<std::string>& guids) {
  std::vector<std::pair<std::string, uint32_t>> out;
  bool has_index = false;
  {
    auto indexed =
        db_->prepare("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'records_guid'");
    if (!indexed.ok()) return indexed.status();
    auto row = indexed->step();
    if (!row.ok()) return row.status();
    has_index = *row;
  }
  if (has_index) {
    for (const auto& g : guids) {
      auto uids = uids_of_guid(g);
      if (!uids.ok()) return uids.status();
      for (uint32_t uid : *uids) out.emplace_back(g, uid);
    }
    return out;
  }
  std::unordered_set<std::string> wanted(guids.begin(), guids.end());
  Status s = for_each_record(0, [&](const IndexRecord& r) {
    if (!r.expunged() && wanted.contains(r.guid)) out.emplace_back(r.guid, r.uid);
    return true;
  });
  if (!s) return s;
  return out;
}

Result<std::vector<MessageAnnotation>> Mailbox::annotations(uint32_t uid) {
  return read_annotations(*db_, uid);
}

Result<std::vector<std::string>> Mailbox::user_flag_slots() { return read_slots(*db_); }

Result<int> Mailbox::open_message(uint32_t uid) const {
  std::string path = message_path(uid);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_status("open message", path);
  return fd;
}

Result<MessageCache> Mailbox::cache(uint32_t uid, const std::string& guid) {
  auto row = read_cache(*db_, uid, guid);
  if (!row.ok()) return row.status();
  if (*row) return std::move(**row);
  // Computed already and not written yet (a scan reads a second column of
  // the same row).
  for (auto it = cache_fills_.rbegin(); it != cache_fills_.rend(); ++it) {
    if (it->uid == uid && it->guid == guid) return it->cache;
  }
  auto computed = compute_message_cache(message_path(uid));
  if (!computed.ok()) return computed.status();
  if (cache_fills_.size() < kCacheFillBatch) cache_fills_.push_back({uid, guid, *computed});
  if (cache_fills_.size() >= kCacheFillBatch && !db_->in_transaction()) {
    Status s = flush_cache();
    if (!s) spdlog::warn("{}: message cache not filled: {}", name(), s.to_string());
  }
  return computed;
}

Result<std::optional<MessageCache>> Mailbox::stored_cache(uint32_t uid, const std::string& guid) {
  return read_cache(*db_, uid, guid);
}

Status Mailbox::cache_column(uint32_t uid, const std::string& guid, CacheColumn column,
                             std::string& out) {
  auto read = read_cache_column(*db_, uid, guid, column, out);
  if (!read.ok()) return read.status();
  if (*read) return Status::success();
  auto row = cache(uid, guid);
  if (!row.ok()) return row.status();
  out = column == CacheColumn::kHeader ? row->header : row->text_segments;
  return Status::success();
}

Status Mailbox::flush_cache() {
  // Not while a SubjectCursor walks the table either.
  if ((cache_fills_.empty() && search_fields_fills_.empty()) || db_->in_transaction() ||
      cursors_ > 0)
    return Status::success();
  std::vector<CacheFill> fills = std::move(cache_fills_);
  cache_fills_.clear();
  std::vector<SearchFieldsFill> fields = std::move(search_fields_fills_);
  search_fields_fills_.clear();
  Status s = db_->begin_immediate();
  if (!s) return s;
  for (const auto& f : fills) {
    s = write_cache(*db_, f.uid, f.guid, f.cache, true);
    if (!s) break;
  }
  for (size_t i = 0; s && i < fields.size(); ++i)
    s = write_search_fields(*db_, fields[i].uid, fields[i].guid, fields[i].subject, true);
  if (s) s = db_->commit();
  if (!s) db_->rollback();
  return s;
}

SubjectCursor::SubjectCursor(Mailbox& mbox) : mbox_(mbox) { mbox_.cursors_++; }

SubjectCursor::~SubjectCursor() {
  st_.reset();
  mbox_.cursors_--;
}

void SubjectCursor::advance() {
  // A failed step leaves the rest to compute(), which reads the index too
  // and reports what fails.
  auto row = st_->step();
  done_ = !row.ok() || !*row;
  if (!done_) row_uid_ = static_cast<uint32_t>(st_->int64(0));
}

Result<std::string_view> SubjectCursor::subject(uint32_t uid, const std::string& guid) {
  if (!st_ && !done_) {
    auto st = mbox_.db_->prepare(
        "SELECT uid, version, guid, subject FROM search_fields WHERE uid >= ? ORDER BY uid");
    if (!st.ok()) return st.status();
    st_ = std::make_unique<SqliteStmt>(std::move(st).value());
    st_->bind(1, int64_t{uid});
    advance();
  }
  while (!done_ && row_uid_ < uid) advance();
  if (!done_ && row_uid_ == uid && st_->int64(1) == kSearchFieldsVersion &&
      st_->text_view(2) == guid)
    return st_->blob_view(3);
  return compute(uid, guid);
}

Result<std::string_view> SubjectCursor::compute(uint32_t uid, const std::string& guid) {
  Status s = mbox_.cache_column(uid, guid, CacheColumn::kHeader, header_);
  if (!s) return s;
  computed_ = mime::field_search_form(header_, "Subject");
  auto& fills = mbox_.search_fields_fills_;
  if (fills.size() < Mailbox::kSearchFieldsFillBatch) fills.push_back({uid, guid, computed_});
  return std::string_view(computed_);
}

Status Mailbox::begin_read() {
  Status s = db_->begin_read();
  reading_ = s.is_ok();
  return s;
}

void Mailbox::end_read() {
  if (!reading_) return;
  db_->rollback();
  reading_ = false;
}

Result<std::unique_ptr<MailboxTxn>> Mailbox::begin() {
  std::unique_ptr<MailboxTxn> txn(new MailboxTxn(this));
  Status s = db_->begin_immediate();
  if (!s) return s;
  txn->open_ = true;
  s = txn->load();
  if (!s) return s;
  return txn;
}

// ---- MailboxTxn ----

}  // namespace replimail::store
