// ASCII-only text helpers shared by the protocol and MIME code.
#pragma once

#include <strings.h>

#include <string_view>

namespace replimail {

// Equal ignoring ASCII case (header field names, charset names, keywords).
inline bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace replimail
