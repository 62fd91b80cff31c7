// The LMTP Backend over the mail store: Cyrus lmtpd's recipient rules and
// delivery.
//
// Recipients (virtdomains off: the domain is ignored):
//   `user`         → the INBOX `user.<user>` (the user part lower-cased when
//                    lmtp_downcase_rcpt is on, Cyrus's default).
//   `user+detail`  → `user.<user>.<detail>` when that mailbox exists and its
//                    ACL grants post ('p') to "anyone" or to the delivery's
//                    identity (RcptQuery::authuser; an admin may post
//                    anywhere), as Cyrus checks it; else the INBOX. The detail is an external name:
//                    with unixhierarchysep '/' separates levels and '.' is stored as '^'; a detail
//                    that does not make a valid mailbox name
//                    ("..", control characters) falls back to the INBOX, so
//                    no recipient ever names anything outside the user's tree.
//   A missing INBOX is created at first delivery when autocreate_post is on
//   and autocreate_quota >= 0 (store/autocreate: Cyrus's rules, quota 0 =
//   unlimited); otherwise the recipient is unknown (kMailboxNonexistent →
//   550 5.1.1).
// Quota: with lmtp_strict_quota the message must fit; otherwise (Cyrus's
// default) it is refused only when the quota root is already full. RCPT
// IGNOREQUOTA skips the check.
//
// Duplicate suppression (duplicatesuppression): lmtp/duplicate_filter.h.
// Delivery streams the message into a StagedMessage on the default
// partition, then appends it to every distinct mailbox in one batch
// (Instance::append), which is durable and logged before it returns.
#pragma once

#include "common/config.h"
#include "lmtp/backend.h"
#include "lmtp/duplicate_filter.h"
#include "store/instance.h"

namespace replimail::lmtp {

class StoreBackend : public Backend {
 public:
  // `instance` must outlive the backend. Options are read from its config.
  explicit StoreBackend(store::Instance& instance);

  Result<Recipient> resolve_recipient(const RcptQuery& query) override;
  Result<std::unique_ptr<MessageSink>> begin_message() override;
  std::vector<Status> deliver(MessageSink& sink, const std::vector<Recipient>& recipients) override;

 private:
  // The mailbox `user+detail` names, or "" to use the INBOX.
  std::string detail_mailbox(const std::string& inbox, const std::string& detail,
                             const std::string& authuser);
  Status ensure_inbox(const Recipient& r);

  store::Instance& instance_;
  bool downcase_;
  bool unixhierarchysep_;
  bool autocreate_;
  bool strict_quota_;
  DuplicateFilter duplicates_;
};

}  // namespace replimail::lmtp
