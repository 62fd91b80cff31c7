// The text a SEARCH BODY reads, one segment at a time (inside the mime
// room: Message and the search text code share it).
//
// A message's body text is, in order, every text part's decoded content
// and, for each nested message/rfc822, its header block decoded. Matching
// a segment at a time lets a scan stop at the first part holding the
// needle, and decodes no part twice when a SEARCH has several body keys.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mime/message.h"

namespace replimail::mime {

struct BodySegment {
  const Part* part;  // a TEXT leaf, or (header) the child of a message/rfc822
  bool header;       // the part's header block, not its content
};

// The segments of `p` and its descendants, in message order.
void list_body_segments(const Part& p, std::vector<BodySegment>& out);

// A text part's content with its transfer encoding undone: a view into
// `msg` when there is nothing to undo, else into `scratch`.
std::string_view undone_content(std::string_view msg, const Part& p, std::string& scratch);

// A segment as UTF-8 text: transfer encoding undone, charset converted,
// HTML reduced to text; a header block with its RFC 2047 words decoded.
// `msg` is the bytes the part's offsets point into.
std::string body_segment_text(std::string_view msg, const BodySegment& s);

// search_fold(body_segment_text(msg, s)), from `content` (undone_content()
// of a text part; ignored for a header), without the intermediate copies
// when the part is plain text in ASCII or UTF-8.
std::string fold_body_segment(std::string_view msg, const BodySegment& s, std::string_view content);

// What a segment's bytes tell of a needle without folding them.
enum class QuickAnswer {
  kHit,      // search_fold of the segment contains the needle
  kMiss,     // it does not
  kUnknown,  // fold and look
};

// Whether search_fold of the segment contains `needle` (folded), told from
// the undone `content` of a plain text part in US-ASCII, UTF-8 or a
// single-byte charset (one whose ASCII bytes are themselves, each other
// byte one character). An ASCII needle: a case-insensitive hit is a match
// unless a combining mark after its last letter composes with it. A needle
// with non-ASCII characters: each case-insensitive hit of its longest
// ASCII run is checked by folding the characters around it, which must
// fold apart, as must the one after them. Either way a miss is sure when
// every non-ASCII character folds apart (folds_apart), for then the folded
// text holds ASCII exactly where the content does and each character
// folds alone. Anything else (HTML, a header, other charsets, a NUL, a
// byte the charset lacks, a needle without ASCII) is kUnknown.
QuickAnswer quick_body_answer(const BodySegment& s, std::string_view content,
                              std::string_view needle);

// Whether non-ASCII code point `c` folds on its own to non-ASCII text and
// composes with nothing before it (search_fold's simple characters).
bool folds_apart(char32_t c);

// Writes search_fold(utf8) to `dst`, utf8.size() bytes, when `utf8` has no
// NUL and each of its characters is ASCII or valid UTF-8 that
// folds_apart(): each then folds alone to a character of the same length.
// False otherwise (`dst` then holds bytes of no meaning).
bool fold_apart_text(std::string_view utf8, char* dst);

// True if every non-ASCII character of `utf8` is valid UTF-8 that
// folds_apart(): search_fold(utf8) then holds an ASCII string exactly
// where `utf8` holds it ignoring ASCII case.
bool ascii_folds_apart(std::string_view utf8);

// The charset a text part names, "us-ascii" by default.
std::string part_charset(const Part& part);

// A value that can be written between blanks on a line of text_segments()
// (mime/search_body.h): not empty, no blank or line break.
bool is_segment_token(std::string_view v);

// Any bytes as valid UTF-8 (invalid sequences replaced, as GLib does).
std::string make_valid(std::string_view s);

// True if `needle` occurs in `haystack` (bytes; both already folded).
bool contains(std::string_view haystack, std::string_view needle);

// SEARCH BODY over the segments of one message: each segment decoded and
// folded at most once (its folded text kept), in order, stopping at the
// first that holds the needle. Thread-safe.
// REQUIRES: `bytes` and the parts the segments point to outlive it.
class SegmentMatcher {
 public:
  SegmentMatcher(std::string_view bytes, std::vector<BodySegment> segments);
  // Whether the body text contains `needle` (UTF-8, not folded yet).
  bool matches(std::string_view needle) const;

 private:
  // Whether segment `i` contains `needle` (folded).
  bool segment_matches(size_t i, std::string_view needle) const;

  std::string_view bytes_;
  std::vector<BodySegment> segments_;
  mutable std::mutex mutex_;
  mutable std::vector<std::optional<std::string>> folded_;  // one per segment
};

}  // namespace replimail::mime
