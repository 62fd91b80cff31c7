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
#include <memory>
#include <optional>
#include <string>
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
  //
  // With `scan_first` > 0, a key that only messages passing a cheaper key
  // before it reach (`SUBJECT x BODY y`, `UID 1:30 TEXT y`, `FLAGGED BODY
  // y`: behind a key the index does not answer, in an AND) is not looked up
  // yet: it is scanned for the first `scan_first` messages that need its
  // verdict, and asked of the index only when one more does. An index
  // lookup costs in proportion to the mailbox, a scan to the messages that
  // reach the key, which such a guard makes few. Keys every message reaches
  // are looked up at once, as with 0. The answers are the same either way
  // (the index answers what a scan answers).
  // REQUIRES: `key` outlives the IndexAnswers (answers are per key node).
  static IndexAnswers prepare(store::Instance& instance, SelectedMailbox& mailbox,
                              const SearchKey& key, uint32_t scan_first = 0);
  // The scan_first a session gives a mailbox of `exists` messages: a 64th
  // of them. The index's answer for one key costs ~1.5 us per message of
  // the mailbox (its location map read, bench/run-search at 10,000 and
  // 100,000), a body scan ~30 us a message whose file is in the page cache
  // and ~85 us one that is not (the usual case in a large mailbox): at a
  // 64th the scans so far cost about what the lookup will (0.3 to 0.8 of
  // it), so a guarded key costs at most ~2 to 4 times the cheaper of the
  // two, and a guard that admits few messages never opens the index.
  static uint32_t scan_first_for(uint32_t exists) { return exists / 64; }

  enum class Verdict { kScan, kMatch, kNoMatch };
  // The index's verdict on text key `key` for message `uid`.
  Verdict verdict(const SearchKey& key, uint32_t uid) const;

 private:
  // Opens the index and lists what it covers; false if it has nothing for
  // this mailbox (every key then scans).
  bool open() const;
  void add(const SearchKey& key) const;      // `key` and its children
  void add_one(const SearchKey& key) const;  // `key` alone
  // The index keys of `key` that are not behind a cheaper key in an AND.
  static void unguarded(const SearchKey& key, bool guarded, std::vector<const SearchKey*>& out);

  struct Source {
    std::string path;
    std::string uniqueid;
    uint32_t uidvalidity = 0;
    std::unique_ptr<search::IndexReader> reader;
    bool tried = false;  // open() ran
  };
  // Filled on first use when scan_first_ > 0: verdict() stays const for
  // its callers.
  mutable std::shared_ptr<Source> source_;
  uint32_t scan_first_ = 0;
  mutable std::map<const SearchKey*, uint32_t> asked_;  // scans so far per key
  mutable std::vector<uint32_t> covered_;               // sorted
  mutable std::map<const SearchKey*, search::TextAnswer> answers_;
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
