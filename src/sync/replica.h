// The replica side of replication: what sync_server does for each GET and
// APPLY once it has been parsed (reference §4.4, §4.5, §5.6). Every change
// goes through the store, so the replica's own sync log sees it.
//
// Each APPLY is atomic on the replica: APPLY MAILBOX checks and writes all
// records in one mailbox transaction, which is rolled back on any error.
// A replica never assigns UIDs or MODSEQs of its own to replicated records.
//
// Not thread-safe; one per connection.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/instance.h"
#include "sync/reserve.h"
#include "sync/sieve.h"
#include "sync/types.h"

namespace replimail::sync {

class Replica;

// One APPLY MAILBOX applied record by record, so that sync_server never
// holds the whole RECORD list (Replica::begin_mailbox). Everything goes in
// one mailbox transaction, rolled back unless finish() commits it.
class MailboxApply {
 public:
  ~MailboxApply();
  MailboxApply(const MailboxApply&) = delete;
  MailboxApply& operator=(const MailboxApply&) = delete;

  // The next RECORD member (UIDs must ascend).
  Status add(const RecordItem& item);
  // Commits with the counters of `m` (the request's mailbox fields; its
  // records are not looked at), then writes the mailboxes.db entry and the
  // mailbox annotations and checks the CRCs.
  Status finish(const MailboxState& m);

 private:
  friend class Replica;
  MailboxApply(Replica& replica, std::string name, bool created);

  Replica& replica_;
  std::string name_;
  bool created_;
  std::unique_ptr<store::Mailbox> mbox_;
  std::unique_ptr<store::MailboxTxn> txn_;
  uint32_t local_last_uid_ = 0;
  uint32_t prev_uid_ = 0;
};

class Replica {
 public:
  Replica(store::Instance& instance, ReserveList& reserve);

  // APPLY FORCE: overwrite rather than refuse a replica that is ahead.
  void set_force(bool force) { force_ = force; }

  // GET USER / GET META, with the legacy sieve scripts (sync/sieve.h).
  Result<UserState> get_user(std::string_view userid, bool with_mailboxes);
  // GET MAILBOXES: the existing, non-tombstone ones among `names`.
  Result<std::vector<MailboxState>> get_mailboxes(const std::vector<std::string>& names);
  // GET UNIQUEIDS.
  Result<std::vector<MailboxState>> get_uniqueids(const std::vector<std::string>& uniqueids);
  // GET FULLMAILBOX: with every record; kMailboxNonexistent if absent.
  Result<MailboxState> get_fullmailbox(std::string_view name);
  // GET QUOTA: kNotFound if the root does not exist.
  Result<QuotaItem> get_quota(std::string_view root);
  // GET ANNOTATION: the annotations of mailbox `name` ("" = server).
  Result<std::vector<ServerAnnotation>> get_annotations(std::string_view name);

  // APPLY MAILBOX (§5.6). REQUIRES: m.records is set for a real mailbox.
  Status apply_mailbox(const MailboxState& m);
  // APPLY MAILBOX of a plain mailbox in steps: `head` holds the mailbox
  // fields (its records are not looked at); creates the mailbox if needed,
  // starts its transaction and refuses a replica that changed since
  // SINCE_MODSEQ or is ahead of the master. kMailboxNotSupported for other
  // mailbox types (apply_mailbox() handles those).
  Result<std::unique_ptr<MailboxApply>> begin_mailbox(const MailboxState& head);
  // APPLY UNMAILBOX: store::remove_mailbox (with `delete_mode: delayed`,
  // the default, kept as DELETED.<name>.<HEX time>, as a Cyrus primary
  // deletes; otherwise deleted at once, tombstone left). Cyrus's replica
  // deletes at once whatever its delete_mode; a replimail replica keeps
  // what its master deleted at once.
  Status apply_unmailbox(std::string_view name);
  Status apply_rename(const RenameRequest& r);
  // APPLY EXPUNGE: marks the listed records expunged, keeping their MODSEQ.
  Status apply_expunge(const ExpungeRequest& e);
  Status apply_sub(const SubRequest& s, bool subscribe);
  Status apply_seen(const SeenItem& s);
  Status apply_quota(const QuotaItem& q);
  Status apply_unquota(std::string_view root);
  // APPLY ANNOTATION / UNANNOTATION (empty value).
  Status apply_annotation(const ServerAnnotation& a);
  // APPLY SIEVE / UNSIEVE / ACTIVATE_SIEVE / UNACTIVATE_SIEVE (sync/sieve.h).
  Status apply_sieve(const SieveRequest& r);
  Status apply_unsieve(const SieveRequest& r);
  Status apply_activate_sieve(const SieveRequest& r);
  Status apply_unactivate_sieve(const SieveRequest& r);
  // APPLY UNUSER: all the user's mailboxes (children first; kept under
  // DELETED. as APPLY UNMAILBOX keeps them), subscriptions,
  // seen state, quota roots and sieve scripts.
  Status apply_unuser(std::string_view userid);

 private:
  // Writes an intermediate (or other storage-less) mailboxes.db entry.
  Status apply_placeholder(const MailboxState& m);
  Status create_for(const MailboxState& m);
  Status apply_mailbox_annotations(const MailboxState& m);
  friend class MailboxApply;

  store::Instance& inst_;
  ReserveList& reserve_;
  SieveStore sieve_;
  bool force_ = false;
};

}  // namespace replimail::sync
