// SORT (RFC 5256, with RFC 5957's DISPLAYFROM/DISPLAYTO and Cyrus's MODSEQ
// and UID keys): what a message is sorted by, how two messages compare, and
// the base subject. Pure functions over header data taken once from each
// message, with Cyrus 3.6's rules (imap/index.c), so that a mailbox sorts
// and threads the same on both servers:
//  - strings compare bytewise (strcmp); a missing value is "";
//  - FROM/TO/CC: the mailbox (local part) of the first address, lower-cased
//    as Cyrus's cache keeps it (a group's name for a group);
//  - DISPLAYFROM/DISPLAYTO: the first address's display name in search form
//    (mime::cyrus_search_form), else MAILBOX@DOMAIN upper-cased;
//  - DATE: the Date header's instant (rfc5322_time), else the arrival time;
//  - SUBJECT: the base subject (base_subject), upper-cased ASCII;
//  - every comparison ends with the sequence number.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "imap/parser.h"
#include "mime/message.h"

namespace replimail::imap {

enum class SortKey {
  kArrival,
  kCc,
  kDate,
  kFrom,
  kSize,
  kSubject,
  kTo,
  kDisplayFrom,
  kDisplayTo,
  kModseq,
  kUid,
  kSequence,
};

struct SortCriterion {
  SortKey key = SortKey::kSequence;
  bool reverse = false;
};

// The parenthesised sort program of a SORT command ("(REVERSE DATE
// SUBJECT)"), with the implicit final sequence-number criterion appended.
// kProtocolBadParameters (BAD) for an empty list, an unknown key, or a
// REVERSE with no key after it.
Result<std::vector<SortCriterion>> parse_sort_criteria(const Value& list);

// What SORT and THREAD know of one message.
struct SortMessage {
  uint32_t seq = 0;
  uint32_t uid = 0;
  int64_t internaldate = 0;
  int64_t sentdate = 0;  // 0 when the Date header is missing or unparseable
  uint64_t size = 0;
  uint64_t modseq = 0;
  std::string from, to, cc;             // first address's mailbox, or ""
  std::string displayfrom, displayto;   // see above, or ""
  std::string subject;                  // base subject
  int refwd = 0;                        // Re/Fwd markers removed from it
  std::string message_id;               // "<a@b>", or "" when it has none
  std::vector<std::string> references;  // References, else In-Reply-To
};

// Fills the header fields of `out` (everything but seq, uid,
// internaldate, size and modseq) from the parsed message.
void load_sort_headers(const mime::Message& msg, SortMessage* out);

// <0, 0, >0 as `a` sorts before, with, or after `b` under `criteria`
// (which end with kSequence, so 0 only for the same message).
int compare_messages(const SortMessage& a, const SortMessage& b,
                     const std::vector<SortCriterion>& criteria);

// Sorts `messages` in place under `criteria`.
void sort_messages(std::vector<SortMessage>& messages, const std::vector<SortCriterion>& criteria);

// RFC 5256 §2.1 base subject of a decoded (UTF-8) subject, as Cyrus
// extracts it: trailing blanks and "(fwd)" removed, leading blanks,
// "re:", "fw:", "fwd:" (each optionally with a "[...]" blob) and "[...]"
// blobs (unless the blob is all that is left) removed, repeatedly,
// "[fwd: ...]" unwrapped; upper-cased (ASCII). `*refwd` counts the
// reply/forward markers removed (a "re[3]:" counts 3).
std::string base_subject(std::string_view subject, int* refwd);

// The first "<local@domain>" in `s` at or after `*pos`, as Cyrus's
// find_msgid finds it (a quoted local part is unquoted; a line end not
// followed by a blank ends the search); `*pos` moves past it. nullopt when
// there is none.
std::optional<std::string> find_msgid(std::string_view s, size_t* pos);

// The instant an RFC 5322 date-time names (Cyrus's time_from_rfc5322 in
// full mode: optional day name, day, month, 2- or 4-digit year, hh:mm[:ss],
// numeric or named zone, unknown zones taken as UTC); nullopt when it does
// not parse or lies before 1970.
std::optional<int64_t> rfc5322_time(std::string_view date);

}  // namespace replimail::imap
