// mailboxes.db: the instance's mailbox list, in SQLite (WAL, synchronous=FULL)
// at `<configdirectory>/mailboxes.db`. Every mailbox by internal name with its
// uniqueid, type, partition, ACL, uidvalidity and modseqs; a deleted mailbox
// leaves a tombstone (type gains 'd', uniqueid kept) that is never dropped;
// the former names of every uniqueid are kept as history (for renames).
//
// It also keeps the replication channels' states (table `channels`): per
// channel of sync_log_channels whether its replica is being bootstrapped,
// rolls, or failed to bootstrap (issue 15; the part of FastMail's
// cyrus_firstsync.pl the seed wishes were "stored in the mailboxes.db of
// each machine"). That table belongs to this machine alone: it is never
// logged, sent by sync_client nor part of cyr_digest's output. A database
// from before it gains the table when opened.
//
// Thread-compatible; several processes may use the same file concurrently
// (writers are serialised by SQLite's write lock).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace replimail::store {

class SqliteDb;

struct MailboxEntry {
  std::string name;
  std::string uniqueid;
  // Cyrus MBOXTYPE letters: "e" plain email, then flags: 'd' deleted
  // (tombstone), 'i' intermediate.
  std::string mbtype = "e";
  std::string partition;
  std::string acl;
  uint32_t uidvalidity = 0;
  uint64_t createdmodseq = 0;
  uint64_t foldermodseq = 0;
  int64_t mtime = 0;

  bool is_tombstone() const { return mbtype.find('d') != std::string::npos; }
  bool is_intermediate() const { return mbtype.find('i') != std::string::npos; }
  // A real mailbox with storage: neither tombstone nor intermediate.
  bool is_real() const { return !is_tombstone() && !is_intermediate(); }
  bool operator==(const MailboxEntry&) const = default;
};

// A name a uniqueid used to have.
struct NameHistory {
  std::string name;
  int64_t mtime = 0;
  uint32_t uidvalidity = 0;
  uint64_t createdmodseq = 0;
  uint64_t foldermodseq = 0;
  std::string mbtype;
  std::string partition;
  bool operator==(const NameHistory&) const = default;
};

// Where a replication channel stands.
enum class ChannelPhase {
  kBootstrapping,  // its replica is being filled (sync_client -A) while the log accumulates
  kRolling,        // bootstrapped: the rolling client follows the log
  kFailed,         // the bootstrap failed for a reason that will not go away by itself
};

// "bootstrapping", "rolling", "failed"; and back (nullopt for another word).
std::string_view channel_phase_name(ChannelPhase p);
std::optional<ChannelPhase> channel_phase_from_name(std::string_view name);

struct ChannelState {
  std::string channel;  // "" is the default channel
  ChannelPhase phase = ChannelPhase::kBootstrapping;
  int64_t since = 0;   // unix ms: when it entered `phase`
  std::string reason;  // one line: why it failed, or why a bootstrap waits
  bool operator==(const ChannelState&) const = default;
};

class MailboxList {
 public:
  // Opens (creating if missing) the database at `path`.
  static Result<std::unique_ptr<MailboxList>> open(const std::string& path);
  ~MailboxList();

  // The entry for `name`, tombstones and intermediates included;
  // kMailboxNonexistent if there is none.
  Result<MailboxEntry> lookup(std::string_view name);
  // The current (non-tombstone if any) entry holding `uniqueid`.
  Result<MailboxEntry> lookup_uniqueid(std::string_view uniqueid);
  // Calls `fn` for every entry whose name starts with `prefix`, in name
  // order; stops early when `fn` returns false. `fn` may call lookup() but
  // not list() on the same MailboxList.
  Status list(std::string_view prefix, bool include_tombstones,
              const std::function<bool(const MailboxEntry&)>& fn);
  // Entries named `name` or below it (`name.*`), excluding tombstones.
  Result<std::vector<MailboxEntry>> list_tree(std::string_view name);
  // Every userid owning at least one real mailbox, sorted.
  Result<std::vector<std::string>> users();
  // Former names of `uniqueid`, oldest first (the current name excluded).
  Result<std::vector<NameHistory>> history(std::string_view uniqueid);

  // ---- Channel states (not mail data: never logged, never replicated) ----
  // `channels` is the complete set now logged (sync_log_channels). Each one
  // not recorded yet is recorded as bootstrapping (since `now_ms`) and
  // returned, in the order given; a recorded channel absent from the set
  // is forgotten, so that one coming back bootstraps again (its log missed
  // the changes made meanwhile). One transaction. Call it BEFORE anything
  // is logged to a new channel (store/channels.h).
  Result<std::vector<std::string>> note_new_channels(const std::vector<std::string>& channels,
                                                     int64_t now_ms);
  // The channel's state; nullopt if it is not recorded.
  Result<std::optional<ChannelState>> channel_state(std::string_view channel);
  // Every recorded channel, by name.
  Result<std::vector<ChannelState>> channel_states();
  // Records `phase` and `reason` (cut to one line of at most 300 bytes) for
  // `channel`; `since` becomes `now_ms` when the phase changes, and is kept
  // when only the reason does. A channel that is not recorded stays so
  // (only note_new_channels records one): a client still running for a
  // channel that was forgotten (removed, or sync_log turned off) must not
  // bring its record back, or the channel would not bootstrap when it is
  // logged to again.
  Status set_channel_state(std::string_view channel, ChannelPhase phase, std::string_view reason,
                           int64_t now_ms);

 private:
  // Writing is Instance's alone: every change of the mailbox list goes
  // through its mutation path, which writes the sync log.
  friend class Instance;

  // Writes `entry` (insert or replace by name). If the uniqueid was known
  // under another name, that name is appended to its history.
  Status put(const MailboxEntry& entry);
  // Writes several entries in one transaction.
  Status put_all(const std::vector<MailboxEntry>& entries);
  // Writes `entry` only if no real (non-tombstone, non-intermediate) entry
  // has its name, atomically; kMailboxExists otherwise.
  Status insert_new(const MailboxEntry& entry);
  // Instance-wide counters, each strictly increasing and durable.
  // A fresh modseq for folder-level changes.
  Result<uint64_t> next_modseq();
  // Raises the modseq counter to at least `modseq` (replica side).
  Status raise_modseq(uint64_t modseq);
  // max(now, last issued + 1, `floor` + 1): a UIDVALIDITY for a new mailbox.
  Result<uint32_t> next_uidvalidity(uint32_t floor);

  explicit MailboxList(std::unique_ptr<SqliteDb> db);
  Status put_locked(const MailboxEntry& entry);
  std::unique_ptr<SqliteDb> db_;
};

// A random lower-case UUID (version 4, 36 characters), as Cyrus 3.6 gives
// new mailboxes.
std::string make_uniqueid();

}  // namespace replimail::store
