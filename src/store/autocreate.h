// Cyrus's INBOX autocreation (imapd.conf autocreate_*), one rule for every
// path that may create a user's INBOX: lmtpd at delivery, imapd and pop3d at
// login. As imapd.conf(5) says:
//   - autocreate_quota >= 0 enables it; at login that is enough, at delivery
//     autocreate_post must be on as well;
//   - the INBOX gets a STORAGE quota of autocreate_quota KiB when that is > 0
//     (0 means unlimited), and a MESSAGE quota of autocreate_quota_messages
//     when that is > 0 (0 and -1 mean unlimited);
//   - admins are never autocreated, and only users listed in
//     autocreate_users ("anyone" by default);
//   - the INBOX is subscribed, autocreate_inbox_folders ("|"-separated,
//     trimmed) are created beside it, those also named in
//     autocreate_subscribe_folders are subscribed, xlist-<flag>: <folder>
//     gives a created folder its special-use flag, and autocreate_acl
//     "<folder> <identifier> <rights>" adds an ACL entry to it.
#pragma once

#include <string>
#include <string_view>

#include "common/config.h"
#include "common/status.h"

namespace replimail::store {

class Instance;

// Whether a login (imapd, pop3d) creates a missing INBOX.
bool autocreate_on_login(const Config& cfg);
// Whether an LMTP delivery creates a missing INBOX.
bool autocreate_on_post(const Config& cfg);

// Creates `userid`'s INBOX and the rest as above. OK if the INBOX exists
// already (nothing is changed then); kMailboxNonexistent if `userid` may not
// be autocreated (an admin, not in autocreate_users, "anonymous"). Failures
// on the extra folders are logged and do not fail the INBOX.
Status autocreate_user(Instance& instance, std::string_view userid);

}  // namespace replimail::store
