// sync_client's one-shot work (reference §5.2–§5.7): bring the replica's
// copy of users, mailboxes, subscriptions, seen state and quotas in line
// with this (master) instance. It always compares current state (GET, then
// APPLY of the differences), so running it again changes nothing and sends
// no message.
//
// Messages travel only when the replica lacks them: GUIDs are reserved
// first (APPLY RESERVE), only the MISSING ones are uploaded as file literals
// (APPLY MESSAGE, in batches of up to 1024 files or 64 MB), then APPLY
// MAILBOX carries the records with MODSEQ above the replica's HIGHESTMODSEQ.
// Both are read from one snapshot of the mailbox's index and streamed:
// memory does not grow with the mailbox (the GUID sets below are bounded
// and only spare repeated uploads). A CRC mismatch falls back to a full
// update (GET FULLMAILBOX and a record-by-record merge that renumbers split-brain UIDs on the
// master so that no message is lost).
//
// Every replication error is logged in one line naming the channel, user,
// mailbox and cause. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "dlist/parser.h"
#include "store/instance.h"
#include "store/staged_message.h"
#include "sync/connection.h"
#include "sync/guid_set.h"
#include "sync/types.h"
#include "synclog/line.h"

namespace replimail::sync {

// Receives the message files of GET FETCH replies (full update copyback)
// into staging files of the local instance; they are removed by clear().
class FetchSink : public dlist::FileSink {
 public:
  explicit FetchSink(store::Instance& instance) : inst_(instance) {}
  Status begin(const dlist::FileRef& ref) override;
  Status write(std::string_view bytes) override;
  Result<std::string> finish() override;
  void discard() override;
  void clear() { files_.clear(); }

 private:
  store::Instance& inst_;
  std::string guid_;
  std::unique_ptr<store::StagedMessage> msg_;
  std::vector<std::unique_ptr<store::StagedMessage>> files_;
};

struct ClientOptions {
  std::string channel;       // for logs ("" = default channel)
  std::string partition;     // -p: destination partition; "" = the master's
  bool no_copyback = false;  // -O: never run a full update
  // -L: local mailbox operations only (Cyrus 3.0+): APPLY LOCAL_MAILBOX,
  // LOCAL_RENAME and LOCAL_UNMAILBOX, which a Cyrus replica in a Murder
  // applies without telling its mupdate server.
  bool local_only = false;
  // The consistency verifier's repair (sync/verify.h): every update sends
  // the mailbox's whole RECORD list, even when the counters look equal, so
  // that a replica whose records went astray behind replication's back (a
  // flag changed there, raising its MODSEQ) takes the master's records
  // again. SINCE_* goes with every attempt, the retry too: a replica that
  // changed after it was looked at (a rolling client applied newer state)
  // refuses with IMAP_SYNC_CHANGED instead of being overwritten with an
  // older snapshot. Meant with no_copyback and a FORCE connection, so that
  // the master is never changed.
  bool push_all = false;
};

struct ClientStats {
  uint64_t messages_uploaded = 0;
  uint64_t bytes_uploaded = 0;
  uint64_t mailboxes_applied = 0;
  uint64_t full_updates = 0;
};

class SyncClient {
 public:
  // `fetched` must be the sink `conn` was opened with.
  SyncClient(store::Instance& instance, ReplicaConnection& conn, FetchSink& fetched,
             ClientOptions options);

  // -u: everything of one user (§5.2).
  Status sync_user(const std::string& userid);
  // -m: these mailboxes, as one batch (no remote deletes).
  Status sync_mailboxes(const std::vector<std::string>& names);
  // -f / rolling: the work of one sync log's lines (§1.9).
  Status sync_lines(const std::vector<synclog::Line>& lines);
  // Seen state and subscriptions of a user (META).
  Status sync_meta(const std::string& userid);

  const ClientStats& stats() const { return stats_; }

