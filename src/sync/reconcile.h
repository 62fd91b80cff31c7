// The client's comparison of master and replica state (reference §5.3–§5.4,
// §5.7): which folders to rename, delete and update, whether a mailbox is
// already in sync, and how to merge two diverged record lists. Pure
// functions over the protocol types; sync/client.h executes the plans.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "sync/types.h"

namespace replimail::sync {

struct FolderPlan {
  // Renames in an order where no rename's target is still the source of a
  // pending one.
  std::vector<RenameRequest> renames;
  // Replica folders to delete (APPLY UNMAILBOX): no master folder holds
  // their uniqueid and the master has a tombstone for the name.
  std::vector<std::string> unmailbox;
  // Replica folders the master knows nothing about (left alone, logged).
  std::vector<std::string> orphans;
  // Master folder name → the replica's state of the same uniqueid, if any.
  std::map<std::string, std::optional<MailboxState>> updates;
};

// Matches `master` folders to `replica` folders by uniqueid. A replica folder
// with another name (or partition) gets a rename. With `delete_remote` (full
// user sync), replica folders without a master match are deleted when
// `deleted_here(replica_folder)` holds — the master deleted that very
// mailbox, i.e. holds a tombstone for its uniqueid, so a folder that merely
// reuses a deleted name is never removed — else reported as orphans.
// kAgain when renames cannot be ordered (a cycle).
Result<FolderPlan> plan_folders(const std::vector<MailboxState>& master,
                                const std::vector<MailboxState>& replica, bool delete_remote,
                                const std::function<bool(const MailboxState&)>& deleted_here);

// Orders renames so that no target is still a pending source; kAgain if
// impossible.
Result<std::vector<RenameRequest>> order_renames(std::vector<RenameRequest> renames);

// §5.4 step 7: true if nothing needs to be sent for a mailbox whose master
// state is `master` (without records) and replica state `replica`.
bool mailbox_unchanged(const MailboxState& master, const MailboxState& replica);

// One step of a full update (§5.7), to be done on the master.
struct MergeAction {
  enum class Kind {
    kRenumber,       // master record `uid`: copy to a new UID, expunge the old one
    kCopyback,       // replica record `uid`: fetch it and append it on the master
    kRewrite,        // master record `uid`: rewrite with `record` (a fresh MODSEQ)
    kExpungeRemote,  // replica record `uid`: stale, expunge it on the replica
  };
  Kind kind;
  uint32_t uid = 0;
  store::IndexRecord record;  // kRewrite: the agreed state; kCopyback: the replica's record
  bool operator==(const MergeAction&) const = default;
};

// Merges the master's and the replica's full record lists (both ascending
// UID; the replica's from GET FULLMAILBOX). `replica_hms` and
// `replica_last_uid` are the replica's counters. A kCopyback record above the
// master's LAST_UID keeps its UID; one below it gets a new UID on the master
// and its old UID is expunged on the replica (the executor's choice).
std::vector<MergeAction> plan_full_update(const std::vector<store::IndexRecord>& master,
                                          const std::vector<store::IndexRecord>& replica,
                                          uint64_t replica_hms, uint32_t replica_last_uid);

}  // namespace replimail::sync
