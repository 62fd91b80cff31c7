// An instance (a "slot"): its configdirectory and partitions, the mailbox
// list, per-user data, quota, annotations and the sync log. One Instance per
// process. Every mutation goes through Instance or a MailboxTxn it hands out,
// and every mutation writes its sync-log lines after the change is committed
// and before the call returns — so no protocol can forget to log.
//
// Thread-compatible: use one Instance from one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/status.h"
#include "common/workers.h"
#include "store/annotations.h"
#include "store/append.h"
#include "store/index_pool.h"
#include "store/mailbox.h"
#include "store/mboxlist.h"
#include "store/mboxname.h"
#include "store/quota.h"
#include "store/staged_message.h"
#include "store/userdata.h"

namespace replimail::synclog {
class SyncLog;
}

namespace replimail::store {

struct CreateOptions {
  std::string partition{};   // "" = defaultpartition
  std::string acl{};         // "" = default_acl(name)
  std::string uniqueid{};    // "" = a fresh UUID (the replica passes its master's)
  uint32_t uidvalidity = 0;  // 0 = next_uidvalidity (above any tombstone's)
  std::string mbtype = "e";
  uint64_t createdmodseq = 0;  // 0 = a fresh modseq
  // A quota root created at the new mailbox with this STORAGE limit (KiB),
  // if >= 0 (autocreate_quota).
  int64_t quota_storage_kib = -1;
  int64_t quota_messages = -1;
};

// The file in configdirectory whose presence puts the instance in
// read-only mode (Instance::read_only).
inline constexpr std::string_view kReadOnlyFile = "readonly";

// The directory in configdirectory holding the per-user fences
// (Instance::user_fenced): one empty file per fenced userid.
inline constexpr std::string_view kFenceDir = "fence";
// The directory in configdirectory holding one file per user moved away
// from this instance, dated when its fence was lifted (Instance::user_moved_at).
inline constexpr std::string_view kMovedDir = "moved";

// True if `cfg` keeps the files of expunged messages until cyr_expire -X
// (expunge_mode: delayed; store/mailbox.h).
bool keeps_expunged_files(const Config& cfg);

class Instance {
 public:
  // Opens the instance described by `cfg`: creates configdirectory and the
  // databases if missing and checks that defaultpartition is configured.
  static Result<std::unique_ptr<Instance>> open(const Config& cfg);
  ~Instance();

  const Config& config() const { return cfg_; }

  // Read-only mode (replimail's; docs/OPERATIONS.md): while the file
  // <configdirectory>/readonly exists, every mutation below (and
  // stage_message) fails with kReadOnly before it changes anything; reads
  // go on. Looked at on each call, so an operator (or a fencing command)
  // turns it on and off at run time in every process of the instance.
  bool read_only() const;
  // OK, or kReadOnly while the instance is in read-only mode.
  Status check_writable() const;

