// Parsers for the values of the header fields IMAP's ENVELOPE and
// BODYSTRUCTURE report, with Cyrus 3.6's rules (imap/message.c,
// lib/parseaddr.c): what they accept, what they ignore, and how they
// normalise. Pure functions over one field's value: the text after the
// colon up to the end of the field, folds (CRLF + WSP) included, final line
// ending excluded. Any input is accepted; malformed input yields what Cyrus
// would keep (often nothing).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mime/message.h"

namespace replimail::mime {

// An unstructured field (Subject, Date, Message-ID, ...): leading blanks
// skipped, folds removed (the CRLF only, the blank after it kept).
std::string parse_unstructured(std::string_view value);

// Content-Type. Leaves `type` empty when the value is not a valid
// "type/subtype" (the caller then applies its default).
struct ContentType {
  std::string type, subtype;
  Params params;
};
ContentType parse_content_type(std::string_view value);

// Content-Disposition; nullopt disposition when malformed.
struct Disposition {
  std::optional<std::string> value;
  Params params;
};
Disposition parse_disposition(std::string_view value);

// Content-Transfer-Encoding, upper-cased; nullopt when malformed.
std::optional<std::string> parse_encoding(std::string_view value);

// Content-Language list, upper-cased; stops at the first malformed entry.
std::vector<std::string> parse_language(std::string_view value);

// An address list (From, To, ...), as Cyrus's parseaddr_list.
std::vector<Address> parse_address_list(std::string_view value);

}  // namespace replimail::mime
