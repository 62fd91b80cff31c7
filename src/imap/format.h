// IMAP response syntax helpers: strings (quoted or literal), NIL, flag
// lists. Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace replimail::imap {

// An astring/nstring for a response: a quoted string when `s` is short
// 7-bit text without CR, LF, NUL; otherwise a literal "{n}\r\n<bytes>".
std::string imap_string(std::string_view s);
// A string as Cyrus's prot_printmap() prints it: quoted unless it holds a
// character Cyrus does not quote ('"', '%', '\\', CR, LF, NUL, 8-bit) or is
// 1024 bytes or longer, then a literal. METADATA and PREVIEW values.
std::string cyrus_string(std::string_view s);
// An atom when `s` is a non-empty atom (no specials, not NIL), otherwise
// imap_string(), as Cyrus prints mailbox names and identifiers.
std::string imap_astring(std::string_view s);

// RFC 8474 EMAILID as Cyrus derives it from a message's GUID (40 hex
// digits): "M" and the GUID's first 24 digits, so replicated and migrated
// messages keep their ids.
std::string email_id(std::string_view guid);

// "(\Seen \Recent $Junk)" from system flag bits, \Recent and keywords.
std::string flag_list(uint32_t system_flags, bool recent, const std::vector<std::string>& keywords);
// The same, appended to `*out`.
void append_flag_list(std::string* out, uint32_t system_flags, bool recent,
                      const std::vector<std::string>& keywords);

}  // namespace replimail::imap
