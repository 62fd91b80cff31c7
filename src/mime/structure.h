// The MIME structure of a message, computed the way Cyrus 3.6's
// message_parse_body does it: line by line, boundaries of every enclosing
// multipart recognised at any depth, sizes and line counts as Cyrus reports
// them. A pure function over the message bytes.
#pragma once

#include <string_view>

#include "mime/message.h"

namespace replimail::mime {

// Header lines interpreted per part (Cyrus's maxheaderlines default).
inline constexpr int kMaxHeaderLines = 1000;
// Nested multiparts and messages followed before the rest of a part is
// taken as opaque content; bounds the recursion on hostile input.
inline constexpr int kMaxNesting = 100;

// Parses `msg` into its part tree. Never fails: malformed MIME yields the
// structure Cyrus would report.
Part parse_structure(std::string_view msg);

}  // namespace replimail::mime
