// Evaluation of SEARCH keys (parser.h) against one message. Text keys scan
// the message through mime::Message (loaded only when a key needs it).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "imap/parser.h"
#include "imap/selected.h"
#include "mime/message.h"

namespace replimail::imap {

struct SearchContext {
  uint32_t seq = 0;
  const MessageView* message = nullptr;
  uint32_t max_seq = 0;  // what `*` means
  uint32_t max_uid = 0;
  // The parsed message, or null if it cannot be read (text keys then fail).
  std::function<const mime::Message*()> parsed;
  // UIDs of the saved search result (`$`).
  const std::vector<uint32_t>* saved = nullptr;
};

bool search_matches(const SearchKey& key, const SearchContext& ctx);

// The day of an RFC 5322 Date: header value ("Tue, 1 Jul 2003 10:52:37
// +0200" → 1-Jul-2003 00:00 UTC, the date as written), nullopt if
// unparseable.
std::optional<int64_t> rfc5322_day(std::string_view date);

}  // namespace replimail::imap
