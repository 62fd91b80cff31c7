#include "store/userdata.h"

#include <fmt/format.h>

#include "store/sqlite_db.h"

namespace replimail::store {
namespace {

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS seen(
  userid TEXT NOT NULL, uniqueid TEXT NOT NULL, lastread INTEGER NOT NULL,
  lastuid INTEGER NOT NULL, lastchange INTEGER NOT NULL, seenuids TEXT NOT NULL,
  PRIMARY KEY (userid, uniqueid));
CREATE TABLE IF NOT EXISTS subs(userid TEXT NOT NULL, mboxname TEXT NOT NULL,
  PRIMARY KEY (userid, mboxname));
)";

SeenRecord read_seen(const SqliteStmt& st) {
  SeenRecord r;
  r.uniqueid = st.text(0);
  r.lastread = st.int64(1);
  r.lastuid = static_cast<uint32_t>(st.int64(2));
  r.lastchange = st.int64(3);
  r.seenuids = st.text(4);
  return r;
}

}  // namespace

UserData::UserData(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}
UserData::~UserData() = default;

Result<std::unique_ptr<UserData>> UserData::open(const std::string& path) {
  auto db = SqliteDb::open(path);
  if (!db.ok()) return db.status();
  Status s = (*db)->exec(kSchema);
  if (!s) return s;
  return std::unique_ptr<UserData>(new UserData(std::move(*db)));
}

Result<SeenRecord> UserData::seen(std::string_view userid, std::string_view uniqueid) {
  auto st = db_->prepare(
      "SELECT uniqueid, lastread, lastuid, lastchange, seenuids FROM seen "
      "WHERE userid = ? AND uniqueid = ?");
  if (!st.ok()) return st.status();
  st->bind(1, userid).bind(2, uniqueid);
  auto row = st->step();
  if (!row.ok()) return row.status();
  if (!*row) return Status(Code::kNotFound, fmt::format("no seen state {} {}", userid, uniqueid));
  return read_seen(*st);
}

Result<std::vector<SeenRecord>> UserData::all_seen(std::string_view userid) {
  auto st = db_->prepare(
      "SELECT uniqueid, lastread, lastuid, lastchange, seenuids FROM seen WHERE userid = ? "
      "ORDER BY uniqueid");
  if (!st.ok()) return st.status();
  st->bind(1, userid);
  std::vector<SeenRecord> out;
  while (true) {
    auto row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.push_back(read_seen(*st));
  }
}

Result<std::vector<std::pair<std::string, SeenRecord>>> UserData::seen_by_all(
    std::string_view uniqueid) {
  auto st = db_->prepare(
      "SELECT uniqueid, lastread, lastuid, lastchange, seenuids, userid FROM seen "
      "WHERE uniqueid = ? ORDER BY userid");
  if (!st.ok()) return st.status();
  st->bind(1, uniqueid);
  std::vector<std::pair<std::string, SeenRecord>> out;
  while (true) {
    auto row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.emplace_back(st->text(5), read_seen(*st));
  }
}

Result<std::vector<std::string>> UserData::users() {
  auto st = db_->prepare("SELECT userid FROM seen UNION SELECT userid FROM subs ORDER BY 1");
  if (!st.ok()) return st.status();
  return st->texts();
}

Status UserData::set_seen(std::string_view userid, const SeenRecord& rec) {
  auto st = db_->prepare(
      "INSERT OR REPLACE INTO seen(userid, uniqueid, lastread, lastuid, lastchange, seenuids) "
      "VALUES(?,?,?,?,?,?)");
  if (!st.ok()) return st.status();
  st->bind(1, userid)
      .bind(2, rec.uniqueid)
      .bind(3, rec.lastread)
      .bind(4, int64_t{rec.lastuid})
      .bind(5, rec.lastchange)
      .bind(6, rec.seenuids);
  return st->run();
}

Result<std::vector<std::string>> UserData::subscriptions(std::string_view userid) {
  auto st = db_->prepare("SELECT mboxname FROM subs WHERE userid = ? ORDER BY mboxname");
  if (!st.ok()) return st.status();
  st->bind(1, userid);
  return st->texts();
}

Status UserData::set_subscribed(std::string_view userid, std::string_view mboxname,
                                bool subscribed) {
  auto st = db_->prepare(subscribed ? "INSERT OR IGNORE INTO subs(userid, mboxname) VALUES(?,?)"
                                    : "DELETE FROM subs WHERE userid = ? AND mboxname = ?");
  if (!st.ok()) return st.status();
  st->bind(1, userid).bind(2, mboxname);
  return st->run();
}

Status UserData::delete_user(std::string_view userid) {
  Status s = db_->begin_immediate();
  if (!s) return s;
  for (const char* sql :
       {"DELETE FROM seen WHERE userid = ?", "DELETE FROM subs WHERE userid = ?"}) {
    auto st = db_->prepare(sql);
    if (!st.ok()) {
      db_->rollback();
      return st.status();
    }
    st->bind(1, userid);
    s = st->run();
    if (!s) {
      db_->rollback();
      return s;
    }
  }
  return db_->commit();
}

}  // namespace replimail::store
