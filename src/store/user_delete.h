// Deleting a user (Cyrus's `deleteuser`, an administrator's DELETE of a
// user's INBOX): every mailbox of the user, deepest first, the quota roots
// at or below the INBOX, the user's seen state and subscriptions — then
// UNUSER in the sync log, so that every replica drops the user too.
#pragma once

#include <string_view>

#include "common/status.h"
#include "store/instance.h"

namespace replimail::store {

// Deletes user `userid` from `instance`. Each mailbox deletion and quota
// root removal logs its own UNMAILBOX / QUOTA line on the way; UNUSER is
// written last, after everything is gone. A user with no mailboxes is not
// an error (the user data is still removed and UNUSER still logged).
// kInvalidUser for an invalid userid.
Status delete_user(Instance& instance, std::string_view userid);

}  // namespace replimail::store
