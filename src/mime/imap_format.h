// Prints a parsed part tree as IMAP ENVELOPE, BODY and BODYSTRUCTURE
// (RFC 3501 7.4.2) byte for byte as Cyrus 3.6's message_write_envelope and
// message_write_body do. Pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "mime/message.h"

namespace replimail::mime {

// Appends `s` as an IMAP string the way Cyrus writes cached strings: a
// quoted string, or a literal ("{n}\r\n" + bytes) when `s` is 1024 bytes or
// longer or holds NUL, 8-bit, CR, LF, '"', '%' or '\\'.
void append_nstring(std::string& out, std::string_view s);
// nullopt is NIL.
void append_nil_or_string(std::string& out, const std::optional<std::string>& s);

std::string format_envelope(const Part& message);
// `extended`: BODYSTRUCTURE (true) or BODY (false).
std::string format_body(const Part& part, bool extended);

}  // namespace replimail::mime