 private:
  // The APPLY verb for a mailbox operation: LOCAL_<op> with -L.
  std::string verb(const std::string& op) const {
    return opts_.local_only ? "LOCAL_" + op : op;
  }
  // The mailbox set sync: reserve, deletes, renames, updates. kAgain after
  // renames (the caller refetches the replica state and repeats).
  Status do_folders(const std::vector<store::MailboxEntry>& local,
                    const std::vector<MailboxState>& remote, bool delete_remote);
  Status reserve(const std::vector<MailboxState>& local,
                 const std::map<std::string, std::optional<MailboxState>>& remote);
  // A replica folder this master knows nothing of — no mailbox holds its
  // uniqueid here and no tombstone says it was deleted here — is one the
  // replica alone accepted: after a failover, a folder the old primary
  // created while it was the primary (replimail's; Cyrus leaves it on the
  // replica, logged, and the new primary never has it). It is created here,
  // empty, with the replica's uniqueid, UIDVALIDITY and ACL, under its name
  // or, if that is taken, "<name>-<8 hex of its uniqueid>"; the update that
  // follows finds the replica ahead and the full update copies every message
  // back (full_update.cc, keeping their UIDs), so both sides end equal.
  // Never with -O (no copyback), for intermediates, nor under deletedprefix.
  // True if a folder was created (the caller starts over).
  Result<bool> adopt_folder(const MailboxState& theirs);
  // After a user sync that adopted folders: their subscriptions and the
  // user's seen state on them, taken from the replica's `remote`.
  Status adopt_seen_and_subs(const std::string& userid, const UserState& remote);
  // §5.5: one mailbox, with the CRC retry and full-update ladder.
  Status update_mailbox(const store::MailboxEntry& entry,
                        const std::optional<MailboxState>& remote);
  // One attempt: kSyncChecksum / kSyncChanged / kAgain tell the caller to
  // escalate. `since`: send SINCE_* (first attempt).
  Status update_once(const store::MailboxEntry& entry, const std::optional<MailboxState>& remote,
                     bool since);
  // Uploads, a batch at a time, the messages of `mb`'s records above
  // `from` (modseq) and `from_uid` that the replica lacks (not reserved or
  // uploaded in this session), on `partition`; every reply read.
  Status upload_missing(store::Mailbox& mb, const std::string& partition, uint64_t from,
                        uint32_t from_uid);
  // Sends `files` as one APPLY MESSAGE, then reads the reply to the one
  // sent before it, if any (a failure there is returned; this one's reply
  // is still pending): the replica receives the tail of one batch while the
  // next is read, checked and sent. finish_uploads() reads the last reply.
  Status upload(std::vector<dlist::FileRef> files);
  // Reads the reply to the last APPLY MESSAGE sent, if not read yet; its
  // files count as uploaded once it is OK.
  Status finish_uploads();
  // §5.7, see sync/full_update.cc.
  Status full_update(const store::MailboxEntry& entry);
  Result<std::optional<MailboxState>> fetch_remote(const std::string& name);
  Status sync_quotas(const std::vector<QuotaItem>& local, const std::vector<QuotaItem>& remote);
  Status sync_quota_root(const std::string& root);
  // Makes the replica's server annotations (ANNOTATION "" log lines, as
  // Cyrus's sync_client does) equal ours: APPLY ANNOTATION for each one it
  // lacks or holds another value of, UNANNOTATION for each one we lack.
  Status sync_server_annotations();
  Status sync_seen_and_subs(const std::string& userid, const UserState& remote);
  // APPLY SEEN for each of `mine` (seen records of `userid`) that differs
  // from the replica's `theirs`.
  Status push_seen(const std::string& userid, const std::vector<SeenItem>& mine,
                   const std::vector<SeenItem>& theirs);
  // The seen state other users (an administrator, a shared reader) keep on
  // the mailboxes `local` of `owner`: in Cyrus it lives in each reader's
  // seen records, so it is compared reader by reader (GET META).
  Status sync_readers_seen(const std::string& owner, const std::vector<store::MailboxEntry>& local);
  Status sync_sub(const std::string& userid, const std::string& mboxname);
  // APPLY UNMAILBOX of a name this master deleted, only if the replica's
  // mailbox of that name is the one deleted (its uniqueid is a tombstone here).
  Status sync_unmailbox(const std::string& name);
  // True if `uniqueid` was a mailbox here and is now deleted (tombstone).
  bool deleted_here(const std::string& uniqueid);
  Status sync_unuser(const std::string& userid);
  // RESTART: the replica drops its staged files, so uploads start afresh.
  Status restart();
  // After a failed APPLY MESSAGE or APPLY MAILBOX: nothing is taken as
  // uploaded any more (the replica may have dropped what it had staged).
  // Returns `why`.
  Status forget_uploads(Status why);
  Result<UserState> get_user(const std::string& userid, bool meta_only);
  // Logs a replication error in one line (and returns it).
  void report(const std::string& user, const std::string& mailbox, const Status& s) const;
  Status fail(const std::string& user, const std::string& mailbox, Status s);

  store::Instance& inst_;
  ReplicaConnection& conn_;
  FetchSink& fetched_;
  ClientOptions opts_;
  ClientStats stats_;
  // GUIDs the replica holds staged after APPLY RESERVE (not MISSING).
  GuidSet reserved_;
  // GUIDs uploaded in this session (staged on the replica until RESTART).
  GuidSet uploaded_;
  // The files (NILs left out) of the APPLY MESSAGE sent whose reply is not
  // read yet (upload()).
  std::optional<std::vector<dlist::FileRef>> pending_upload_;
  // The message file being checked and sent (upload()).
  std::string upload_buf_;
  // Folders adopt_folder() created during the current sync_user: uniqueid
  // -> {the replica's name, the name here}.
  std::map<std::string, std::pair<std::string, std::string>> adopted_;
};

}  // namespace replimail::sync
