// Cyrus ACL strings: tab-separated `identifier<TAB>rights<TAB>...`, with a
// trailing TAB, as stored in mailboxes.db and sent in APPLY MAILBOX. Pure.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace replimail::store {

// All rights Cyrus grants a mailbox owner by default.
inline constexpr std::string_view kOwnerRights = "lrswipkxtecdan";

// Parses an ACL string into identifier → rights. Malformed trailing pieces
// (an identifier without rights) are ignored.
std::map<std::string, std::string> parse_acl(std::string_view acl);
// Formats identifier → rights back into Cyrus's form (sorted by identifier).
std::string format_acl(const std::map<std::string, std::string>& acl);
// True if `userid` (or "anyone") holds `right` in `acl`.
bool acl_has_right(std::string_view acl, std::string_view userid, char right);
// The ACL a new mailbox gets: the owner with kOwnerRights for user mailboxes,
// "anyone lrs" for shared ones.
std::string default_acl(std::string_view mboxname);

}  // namespace replimail::store
