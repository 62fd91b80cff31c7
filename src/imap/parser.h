// IMAP4rev1 command syntax (RFC 3501 §9, with LITERAL+/LITERAL- from RFC
// 7888, CONDSTORE/QRESYNC from RFC 7162 and SEARCHRES's `$`), as pure
// functions over bytes: no sockets, no disk, no configuration.
//
// A command reaches the parser whole: the session collects the command line
// and every literal it announces (answering "+ go ahead" for synchronising
// ones) and hands the assembled bytes, literals inline in wire form
// ("{5}\r\nhello"), to parse_command(). The generic argument tree it returns
// is then read by the typed parsers below (sequence sets, FETCH items,
// SEARCH keys, STORE arguments).
//
// Every function accepts arbitrary input without crashing, with memory and
// recursion bounded by the input and by kMaxNesting, so they can be fuzzed.
// A syntax error is a Status with Code::kProtocolError whose message is the
// human text for the BAD reply.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ascii.h"  // iequals, to_upper: the parser and sessions use them
#include "common/status.h"

namespace replimail::imap {

// Longest command line (one line, literals excluded) the session accepts;
// it bounds every atom and quoted string too.
inline constexpr size_t kMaxLine = 64 * 1024;
// Deepest nesting of parenthesised lists and of search keys.
inline constexpr int kMaxNesting = 32;

// Cyrus's maxword and maxquoted: the longest atom and quoted string (its
// contents, unescaped) parse_command() accepts.
struct ParseLimits {
  size_t max_word = SIZE_MAX;
  size_t max_quoted = SIZE_MAX;
};

// A literal announced at the end of a line: `{n}`, `{n+}` or `~{n}`.
struct LiteralHeader {
  uint64_t size = 0;
  bool synchronising = true;  // `{n}`: the client waits for "+ go ahead"
  bool binary = false;        // `~{n}` (RFC 3516 literal8)
};

// The literal `line` (without CRLF) ends with, if any. A malformed size
// (no digits, overflow) is not a literal: the parser rejects the line later.
std::optional<LiteralHeader> trailing_literal(std::string_view line);

// One argument: an atom (NIL included, as the atom "NIL"), a string (quoted
// or literal, unescaped), or a parenthesised list.
struct Value {
  enum class Kind { kAtom, kString, kList };
  Kind kind = Kind::kAtom;
  std::string text;          // atom or string contents
  std::vector<Value> items;  // list members
  bool literal = false;      // string came as a literal