  // Per-user fence (a user being moved to another slot: cyr_cluster move,
  // cluster/move.h). While <configdirectory>/fence/<userid> exists, every
  // mutation of the user's mailboxes, seen state and subscriptions fails
  // with kMailboxMoved (a temporary error: LMTP 451 4.2.1, IMAP NO
  // [UNAVAILABLE]) before it changes anything, whoever makes it (imapd,
  // pop3d, lmtpd, admin tools; not sync_server: set_replication_writer); other users go on. Looked
  // at on each call, as read-only mode is, so every process of the instance sees a fence at once
  // (Cyrus's XFER marks each mailbox MBTYPE_MOVING in mailboxes.db instead; one file per user needs
  // one atomic create, is never replicated, and lets imapd check an open session's user per
  // command).
  bool user_fenced(std::string_view userid) const;
  // sync_server's instance: replication applies what the user's primary
  // decided, so a user's fence (which keeps the user's own clients and MTAs
  // off a copy being moved or moved away) does not hold it back: the old
  // copy left by a move is a replica. Read-only mode still does.
  void set_replication_writer(bool on) { replication_writer_ = on; }
  // Sets (durably: the file and its directory fsynced) or lifts the fence.
  // Setting it returns once every commit of the user's mailboxes that began
  // before it has finished (each mailbox's write lock taken once), so a
  // reader after it sees everything the user will have here.
  // kInvalidArgument for a userid validate_userid refuses. `moved_away`
  // with a lift: the user now lives on another slot, so
  // <configdirectory>/moved/<userid> is (re)written, dated now, and the
  // fence STAYS: a change reaching this old copy through a stale route is
  // deferred (and retried at the new primary) instead of accepted here and
  // lost. Moving the user back here needs the fence file removed first.
  Status set_user_fence(std::string_view userid, bool fenced, bool moved_away = false);
  // When the user was last moved away from this instance (its moved file's
  // modification time), if ever. A session logged in before that time is
  // on an old copy: imapd ends it (a session that sent nothing during the
  // fence would otherwise go on there); logins after it (the user moved
  // back) are not affected. Itself not a write fence (the fence that
  // stays after the move is).
  std::optional<std::chrono::system_clock::time_point> user_moved_at(std::string_view userid) const;
  // check_writable, then the fence of the mailbox's owner (none for a
  // shared mailbox).
  Status check_writable(std::string_view mboxname) const;
  // check_writable, then the user's fence.
  Status check_user_writable(std::string_view userid) const;
  synclog::SyncLog& synclog() { return *synclog_; }
  // The databases, for reading: their writing methods are private to
  // Instance, so every mutation goes through the methods below, which log.
  MailboxList& mailboxes() { return *mboxlist_; }
  UserData& userdata() { return *userdata_; }
  QuotaDb& quota() { return *quota_; }
  AnnotationDb& annotations() { return *annotations_; }

  // ---- Mailbox list ----
  // The real mailbox called `name`; kMailboxNonexistent if none (tombstones
  // and intermediates do not count).
  Result<MailboxEntry> lookup(std::string_view name);
  // Creates a mailbox (its directory, index and mailboxes.db entry); over a
  // tombstone the UIDVALIDITY is raised above the tombstone's, over an
  // intermediate its uniqueid is reused. Logs MAILBOX (and QUOTA).
  Result<MailboxEntry> create_mailbox(std::string_view name, const CreateOptions& opts = {});
  // Deletes a mailbox: its entry becomes a tombstone (or an intermediate if
  // it has children), its files and index are removed, quota usage released,
  // mailbox annotations dropped. Logs UNMAILBOX.
  Status delete_mailbox(std::string_view name);
  // Renames a mailbox and everything below it (same uniqueids; the old names
  // become tombstones; annotations and quota usage follow). Logs RENAME +
  // MAILBOX old + MAILBOX new for each.
  Status rename_mailbox(std::string_view oldname, std::string_view newname);
  // Replaces the ACL (bumps FOLDERMODSEQ). Logs MAILBOX.
  Status set_acl(std::string_view name, std::string_view acl);
  // Opens a real mailbox for reading and writing.
  Result<std::unique_ptr<Mailbox>> open_mailbox(std::string_view name);
  // The filesystem path of a configured partition; kConfigError if unknown.
  Result<std::string> partition_path(std::string_view partition) const;

  // ---- Delivery ----
  // A new staging file on `partition` ("" = defaultpartition).
  Result<std::unique_ptr<StagedMessage>> stage_message(std::string_view partition = "");
  // Appends a batch (see append.h): one transaction per mailbox, quota
  // checked per request, each finished by commit() (logged first, so a
  // mailbox whose lines cannot be logged gets none of its messages and
  // their requests the error).
  std::vector<AppendResult> append(const std::vector<AppendRequest>& requests);
  // OK if `bytes` in `messages` messages fit the quota of `mboxname`;
  // kQuotaExceeded otherwise.
  Status check_quota(std::string_view mboxname, uint64_t bytes, uint64_t messages = 1);

