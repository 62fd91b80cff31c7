// The append (delivery) batch API. A batch appends staged messages to one or
// more mailboxes: one transaction and one directory fsync per mailbox (group
// commit), then one sync-log write for the whole batch. Used for the
// single-message case too.
//
// Durability contract: when append() returns a result with an OK status for
// a request, the message file is linked in the mailbox directory, that
// directory is fsynced, the index row is committed (SQLite FULL sync), and
// MAILBOX + APPEND lines are in every channel's sync log. The caller may then
// acknowledge the delivery.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace replimail::store {

class StagedMessage;

struct AppendRequest {
  std::string mailbox;                     // internal name, e.g. "user.alice"
  const StagedMessage* message = nullptr;  // REQUIRES: finished()
  uint32_t system_flags = 0;               // SystemFlag bits (not kFlagExpunged)
  std::vector<std::string> user_flags{};   // keywords, e.g. "$Junk"
  int64_t internaldate = 0;                // Unix seconds; 0 means now
  bool check_quota = true;                 // false: deliver even over quota
};

// One per request, in request order.
struct AppendResult {
  Status status;  // kMailboxNonexistent, kQuotaExceeded, kIoError, ...
  uint32_t uid = 0;
  uint32_t uidvalidity = 0;
};

}  // namespace replimail::store
