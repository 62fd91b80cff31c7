// The userid owning an internal mailbox name, the one function every room
// uses (store's ACLs and user listing, imapd's owner checks, the indexer,
// sync_client and the sync log's grouping by user). Pure.
#pragma once

#include <string>
#include <string_view>

namespace replimail {

// As Cyrus's mboxname_to_userid with virtdomains off (the only value
// replimail accepts): "user.bob.Sent" -> "bob", "user.bob^smith" ->
// "bob.smith" ('^' is a '.' inside a userid), a deleted mailbox
// "DELETED.user.bob.Sent.5F1A2B3C" -> "bob" (its owner's still: it is
// replicated and expired with the user), a shared name -> "". A '!' is an
// ordinary character: "example.com!user.bob" is a shared mailbox.
// `deletedprefix` is imapd.conf's deletedprefix.
std::string mboxname_owner(std::string_view name, std::string_view deletedprefix = "DELETED");

}  // namespace replimail
