#include "store/quota.h"

#include <fmt/format.h>

#include <algorithm>

#include "store/sqlite_db.h"

namespace replimail::store {
namespace {

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS quota(
  root TEXT PRIMARY KEY, storage_limit INTEGER NOT NULL, message_limit INTEGER NOT NULL,
  modseq INTEGER NOT NULL, storage_used INTEGER NOT NULL, message_used INTEGER NOT NULL);
)";

constexpr const char* kColumns =
    "root, storage_limit, message_limit, modseq, storage_used, message_used";

QuotaRoot read_root(const SqliteStmt& st) {
  QuotaRoot q;
  q.root = st.text(0);
  q.storage_limit_kib = st.int64(1);
  q.message_limit = st.int64(2);
  q.modseq = static_cast<uint64_t>(st.int64(3));
  q.storage_used = static_cast<uint64_t>(std::max<int64_t>(0, st.int64(4)));
  q.message_used = static_cast<uint64_t>(std::max<int64_t>(0, st.int64(5)));
  return q;
}

}  // namespace

bool quota_root_covers(std::string_view root, std::string_view mboxname) {
  return mboxname == root || (mboxname.size() > root.size() && mboxname.starts_with(root) &&
                              mboxname[root.size()] == '.');
}

QuotaDb::QuotaDb(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}
QuotaDb::~QuotaDb() = default;

Result<std::unique_ptr<QuotaDb>> QuotaDb::open(const std::string& path) {
  auto db = SqliteDb::open(path);
  if (!db.ok()) return db.status();
  Status s = (*db)->exec(kSchema);
  if (!s) return s;
  return std::unique_ptr<QuotaDb>(new QuotaDb(std::move(*db)));
}

Result<QuotaRoot> QuotaDb::get(std::string_view root) {
  auto st = db_->prepare(fmt::format("SELECT {} FROM quota WHERE root = ?", kColumns));
  if (!st.ok()) return st.status();
  st->bind(1, root);
  auto row = st->step();
  if (!row.ok()) return row.status();
  if (!*row) return Status(Code::kNotFound, fmt::format("no quota root {}", root));
  return read_root(*st);
}

Result<std::vector<QuotaRoot>> QuotaDb::list(std::string_view prefix) {
  auto st = db_->prepare(fmt::format("SELECT {} FROM quota ORDER BY root", kColumns));
  if (!st.ok()) return st.status();
  std::vector<QuotaRoot> out;
  while (true) {
    auto row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    QuotaRoot q = read_root(*st);
    if (q.root.starts_with(prefix)) out.push_back(std::move(q));
  }
}

Result<std::optional<QuotaRoot>> QuotaDb::find_root(std::string_view mboxname) {
  // Candidates are the name itself and each of its ancestors; the longest
  // existing one governs.
  std::string name(mboxname);
  while (!name.empty()) {
    auto q = get(name);
    if (q.ok()) return std::optional<QuotaRoot>(*q);
    if (q.status().code() != Code::kNotFound) return q.status();
    auto dot = name.rfind('.');
    if (dot == std::string::npos) break;
    name.resize(dot);
  }
  return std::optional<QuotaRoot>();
}

Result<QuotaRoot> QuotaDb::set_limits(std::string_view root, int64_t storage_limit_kib,
                                      int64_t message_limit, uint64_t modseq) {
  auto st = db_->prepare(
      "INSERT INTO quota(root, storage_limit, message_limit, modseq, storage_used, message_used) "
      "VALUES(?1, ?2, ?3, max(?4, 1), 0, 0) ON CONFLICT(root) DO UPDATE SET "
      "storage_limit = ?2, message_limit = ?3, "
      "modseq = CASE WHEN ?4 > 0 THEN ?4 ELSE modseq + 1 END");
  if (!st.ok()) return st.status();
  st->bind(1, root)
      .bind(2, storage_limit_kib < 0 ? int64_t{-1} : storage_limit_kib)
      .bind(3, message_limit < 0 ? int64_t{-1} : message_limit)
      .bind(4, static_cast<int64_t>(modseq));
  Status s = st->run();
  if (!s) return s;
  return get(root);
}

Status QuotaDb::remove(std::string_view root) {
  auto st = db_->prepare("DELETE FROM quota WHERE root = ?");
  if (!st.ok()) return st.status();
  st->bind(1, root);
  return st->run();
}

Status QuotaDb::check(std::string_view mboxname, uint64_t bytes, uint64_t messages) {
  auto q = find_root(mboxname);
  if (!q.ok()) return q.status();
  if (!q->has_value()) return Status::success();
  const QuotaRoot& r = **q;
  if (r.storage_limit_kib >= 0 &&
      r.storage_used + bytes > static_cast<uint64_t>(r.storage_limit_kib) * 1024)
    return Status(Code::kQuotaExceeded,
                  fmt::format("quota root {}: storage {} + {} bytes over {} KiB", r.root,
                              r.storage_used, bytes, r.storage_limit_kib));
  if (r.message_limit >= 0 && r.message_used + messages > static_cast<uint64_t>(r.message_limit))
    return Status(Code::kQuotaExceeded,
                  fmt::format("quota root {}: {} + {} messages over {}", r.root, r.message_used,
                              messages, r.message_limit));
  return Status::success();
}

Status QuotaDb::add_usage(std::string_view mboxname, int64_t bytes, int64_t messages) {
  if (bytes == 0 && messages == 0) return Status::success();
  auto q = find_root(mboxname);
  if (!q.ok()) return q.status();
  if (!q->has_value()) return Status::success();
  auto st = db_->prepare(
      "UPDATE quota SET storage_used = max(0, storage_used + ?2), "
      "message_used = max(0, message_used + ?3) WHERE root = ?1");
  if (!st.ok()) return st.status();
  st->bind(1, (*q)->root).bind(2, bytes).bind(3, messages);
  return st->run();
}

Status QuotaDb::set_usage(std::string_view root, uint64_t bytes, uint64_t messages) {
  auto st = db_->prepare("UPDATE quota SET storage_used = ?2, message_used = ?3 WHERE root = ?1");
  if (!st.ok()) return st.status();
  st->bind(1, root).bind(2, static_cast<int64_t>(bytes)).bind(3, static_cast<int64_t>(messages));
  return st->run();
}

}  // namespace replimail::store
