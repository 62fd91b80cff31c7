// SEARCH BODY and TEXT without parsing the message again: where each
// segment of a message's body text (mime/body_text.h: every text part's
// content, every nested message's header) lies in its file, with the
// transfer encoding, subtype and charset its decoding needs. The store keeps
// this in the message cache, written at append, as Cyrus keeps part offsets
// in cyrus.cache; a scan then reads only those bytes of the file.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "mime/message.h"

namespace replimail::mime {

// The text segments of `msg`, one line each ("T" or "H", offset, size,
// transfer encoding or "-", subtype, charset), after a first line "S".
// "" when a value cannot be written so (a blank or line break in it): the
// scan then parses the file, as for a message without a cache. Needs no
// GMime (body_segments.cc): sync_server computes it for the cache.
std::string text_segments(const Message& msg);

class SearchBody {
 public:
  // The body text of the message file at `path`, described by `segments`
  // (text_segments() of that file): only the bytes from the first segment
  // to the end of the last are read, and nothing is parsed. kInvalidArgument
  // if `segments` is not text_segments() output, kIoError if the file cannot
  // be read or is shorter than the segments say.
  static Result<SearchBody> open(const std::string& path, std::string_view segments);
  // The body text of a parsed message (for one without cached segments).
  static SearchBody of(Message msg);

  SearchBody(SearchBody&&) noexcept;
  SearchBody& operator=(SearchBody&&) noexcept;
  ~SearchBody();

  // SEARCH BODY needle: exactly Message::body_matches of the same file.
  // Each segment is decoded and folded at most once. Thread-safe.
  bool matches(std::string_view needle) const;

 private:
  struct Rep;
  explicit SearchBody(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

}  // namespace replimail::mime