  bool is_atom() const { return kind == Kind::kAtom; }
  bool is_string() const { return kind == Kind::kString; }
  bool is_list() const { return kind == Kind::kList; }
  // Atom or string: what RFC 3501 calls an astring.
  bool is_astring() const { return kind != Kind::kList; }
  // Case-insensitive comparison of an atom with `word`.
  bool is_atom(std::string_view word) const;
};

struct Command {
  std::string tag;
  std::string name;  // upper-cased; "UID FETCH" is name "FETCH" with uid
  bool uid = false;
  std::vector<Value> args;
};

// True if the literal announced at the end of `command` (a command as
// assembled so far, ending with the literal's header) is a message of an
// APPEND (RFC 3501, RFC 3502 MULTIAPPEND): the command is a valid APPEND up
// to the header and its mailbox argument is complete, or the literal is a
// TEXT or URL part of an open CATENATE list (RFC 4469). The session streams
// such a literal to a staging file and leaves an empty literal ("{0}") in
// its place.
bool announces_append_message(std::string_view command);
// True if the literal announced at the end of `command` is the mailbox name
// of an APPEND ("a APPEND {5}"): the messages follow it.
bool announces_append_mailbox(std::string_view command);

// Parses a whole command (see the header comment). On a syntax error after
// a valid tag the tag is returned in `*tag_out` so the session can answer
// "<tag> BAD ..."; otherwise the session answers "* BAD ...". An atom or a
// quoted string over `limits` is a syntax error ("[TOOBIG] ...").
Result<Command> parse_command(std::string_view bytes, std::string* tag_out,
                              const ParseLimits& limits = {});

// ---- Sequence sets (RFC 3501 seq-set, RFC 5182 `$`) ----
// `*`: the largest number in use. Outside the 32-bit range, so that
// 4294967295, the largest nz-number, stays a number of its own.
inline constexpr uint64_t kStar = UINT64_MAX;

struct SeqRange {
  uint64_t lo = 0;  // kStar for `*`
  uint64_t hi = 0;
  bool operator==(const SeqRange&) const = default;
};
struct SequenceSet {
  std::vector<SeqRange> ranges;  // as written (lo may exceed hi)
  bool saved = false;            // `$`: the saved search result
  // True if `n` is in the set, `*` standing for `largest`.
  bool contains(uint32_t n, uint32_t largest) const;
};
Result<SequenceSet> parse_sequence_set(std::string_view text);
// Formats sorted numbers compactly ("1:3,7").
std::string format_sequence(const std::vector<uint32_t>& sorted);

// ---- Dates ----
// "1-Feb-1994" (search date) → Unix seconds at 00:00 UTC.
std::optional<int64_t> parse_date(std::string_view text);
// "17-Jul-1996 02:44:25 -0700" (date-time) → Unix seconds.
std::optional<int64_t> parse_date_time(std::string_view text);
// Unix seconds → "17-Jul-1996 09:44:25 +0000" (RFC 3501 date-day-fixed: a
// day below 10 is space-padded, " 1-Feb-2024 ...", as Cyrus sends it).
std::string format_date_time(int64_t t);

// ---- FETCH (RFC 3501 §6.4.5, RFC 7162) ----
struct FetchItem {
  enum class Kind {
    kFlags,
    kInternalDate,
    kRfc822Size,
    kEnvelope,
    kBody,  // BODY without section: non-extensible BODYSTRUCTURE
    kBodyStructure,
    kUid,
    kModseq,
    kSection,       // BODY[...] / BODY.PEEK[...] / BINARY[...]
    kRfc822,        // = BODY[] (sets \Seen)
    kRfc822Header,  // = BODY.PEEK[HEADER]
    kRfc822Text,    // = BODY[TEXT] (sets \Seen)
    kEmailId,       // RFC 8474
    kThreadId,      // RFC 8474
    kSaveDate,      // RFC 8514
    kPreview,       // RFC 8970 (modifiers: LAZY only)
    kBinary,        // BINARY[part] / BINARY.PEEK[part] (RFC 3516)
    kBinarySize,    // BINARY.SIZE[part] (RFC 3516)
  };
  Kind kind = Kind::kFlags;
  bool peek = false;
  // kSection, kBinary, kBinarySize: numeric part path ("1.2" → {1,2});
  // kSection then the text part:
  // "" (whole part), "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT",
  // "TEXT" or "MIME".
  std::vector<uint32_t> part;
  std::string specifier;
  std::vector<std::string> fields;  // HEADER.FIELDS(.NOT) names, upper-cased
  std::optional<uint32_t> partial_start;
  uint32_t partial_length = 0;
  // The item's name as the response spells it: "BODY[HEADER.FIELDS (FROM)]<0>".
  std::string response_name;
};

struct FetchRequest {
  SequenceSet set;
  std::vector<FetchItem> items;
  std::optional<uint64_t> changedsince;
  bool vanished = false;
};
// Reads the arguments of FETCH: sequence set, item or list of items (or a
// macro ALL/FAST/FULL), optional modifiers (CHANGEDSINCE n [VANISHED]).
Result<FetchRequest> parse_fetch(const std::vector<Value>& args);

// ---- STORE (RFC 3501 §6.4.6, RFC 7162 UNCHANGEDSINCE) ----
struct StoreRequest {
  enum class Op { kReplace, kAdd, kRemove };
  SequenceSet set;
  std::optional<uint64_t> unchangedsince;
  Op op = Op::kReplace;
  bool silent = false;
  std::vector<std::string> flags;  // as given ("\Seen", "$Junk")
};
Result<StoreRequest> parse_store(const std::vector<Value>& args);

// ---- SEARCH (RFC 3501 §6.4.4, RFC 7162 MODSEQ) ----
struct SearchKey {
  enum class Op {
    kAll,
    kAnd,       // children
    kOr,        // two children
    kNot,       // one child
    kFlag,      // has flag `text` ("\Seen", keyword); \Recent included
    kSequence,  // message number in `set`
    kUid,       // UID in `set`
    kBefore,    // internal date < number (a day, Unix seconds at 00:00 UTC)
    kOn,
    kSince,
    kSentBefore,  // Date: header
    kSentOn,
    kSentSince,
    kLarger,   // RFC822.SIZE > number
    kSmaller,  // RFC822.SIZE < number
    kHeader,   // header `field` contains `text` (FROM, TO, CC, BCC, SUBJECT too)
    kBody,     // body contains `text`
    kText,     // header or body contains `text`
    kModseq,   // MODSEQ >= number
    kOlder,    // RFC 5032: internal date <= now - number (seconds)
    kYounger,  // RFC 5032: internal date >= now - number
    kEmailId,  // RFC 8474: EMAILID is `text`
    kThreadId,  // RFC 8474: THREADID is `text`
    kSavedBefore,  // RFC 8514: save date < number (a day, as kBefore)
    kSavedOn,
    kSavedSince,
  };
  Op op = Op::kAll;
  std::string field;
  std::string text;
  int64_t number = 0;
  SequenceSet set;
  std::vector<SearchKey> children;
};
struct SearchRequest {
  std::string charset;  // "" if not given
  SearchKey key;        // kAnd of the keys given
  bool uses_modseq = false;
  // RETURN (...) options (RFC 4731 ESEARCH): MIN MAX ALL COUNT SAVE; empty
  // means a classic SEARCH response.
  std::vector<std::string> return_options;
  bool esearch = false;  // RETURN was given
};
Result<SearchRequest> parse_search(const std::vector<Value>& args);

}  // namespace replimail::imap
