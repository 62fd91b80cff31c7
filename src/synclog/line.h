// The sync log line format: one notification per line, "KEYWORD arg [arg]".
//
// Pure functions over bytes, no I/O. The writer side reproduces Cyrus's
// sync_quote_name() quoting byte for byte; the reader side accepts Cyrus's
// reader grammar (sync_log_reader_getitem): a keyword word, one or two IMAP
// astrings (atom, quoted string with backslash escapes, {n} / {n+} literal),
// LF or CRLF. Files written by Cyrus and by replimail are interchangeable.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace replimail::synclog {

// One notification: "this object changed". `keyword` is upper case on the
// writer side and upper-cased by the reader (USER, MAILBOX, SEEN, ...).
struct Line {
  std::string keyword;
  std::vector<std::string> args;

  bool operator==(const Line& o) const = default;
};

// Longest quoted value sync_quote_name() accepts (Cyrus MAX_MAILBOX_BUFFER).
inline constexpr size_t kMaxQuotedValue = 1024;
// Longest formatted line (Cyrus's sync_log buffer).
inline constexpr size_t kMaxLineLength = 4096;

// Quotes one argument as Cyrus's sync_quote_name() does: empty -> `""`;
// `\ " { }` are backslash-escaped and force quotes; SP TAB ( ) force quotes;
// anything else is written bare. CR or LF (which Cyrus treats as fatal) and
// over-long values give kInvalidArgument.
Result<std::string> quote_value(std::string_view value);

// "KEYWORD arg1 [arg2]\n". A keyword that is empty or not a plain word, other
// than one or two arguments, a bad argument, or a line over kMaxLineLength is
// an error.
Result<std::string> format_line(const Line& line);

// The outcome of reading one line at `pos` of a log.
struct ParsedLine {
  enum class Kind { kLine, kBlank, kMalformed, kEnd };
  Kind kind = Kind::kEnd;
  Line line;          // kLine only
  std::string error;  // kMalformed only: why, for the log
};

// Reads one line starting at `*pos` and advances `*pos` past it (past the
// whole malformed line too, literals included, so reading can go on).
// A final line without its LF is kMalformed (a torn write).
ParsedLine next_line(std::string_view data, size_t* pos);

// Parses exactly one line; the trailing LF / CRLF is optional here.
Result<Line> parse_line(std::string_view bytes);

// Every line of a log file. Blank lines are skipped; malformed lines are
// skipped and described in `errors` ("line 3: Garbage at end of input line").
struct ParsedLog {
  std::vector<Line> lines;
  std::vector<std::string> errors;
};
ParsedLog parse_log(std::string_view bytes);

}  // namespace replimail::synclog
