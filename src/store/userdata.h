// Per-user data in `<configdirectory>/user.db` (SQLite, WAL): seen state per
// (userid, mailbox uniqueid) and subscriptions per userid. Pure storage: the
// sync-log lines for these changes are written by Instance.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace replimail::store {

class SqliteDb;

struct SeenRecord {
  std::string uniqueid;
  int64_t lastread = 0;
  uint32_t lastuid = 0;
  int64_t lastchange = 0;
  std::string seenuids;  // IMAP sequence set, e.g. "1:40,42"
  bool operator==(const SeenRecord&) const = default;
};

class UserData {
 public:
  static Result<std::unique_ptr<UserData>> open(const std::string& path);
  ~UserData();

  Result<SeenRecord> seen(std::string_view userid, std::string_view uniqueid);  // kNotFound
  Result<std::vector<SeenRecord>> all_seen(std::string_view userid);
  // Every user's seen record on mailbox `uniqueid`, sorted by userid: owners
  // and others alike (an administrator's \Seen on another user's mailbox).
  Result<std::vector<std::pair<std::string, SeenRecord>>> seen_by_all(std::string_view uniqueid);
  // Every userid with a seen record or a subscription, sorted.
  Result<std::vector<std::string>> users();

  Result<std::vector<std::string>> subscriptions(std::string_view userid);

 private:
  // Writing is Instance's alone: every change goes through its mutation
  // path, which writes the sync log.
  friend class Instance;

  Status set_seen(std::string_view userid, const SeenRecord& rec);
  // Adds or removes a subscription; OK if it was already so.
  Status set_subscribed(std::string_view userid, std::string_view mboxname, bool subscribed);
  // Removes all seen records and subscriptions of `userid`.
  Status delete_user(std::string_view userid);

  explicit UserData(std::unique_ptr<SqliteDb> db);
  std::unique_ptr<SqliteDb> db_;
};

}  // namespace replimail::store
