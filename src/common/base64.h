// Base64 (RFC 4648 section 4, the standard alphabet with padding), the one
// copy every protocol's SASL exchange uses (IMAP AUTHENTICATE, POP3 AUTH,
// LMTP AUTH, csync AUTHENTICATE).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace replimail {

// Padded base64 of `bytes`; "" for no bytes.
std::string base64_encode(std::string_view bytes);

// Decodes strictly: a length that is a multiple of 4, only the 64 alphabet
// characters, '=' only as the last one or two characters. No whitespace, no
// line breaks, no URL-safe alphabet. std::nullopt for anything else. A lone
// "=" is the empty string: SASL's empty response (RFC 4959, 4954, 5034),
// never valid base64 otherwise. Like Cyrus SASL's decoder, the unused bits
// before the padding are not checked.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace replimail