  // ---- Flags and expunge (one transaction each) ----
  // Logs MAILBOX; quota usage follows expunges.
  Status store_flags(std::string_view name, const std::vector<uint32_t>& uids,
                     uint32_t system_flags, const std::vector<std::string>& user_flags, bool add);
  Status expunge(std::string_view name, const std::vector<uint32_t>& uids);
  // cyr_expire -X: removes from `name`'s index the expunged records whose
  // expunge (LAST_UPDATED) is before `before` (Unix seconds), and their
  // files. Returns how many went; logs MAILBOX if any did.
  Result<uint64_t> purge_expunged(std::string_view name, int64_t before);
  // Writes `txn`'s sync-log lines to every channel while the directory of
  // the files it linked is flushed, then commits it (of mailbox `mbox`)
  // and applies its quota usage change. If the lines cannot be logged or
  // the flush fails, `txn` is rolled back and the error returned: nothing
  // is acknowledged that no replica would hear of. The one way callers
  // holding a MailboxTxn (sync_server, imapd, pop3d) finish it.
  Status commit(Mailbox& mbox, MailboxTxn& txn);
  // The instance's kept threads, for a MailboxTxn's deferred links.
  Workers& workers() { return workers_; }
  // Before a protocol acknowledges changes made through this instance:
  // waits for sync_wait_replicas replicas to have applied them
  // (synclog::SyncLog::wait_for_replicas). OK at once when the option is
  // off or nothing changed; kNotReplicated on timeout under
  // sync_wait_on_timeout: refuse (the changes are made here).
  Status wait_replicated();

  // ---- User data (each logs its line) ----
  Status set_seen(std::string_view userid, const SeenRecord& rec);  // SEEN userid uniqueid
  Status set_subscribed(std::string_view userid, std::string_view mboxname,
                        bool subscribed);  // SUB userid name
  // Sets quota limits on `root` (creating it, computing its usage from the
  // mailboxes under it). Logs QUOTA root.
  Status set_quota(std::string_view root, int64_t storage_kib, int64_t messages,
                   uint64_t modseq = 0);
  Status remove_quota(std::string_view root);  // QUOTA root
  // Recomputes the usage of quota root `root` from its mailboxes' counters
  // (reconstruct; no sync-log line: usage is not replicated).
  Status recompute_quota_usage(std::string_view root);
  // Mailbox annotation (MAILBOX name) or server annotation when `mboxname`
  // is "" (ANNOTATION ""). An empty value deletes.
  Status set_annotation(std::string_view mboxname, std::string_view entry, std::string_view userid,
                        std::string_view value);
  // Removes every seen record and subscription of `userid` (its mailboxes
  // and quota roots are deleted by the caller first). Logs UNUSER.
  Status delete_user_data(std::string_view userid);

  // ---- Replica (sync_server): the master's state taken as it is ----
  // Writes the mailboxes.db entry `entry` as the master describes it (a
  // placeholder such as an intermediate, or a real mailbox's ACL,
  // UIDVALIDITY and modseqs) and raises the modseq counter to `modseq`.
  // Logs MAILBOX, so a chained replica hears of it.
  Status put_replicated_entry(const MailboxEntry& entry, uint64_t modseq);
  // Makes the annotations of mailbox `mboxname` exactly `annots` (each
  // with the master's MODSEQ): the others are deleted. Logs MAILBOX if
  // anything changed.
  Status put_replicated_annotations(std::string_view mboxname,
                                    const std::vector<Annotation>& annots);

 private:
  Instance(Config cfg);
  Result<MailboxEntry> real_entry(std::string_view name);
  // OK if `mbox`'s name still holds its uniqueid as a real mailbox.
  Status still_live(const Mailbox& mbox);
  // A delivery's log lines and staged-file flushes, started before the
  // mailbox is locked (instance.cc).
  struct EarlyLog;
  // commit(), taking what `early` (if not null) already started.
  Status commit(Mailbox& mbox, MailboxTxn& txn, EarlyLog* early);

  Config cfg_;
  bool replication_writer_ = false;  // set_replication_writer
  std::unique_ptr<synclog::SyncLog> synclog_;
  std::unique_ptr<MailboxList> mboxlist_;
  // Idle mailbox index connections reused by open_mailbox().
  std::shared_ptr<IndexPool> index_pool_;
  std::unique_ptr<UserData> userdata_;
  std::unique_ptr<QuotaDb> quota_;
  std::unique_ptr<AnnotationDb> annotations_;
  // The threads of a change's parallel flushes and early announce (two
  // jobs at most at once) and of a replica's deferred links; last, so
  // they stop before what their jobs use.
  Workers workers_{2};
};

}  // namespace replimail::store
