// The duplicate delivery database (Cyrus's deliver.db): one row per
// (message-id, mailbox) that lmtpd delivered, with the time it was marked.
// With `duplicatesuppression` on (Cyrus's default), lmtpd drops a message
// whose message-id was already delivered to the same mailbox and answers
// 250, so that an MTA's retry after a lost reply does not deliver twice.
// cyr_expire -E removes rows older than its duration.
//
// Order and durability (the caller's contract, lmtp/store_backend):
//   1. check(): a row for (id, mailbox) means "already delivered": skip.
//   2. deliver the message (durable and logged: store::Instance::append).
//   3. mark() the delivered (id, mailbox) pairs: one SQLite transaction in
//      WAL mode with synchronous=NORMAL: the rows are in the WAL (so they
//      survive any process crash) but not fsynced; a later commit or the
//      checkpoint makes them durable.
//   4. only then answer 250.
// Why not fsync the rows too: a row matters only when the same message-id
// comes again. An MTA retries only a message it got no 250 for, and a row
// is written only just before that 250; a row lost with the page cache
// (power loss in the moment after the 250) could at worst let a later,
// separate copy of the same message through, never lose one. The message
// itself is durable and logged before step 3 (store::Instance::append), so
// an acknowledged message keeps its full durability: only the fsync that
// bought nothing is saved (one per delivery, issue 15).
// A crash between 2 and 3 leaves a delivered message without its row: the
// MTA's retry delivers a second copy. The reverse order could lose mail (a
// row for a message that never committed makes the retry drop it), so a
// row is never written before the delivery it records has committed.
// A failed mark() is reported to the caller; the delivery stands.
//
// The file is `duplicate_db_path`, else <configdirectory>/deliver.db (an
// SQLite database, not Cyrus's twoskip file). Not replicated, as in Cyrus:
// a promoted replica has no rows for what the old primary delivered.
//
// Thread-compatible: one DuplicateDb per process (lmtpd workers serve one
// connection at a time); any number of processes share the file.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/status.h"

namespace replimail::store {

class SqliteDb;

struct DuplicateKey {
  std::string id;       // the message-id, as in the header ("<a@b>")
  std::string mailbox;  // internal name the message went to ("user.alice")
};

class DuplicateDb {
 public:
  // The database's path for `cfg` (see above).
  static std::string path_for(const Config& cfg);
  // Opens (creating if missing) the database at `path`.
  static Result<std::unique_ptr<DuplicateDb>> open(const std::string& path);
  ~DuplicateDb();
  DuplicateDb(const DuplicateDb&) = delete;
  DuplicateDb& operator=(const DuplicateDb&) = delete;

  // When `key` was marked (Unix seconds), or nullopt if it never was (or
  // its row has expired).
  Result<std::optional<int64_t>> check(const DuplicateKey& key);
  // Records every key as delivered at `now`, in one durable transaction (a
  // key marked before gets the new time).
  Status mark(const std::vector<DuplicateKey>& keys, int64_t now);
  // Removes the rows marked before `before`; returns how many went.
  Result<int64_t> expire(int64_t before);
  // The number of rows (cyr_expire -v).
  Result<int64_t> count();

 private:
  explicit DuplicateDb(std::unique_ptr<SqliteDb> db);
  std::unique_ptr<SqliteDb> db_;
};

// The id duplicate suppression keys a message on, from its header block
// (the bytes up to the blank line; more is ignored): the first
// Resent-Message-ID field if there is one, else the first Message-ID, with
// folds removed and blanks trimmed. nullopt if neither is present or the
// value is empty: such a message is never suppressed.
std::optional<std::string> delivery_message_id(std::string_view header);
// The same, read from the message file at `path` (at most the first
// kMaxHeaderScan bytes are read).
Result<std::optional<std::string>> delivery_message_id_of_file(const std::string& path);
inline constexpr size_t kMaxHeaderScan = 256 * 1024;

}  // namespace replimail::store
