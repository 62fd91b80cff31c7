#include "store/annotations.h"

#include <fmt/format.h>

#include "store/sqlite_db.h"

namespace replimail::store {
namespace {

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS annotations(
  mboxname TEXT NOT NULL, entry TEXT NOT NULL, userid TEXT NOT NULL, value TEXT NOT NULL,
  modseq INTEGER NOT NULL, PRIMARY KEY (mboxname, entry, userid));
CREATE TABLE IF NOT EXISTS counters(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
)";

}  // namespace

AnnotationDb::AnnotationDb(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}
AnnotationDb::~AnnotationDb() = default;

Result<std::unique_ptr<AnnotationDb>> AnnotationDb::open(const std::string& path) {
  auto db = SqliteDb::open(path);
  if (!db.ok()) return db.status();
  Status s = (*db)->exec(kSchema);
  if (!s) return s;
  return std::unique_ptr<AnnotationDb>(new AnnotationDb(std::move(*db)));
}

Result<std::vector<Annotation>> AnnotationDb::list(std::string_view mboxname) {
  auto st = db_->prepare(
      "SELECT mboxname, entry, userid, value, modseq FROM annotations WHERE mboxname = ? "
      "ORDER BY entry, userid");
  if (!st.ok()) return st.status();
  st->bind(1, mboxname);
  std::vector<Annotation> out;
  while (true) {
    auto row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.push_back(
        {st->text(0), st->text(1), st->text(2), st->text(3), static_cast<uint64_t>(st->int64(4))});
  }
}

Result<Annotation> AnnotationDb::get(std::string_view mboxname, std::string_view entry,
                                     std::string_view userid) {
  auto st = db_->prepare(
      "SELECT mboxname, entry, userid, value, modseq FROM annotations "
      "WHERE mboxname = ? AND entry = ? AND userid = ?");
  if (!st.ok()) return st.status();
  st->bind(1, mboxname).bind(2, entry).bind(3, userid);
  auto row = st->step();
  if (!row.ok()) return row.status();
  if (!*row)
    return Status(Code::kNotFound, fmt::format("no annotation {} {} {}", mboxname, entry, userid));
  return Annotation{st->text(0), st->text(1), st->text(2), st->text(3),
                    static_cast<uint64_t>(st->int64(4))};
}

Status AnnotationDb::set(const Annotation& a) {
  if (a.entry.empty() || a.entry[0] != '/')
    return Status(Code::kInvalidArgument, fmt::format("invalid annotation entry \"{}\"", a.entry));
  Status s = db_->begin_immediate();
  if (!s) return s;
  uint64_t modseq = a.modseq;
  if (modseq == 0) {
    // Each change gets a fresh modseq from this database's own counter.
    auto st = db_->prepare(
        "INSERT INTO counters(key, value) VALUES('modseq', 1) "
        "ON CONFLICT(key) DO UPDATE SET value = value + 1 RETURNING value");
    if (!st.ok()) {
      db_->rollback();
      return st.status();
    }
    auto row = st->step();
    if (!row.ok() || !*row) {
      db_->rollback();
      return row.ok() ? Status(Code::kInternal, "annotation modseq: no row") : row.status();
    }
    modseq = static_cast<uint64_t>(st->int64(0));
    s = st->run();
  }
  if (s) {
    auto st = db_->prepare(
        a.value.empty()
            ? "DELETE FROM annotations WHERE mboxname = ?1 AND entry = ?2 AND userid = ?3"
            : "INSERT OR REPLACE INTO annotations(mboxname, entry, userid, value, modseq) "
              "VALUES(?1,?2,?3,?4,?5)");
    if (!st.ok()) {
      db_->rollback();
      return st.status();
    }
    st->bind(1, a.mboxname).bind(2, a.entry).bind(3, a.userid);
    if (!a.value.empty()) st->bind(4, a.value).bind(5, static_cast<int64_t>(modseq));
    s = st->run();
  }
  if (!s) {
    db_->rollback();
    return s;
  }
  return db_->commit();
}

Status AnnotationDb::rename(std::string_view oldname, std::string_view newname) {
  auto st = db_->prepare("UPDATE OR REPLACE annotations SET mboxname = ? WHERE mboxname = ?");
  if (!st.ok()) return st.status();
  st->bind(1, newname).bind(2, oldname);
  return st->run();
}

Status AnnotationDb::remove_mailbox(std::string_view mboxname) {
  auto st = db_->prepare("DELETE FROM annotations WHERE mboxname = ?");
  if (!st.ok()) return st.status();
  st->bind(1, mboxname);
  return st->run();
}

}  // namespace replimail::store
