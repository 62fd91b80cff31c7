// Cyrus's IMAP namespace: how the names a client sees map to the internal
// names of mailboxes.db, and back. Pure.
//
// With altnamespace (Cyrus 3.x default) a user's own folders sit beside
// INBOX ("Sent" is user.alice.Sent), other users' folders under
// "Other Users/" and shared folders under "Shared Folders/". Without it
// folders are below INBOX ("INBOX/Sent"), other users under "user/" and
// shared folders at the top level. Administrators always get the standard
// (non-alternate) namespace, as in Cyrus, so `cyradm` can say "user/alice".
//
// unixhierarchysep chooses '/' (default) or '.' as separator. With '/', a
// '.' inside a component is stored as '^' internally (user.john^doe).
//
// Names are modified UTF-7 (RFC 3501 §5.1.3) on both sides.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/config.h"
#include "common/status.h"

namespace replimail::imap {

struct NamespaceOptions {
  bool altnamespace = true;
  bool unixhierarchysep = true;
  std::string userprefix = "Other Users";
  std::string sharedprefix = "Shared Folders";

  // From imapd.conf (altnamespace, unixhierarchysep, userprefix,
  // sharedprefix).
  static NamespaceOptions from_config(const Config& cfg);
};

class Namespace {
 public:
  // The namespace as `userid` sees it ("" before login).
  Namespace(NamespaceOptions options, std::string userid, bool is_admin);

  char separator() const { return options_.unixhierarchysep ? '/' : '.'; }
  bool alternate() const { return alt_; }
  const std::string& userid() const { return userid_; }

  // The internal name of external `name`. kMailboxBadName if it cannot name
  // a mailbox (empty component, bad modified UTF-7, a '^' or an internal
  // separator where it cannot be stored, a bare namespace prefix).
  Result<std::string> to_internal(std::string_view name) const;
  // The external name of internal `name`; nullopt if it has none for this
  // user (e.g. the "user" root itself).
  std::optional<std::string> to_external(std::string_view name) const;

  // The NAMESPACE response's three lists (RFC 2342), e.g.
  // (("" "/")) (("Other Users/" "/")) (("Shared Folders/" "/")).
  std::string namespace_response() const;

 private:
  // Internal components joined by '.' from external components.
  Result<std::string> join_components(std::string_view rest) const;
  std::string external_components(std::string_view internal_rest) const;

  NamespaceOptions options_;
  std::string userid_;
  bool alt_;
};

// True if `name` is valid modified UTF-7: printable ASCII, '&' starts a
// base64 run ended by '-' ("&-" is '&'), runs decode to whole UTF-16 code
// units that form valid code points and are not printable ASCII.
bool valid_mutf7(std::string_view name);
// UTF-8 → modified UTF-7 (for tests and tools). Invalid UTF-8 bytes are
// encoded as U+FFFD.
std::string utf8_to_mutf7(std::string_view utf8);
// Modified UTF-7 → UTF-8; nullopt if not valid_mutf7().
std::optional<std::string> mutf7_to_utf8(std::string_view name);

}  // namespace replimail::imap
