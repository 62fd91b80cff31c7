// Evaluation of SEARCH keys (parser.h) against one message. Text keys
// (TEXT, BODY, HEADER and FROM/TO/CC/BCC) are answered from the full-text
// index (search/) for the messages it covers, when `search_engine:
// xapian`; the others, and what the index can only narrow down, scan the
// message: SUBJECT (never asked of the index, which is slower) the search
// form of its Subject fields the store's index keeps, other header keys its
// cached header (store::MessageCache), body keys its file's text parts
// (mime::SearchBody, at the offsets the cache keeps), each loaded only when
// a key needs it. The index answers exactly what a scan answers
// (search/query.h), so results never depend on how much is indexed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

#include "imap/parser.h"
#include "imap/selected.h"
#include "mime/message.h"
#include "mime/search_body.h"
#include "search/query.h"
#include "store/instance.h"

namespace replimail::imap {

// What the index says about the text keys of one SEARCH in one mailbox.
// Empty (every text key scans) when the index is off, missing, unreadable
// or not about this mailbox's UIDVALIDITY.
class IndexAnswers {
 public:
  // Looks up every text key of `key` but SUBJECT in the index of
  // `mailbox`'s owner; opens no index when there is no other.
  // REQUIRES: `key` outlives the IndexAnswers (answers are per key node).
  static IndexAnswers prepare(store::Instance& instance, SelectedMailbox& mailbox,
                              const SearchKey& key);

  enum class Verdict { kScan, kMatch, kNoMatch };
  // The index's verdict on text key `key` for message `uid`.
  Verdict verdict(const SearchKey& key, uint32_t uid) const;

 private:
  void add(const SearchKey& key, search::IndexReader& reader, const std::string& uniqueid);

  std::vector<uint32_t> covered_;  // sorted
  std::map<const SearchKey*, search::TextAnswer> answers_;
};

struct SearchContext {
  uint32_t seq = 0;
  const MessageView* message = nullptr;
  uint32_t max_seq = 0;  // what `*` means
  uint32_t max_uid = 0;
  // The message's header alone (from its message cache), parsed; null if
  // it cannot be read (header keys then fail).
  std::function<const mime::Message*()> headers;
  // The cached header block alone (no parse), null if it cannot be read.
  std::function<const std::string*()> header_block;
  // The search form of the message's Subject fields
  // (mime::field_search_form, kept in the index: store::SubjectCursor),
  // nullopt if it cannot be read (SUBJECT then fails). Unset: SUBJECT reads
  // header_block.
  std::function<std::optional<std::string_view>()> subject;
  // The body text BODY and TEXT read (from the file, at the offsets the
  // message cache keeps); null if it cannot be read (they then fail).
  std::function<const mime::SearchBody*()> body;
  // UIDs of the saved search result (`$`).
  const std::vector<uint32_t>* saved = nullptr;
  // The index's answers for this search, or null to scan every text key.
  const IndexAnswers* index = nullptr;
  // Unix seconds when the SEARCH started (OLDER, YOUNGER).
  int64_t now = 0;
};

bool search_matches(const SearchKey& key, const SearchContext& ctx);

// The day of an RFC 5322 Date: header value ("Tue, 1 Jul 2003 10:52:37
// +0200" → 1-Jul-2003 00:00 UTC, the date as written), nullopt if
// unparseable.
std::optional<int64_t> rfc5322_day(std::string_view date);

}  // namespace replimail::imap
