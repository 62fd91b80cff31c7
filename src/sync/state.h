// Reading replication state out of the store: the MAILBOX kvlist of a local
// mailbox (what a replica answers to GET, and what a master sends in APPLY
// MAILBOX), its records, and a user's whole state (GET USER / GET META).
// Used by both ends, so both describe a mailbox the same way.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/instance.h"
#include "sync/types.h"

namespace replimail::sync {

// The state of the mailboxes.db entry `entry` (real or intermediate). For a
// real mailbox, `with_records` adds the RECORD list (all records, expunged
// included) of those with MODSEQ > `since_modseq`.
Result<MailboxState> mailbox_state(store::Instance& inst, const store::MailboxEntry& entry,
                                   bool with_records, uint64_t since_modseq = 0);

// The state of the open real mailbox `mbox`, without records, its counters
// read through `mbox` (so within its read snapshot, if one is open).
Result<MailboxState> mailbox_state(store::Instance& inst, store::Mailbox& mbox);

// The RECORD item of `r` in `mbox`, with its per-message annotations.
Result<RecordItem> record_item(store::Mailbox& mbox, const store::IndexRecord& r);

// The RECORD items of `mbox` with MODSEQ > `since_modseq`, in UID order,
// each with its per-message annotations.
Result<std::vector<RecordItem>> record_items(store::Mailbox& mbox, uint64_t since_modseq);

// Every non-tombstone mailboxes.db entry of `userid` (INBOX, its children,
// and DELETED.user.<u>.* ones), in name order.
Result<std::vector<store::MailboxEntry>> user_entries(store::Instance& inst,
                                                      std::string_view userid);

// GET USER (`with_mailboxes`) or GET META: mailboxes, quota roots, seen
// records and subscriptions of `userid`. GET USER has seen records only if
// the user has a real mailbox, as Cyrus does; GET META always has them.
Result<UserState> user_state(store::Instance& inst, std::string_view userid, bool with_mailboxes);

// The quota root `root` as a QUOTA item; kNotFound if absent.
Result<QuotaItem> quota_item(store::Instance& inst, std::string_view root);

}  // namespace replimail::sync
