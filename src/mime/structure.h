// The MIME structure of a message, computed the way Cyrus 3.6's
// message_parse_body does it: line by line, boundaries of every enclosing
// multipart recognised at any depth, sizes and line counts as Cyrus reports
// them. A pure function over the message bytes.
#pragma once

#include <cstddef>
#include <functional>
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
//
// The parser reads `msg` once, front to back. `consumed`, when given, is
// called every kConsumedStep bytes or so with an offset below which the
// parser reads nothing more: the owner of a mapped file can drop those pages
// as the parse goes (Message::open does), so that a large attachment, whose
// every line the parser must look at for a boundary, is never resident whole.
inline constexpr size_t kConsumedStep = 256 * 1024;
Part parse_structure(std::string_view msg,
                     const std::function<void(size_t consumed)>& consumed = {});

}  // namespace replimail::mime
