// Deleting a mailbox as imapd.conf's delete_mode says (imapd's DELETE,
// sync_server's APPLY UNMAILBOX), and deleting a user (Cyrus's
// `deleteuser`, an administrator's DELETE of a user's INBOX): every mailbox
// of the user, deepest first, the quota roots at or below the INBOX, the
// user's seen state and subscriptions — then UNUSER in the sync log, so
// that every replica drops the user too.
#pragma once

#include <string_view>

#include "common/status.h"
#include "store/instance.h"

namespace replimail::store {

// Deletes the real mailbox `name` as delete_mode says (Cyrus 3.6's
// mboxlist_delayed_deletemailbox). "delayed" (Cyrus's default): renamed to
// "<deletedprefix>.<name>.<seconds since 1970, %X>" ("DELETED.user.bob.Old.
// 6B0799F4"), logged as a RENAME so that replicas rename their copy to the
// same name, and left for cyr_expire -D. At once (Instance::delete_mailbox,
// UNMAILBOX): under "immediate", a mailbox already under deletedprefix, and
// one with real children (our rename would take them along; imapd's DELETE
// refuses those before). A name taken by a mailbox deleted earlier in the
// same second gets the next second's.
Status remove_mailbox(Instance& instance, std::string_view name);

// Deletes user `userid` from `instance`, each mailbox by remove_mailbox()
// (so kept under deletedprefix when delete_mode is delayed). Each mailbox
// deletion and quota root removal logs its own line on the way; UNUSER is
// written last, after everything is gone. A user with no mailboxes is not
// an error (the user data is still removed and UNUSER still logged).
// kInvalidUser for an invalid userid.
Status delete_user(Instance& instance, std::string_view userid);

}  // namespace replimail::store
