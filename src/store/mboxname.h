// Internal mailbox names, as Cyrus spells them in mailboxes.db and on the
// replication wire: `user.alice`, `user.alice.Sent`, shared `shared.folder`,
// with '.' as hierarchy separator and a '.' inside a userid stored as '^'.
// Names are modified-UTF-7 ASCII. Everything here is pure.
#pragma once

#include <string>
#include <string_view>

#include "common/mboxname_owner.h"
#include "common/status.h"

namespace replimail::store {

// OK if `name` is a valid internal name: non-empty, printable 7-bit ASCII,
// no empty component (no leading/trailing dot, no ".."), no '/', no control
// characters, at most 490 bytes. Otherwise kMailboxBadName naming the fault.
Status validate_mboxname(std::string_view name);

// OK if `userid` can own mailboxes: non-empty, printable ASCII, no '/',
// no '^' (the '.'-escape), not "." or "..". kInvalidUser otherwise.
Status validate_userid(std::string_view userid);

// Names that become path components inside the store. Each is checked
// against its grammar wherever the store builds a path from it, so that a
// caller (or a replication peer) that forgot to check can never make the
// store touch a file outside its partitions: no '/', no NUL or other control
// character, never empty, "." or "..".
//
// A mailbox uniqueid: 1 to 64 of [A-Za-z0-9_-] (Cyrus 3 UUIDs and 24-letter
// base-36 ids, older 16-digit hex ids). kMailboxBadName otherwise.
Status validate_uniqueid(std::string_view uniqueid);
// A partition name (the <name> of a partition-<name> setting): 1 to 64 of
// [A-Za-z0-9_.-], not starting with '.'. kMailboxBadName otherwise.
Status validate_partition(std::string_view partition);
// A message GUID: 40 hexadecimal digits (SHA-1). kInvalidArgument otherwise.
Status validate_guid(std::string_view guid);

// "alice" → "user.alice"; "john.doe" → "user.john^doe".
// REQUIRES: validate_userid(userid).
std::string user_inbox(std::string_view userid);

// The owning userid of a name ("user.john^doe.Sent" → "john.doe"), or "" for
// a shared mailbox: common/mboxname_owner.h, shared with the sync log.
using replimail::mboxname_owner;

// True if `name` is a user's INBOX ("user.alice").
bool mboxname_is_inbox(std::string_view name);

// True if `child` is strictly below `parent` in the hierarchy
// ("user.a.b" is a child of "user.a"; "user.ab" is not).
bool mboxname_is_child(std::string_view parent, std::string_view child);

// The parent name ("user.a.b" → "user.a"); "" for a top-level name.
std::string mboxname_parent(std::string_view name);

// Userid part escaping: '.' ↔ '^'.
std::string userid_to_component(std::string_view userid);
std::string component_to_userid(std::string_view component);

}  // namespace replimail::store
