// A canonical text dump of the replicated state of an instance: the oracle
// that says whether a replica equals its primary. One item per line, lines
// sorted, fields separated by single spaces with every byte outside
// printable ASCII (and space and backslash) written as \xHH, so two
// instances hold the same replicated state exactly when their lines are
// equal. Covered: real mailboxes (uniqueid, type, partition, uidvalidity,
// modseqs), their ACL entries, index counters, every record (expunged ones
// too: flags sorted by name, GUID, modseq, dates, size), per-message and
// mailbox annotations, every user's seen state on them, subscriptions and
// quota roots (limits, modseq, usage).
//
// Left out because it legitimately differs between a primary and its
// replica: mtimes of mailboxes.db entries, name history, tombstones and
// intermediates (the replica only learns of what was replicated), mailboxes
// under deletedprefix (a replica with delete_mode: delayed keeps its own
// copies of what the master deleted outright), the order
// of user-flag slots (records carry flag names), file paths, and seen state
// for mailboxes that no longer exist.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace replimail::store {

class Instance;

struct DigestScope {
  // Only mailboxes of this user ("user.<u>" and below), the user's seen
  // records and subscriptions, and quota roots at or below "user.<u>".
  std::string user;
  // Only this mailbox (with every user's seen state on it).
  std::string mailbox;
};

// The digest's lines, sorted, without the hash line.
Result<std::vector<std::string>> digest_lines(Instance& inst, const DigestScope& scope = {});
// The final line: "hash <SHA-1 of every line above, each ending in \n>".
std::string digest_hash_line(const std::vector<std::string>& lines);

}  // namespace replimail::store
