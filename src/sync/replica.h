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

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/instance.h"
#include "sync/reserve.h"
#include "sync/sieve.h"
#include "sync/types.h"

namespace replimail::sync {

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
  // APPLY UNMAILBOX. With `delete_mode: delayed` (the default) a real
  // mailbox without children is renamed to DELETED.<name>.<HEX time>, as a
  // Cyrus primary deletes; otherwise it is deleted at once (tombstone left).
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
  // Deletes a real mailbox as delete_mode says (see apply_unmailbox).
  Status remove_mailbox(std::string_view name);
  // The record pass and counters, in one transaction of `mbox`.
  Status apply_records(store::Mailbox& mbox, const MailboxState& m, bool created);
  Status apply_mailbox_annotations(const MailboxState& m);

  store::Instance& inst_;
  ReserveList& reserve_;
  SieveStore sieve_;
  bool force_ = false;
};

}  // namespace replimail::sync
