// Reading the per-user index (index.h) to answer SEARCH text keys exactly.
//
// SEARCH matches substrings of folded text (mime/message.h), which a word
// index cannot answer alone. match() therefore splits the needle into runs
// (terms.h) and finds, per run, every term of the field that can hold it
// (a prefix scan when the run must start a term, a pass over the field's
// terms otherwise): the documents having such terms for every run, in
// consecutive positions when the index stores them (index.h), are the
// candidates. For a needle that is a single run with no separator around it
// the candidates are exactly the matches ("sure"); otherwise they must be
// checked against the message ("maybe"). Documents with a term too long to
// store are always "maybe". So a scan of the maybes, and of the messages the
// index does not cover, makes every answer equal to a full scan's.
//
// An IndexReader is a snapshot: it sees the revision it opened. Not thread
// safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "search/extract.h"
#include "search/index.h"

namespace replimail::search {

// What the index says of one text key in one mailbox, over the UIDs it
// covers: `sure` match, `maybe` need a scan, every other covered UID does
// not match. Both sorted.
struct TextAnswer {
  std::vector<uint32_t> sure;
  std::vector<uint32_t> maybe;
};

class IndexReader {
 public:
  // Opens the database at `path` read-only. kNotFound if there is none;
  // kIoError if it cannot be read.
  static Result<std::unique_ptr<IndexReader>> open(const std::string& path);
  ~IndexReader();

  Result<std::optional<MailboxState>> state(std::string_view uniqueid);
  // The UIDs of mailbox `uniqueid` that are indexed, sorted.
  Result<std::vector<uint32_t>> covered(std::string_view uniqueid);
  // Which covered UIDs of `uniqueid` have `needle` (not yet folded) in
  // `field`. kInvalidArgument when the needle has no term characters at all
  // (empty, or separators only): the index cannot help, scan instead.
  Result<TextAnswer> match(std::string_view uniqueid, Field field, std::string_view needle);
  // Covered UIDs whose subject or body has every word of `words` after
  // stemming (Cyrus's FUZZY matching), sorted.
  Result<std::vector<uint32_t>> match_words(std::string_view uniqueid, std::string_view words,
                                            const std::string& stem_language = "english");

 private:
  struct Rep;
  explicit IndexReader(std::unique_ptr<Rep> rep);
  // The locations of `uniqueid`, sorted by UID (cached per mailbox): its
  // location map, or its location terms where it has none (index.h).
  Result<const std::vector<Location>*> locations(std::string_view uniqueid);
  std::unique_ptr<Rep> rep_;
};

}  // namespace replimail::search
