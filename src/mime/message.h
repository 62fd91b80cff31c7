// A parsed RFC 5322 / MIME message, as IMAP FETCH and SEARCH need it.
//
// The message bytes are mapped read-only from their file (or owned, for
// bytes given in memory) and never copied whole; the part tree records byte
// offsets into them. Parsing follows Cyrus 3.6's message.c: the same
// boundary rules, the same defaults and the same answers for malformed MIME,
// so that ENVELOPE and BODYSTRUCTURE print exactly what Cyrus prints. Any
// input parses (malformed MIME degrades to a text part, never a crash).
//
// Decoding for SEARCH (RFC 2047 words, base64/quoted-printable bodies,
// charsets to UTF-8) goes through GMime.
//
// A Message is immutable after construction and safe to read from several
// threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace replimail::mime {

// An address of an ENVELOPE, as Cyrus's parseaddr produces it. A group
// start has no domain; a group end has neither mailbox nor domain.
struct Address {
  std::optional<std::string> name, route, mailbox, domain;
};

// The envelope fields of a message header. Absent string fields are
// nullopt (printed NIL); an absent or empty address list is empty.
struct Envelope {
  std::optional<std::string> date, subject, in_reply_to, message_id;
  std::vector<Address> from, sender, reply_to, to, cc, bcc;
};

using Params = std::vector<std::pair<std::string, std::string>>;

// One body part, with the sizes Cyrus's message.c computes: a leaf, a
// multipart (children are its parts) or a message/rfc822 (exactly one
// child: the encapsulated message).
struct Part {
  // Offsets into Message::bytes(): the header block (with the blank line
  // that ends it, when there is one) and the content.
  size_t header_offset = 0, header_size = 0;
  size_t content_offset = 0, content_size = 0;
  // Lines as Cyrus counts them (content lines exclude the CRLF before a
  // boundary).
  uint32_t header_lines = 0, content_lines = 0;
  // Length and lines of the boundary that ended this part (parse state).
  size_t boundary_size = 0;
  uint32_t boundary_lines = 0;

  // Content-Type: type/subtype upper-cased, parameters with upper-cased
  // names and unquoted values, RFC 2231 continuations folded.
  std::string type, subtype;
  Params params;
  // Content-Transfer-Encoding upper-cased; nullopt when absent (7BIT).
  std::optional<std::string> encoding;
  std::optional<std::string> id, description, md5, location;
  // Content-Disposition value upper-cased, and its parameters.
  std::optional<std::string> disposition;
  Params disposition_params;
  std::vector<std::string> language;  // Content-Language, upper-cased

  // The header's envelope fields (meaningful for the root and for the
  // child of a message/rfc822 part).
  Envelope envelope;

  std::vector<Part> children;

  bool is_multipart() const { return type == "MULTIPART"; }
  bool is_message() const { return type == "MESSAGE" && subtype == "RFC822"; }
};

// What a FETCH BODY[<section>] names (RFC 3501 6.4.5), without <partial>.
struct Section {
  enum class Kind {
    kAll,              // BODY[] or BODY[1.2]: the whole message or part
    kHeader,           // HEADER
    kHeaderFields,     // HEADER.FIELDS (a b)
    kHeaderFieldsNot,  // HEADER.FIELDS.NOT (a b)
    kText,             // TEXT
    kMime,             // MIME (only after a part number)
  };
  std::vector<uint32_t> path;  // part numbers, 1-based; empty: the message
  Kind kind = Kind::kAll;
  std::vector<std::string> fields;  // for the HEADER.FIELDS kinds, upper-cased
};

// Parses the text between the brackets of BODY[...] ("1.2.HEADER.FIELDS
// (From To)", "TEXT", ""). Case-insensitive. kProtocolBadParameters on bad
// syntax.
Result<Section> parse_section(std::string_view spec);

// The bytes a section names: a view into the message where the section is
// a contiguous range, or its own storage where it is assembled (HEADER.FIELDS).
class SectionBytes {
 public:
  explicit SectionBytes(std::string_view view) : view_(view) {}
  explicit SectionBytes(std::string owned)
      : owned_(std::make_shared<std::string>(std::move(owned))), view_(*owned_) {}
  std::string_view data() const { return view_; }

 private:
  std::shared_ptr<std::string> owned_;
  std::string_view view_;
};

class Message {
 public:
  // Reads (maps, when large) and parses the message file at `path`.
  // kIoError if unreadable.
  static Result<Message> open(const std::string& path);
  // Parses bytes held in memory (tests, APPEND before the file exists).
  static Message from_bytes(std::string bytes);

  Message(Message&&) noexcept;
  Message& operator=(Message&&) noexcept;
  ~Message();

  std::string_view bytes() const;
  // The root part: the message itself (its header is the message header).
  const Part& root() const;

  // FETCH ENVELOPE: "(date subject from sender reply-to to cc bcc
  // in-reply-to message-id)" with Cyrus's rules (sender/reply-to default to
  // from, NIL for missing fields, address groups, quoting and literals).
  std::string envelope() const;
  // FETCH BODYSTRUCTURE, with extension data, as Cyrus prints it.
  std::string bodystructure() const;
  // FETCH BODY (no extension data).
  std::string body() const;

  // FETCH BODY[section]. kNotFound when the part path does not exist, so
  // IMAP can answer with an empty string as Cyrus does.
  Result<SectionBytes> section(const Section& section) const;

  // FETCH BINARY[path] (RFC 3516): the part's content with its transfer
  // encoding undone; the whole message, as it is, for an empty path.
  // kNotFound when the part does not exist, kMailboxNotSupported when its
  // encoding is none this server decodes.
  Result<std::string> binary_section(const std::vector<uint32_t>& path) const;

  // --- SEARCH support -------------------------------------------------------

  // Values of every header field `name` (case-insensitive) in the message
  // header, unfolded, RFC 2047 words decoded, converted to UTF-8.
  std::vector<std::string> header_values(std::string_view name) const;
  // The whole message header block, decoded as header_values() decodes.
  std::string header_text() const;
  // Decoded text of every text part (transfer encoding undone, charset to
  // UTF-8, HTML reduced to text), parts separated by newlines. Headers of
  // nested messages are included, as Cyrus's BODY search does.
  std::string body_text() const;

  // From, To, Cc or Bcc as Cyrus 3.6's SEARCH reads it (its cache's
  // search addresses): each address of the envelope as `name <mailbox@domain>`
  // or `<mailbox@domain>` (name RFC 2047-decoded, quoted unless all atext
  // and blanks; route, mailbox and domain lower-cased), a group as
  // `name:` ... `;`, joined by commas. Comments and folds are gone. nullopt
  // for other fields, "" when the message has no address there.
  std::optional<std::string> search_addresses(std::string_view name) const;
  // SEARCH HEADER name needle: any value of `name` contains `needle`
  // (an empty needle matches when the field exists). From, To, Cc and Bcc
  // (whether from FROM or HEADER FROM) match their search_addresses(),
  // and only when there is an address.
  bool header_matches(std::string_view name, std::string_view needle) const;
  // SEARCH BODY needle. Each part is decoded and folded at most once per
  // Message, so a SEARCH with several body keys decodes each part once.
  // Thread-safe.
  bool body_matches(std::string_view needle) const;
  // SEARCH TEXT needle: header or body.
  bool text_matches(std::string_view needle) const;

 private:
  struct Rep;
  explicit Message(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

// Content with its Content-Transfer-Encoding (upper-cased, as Part keeps
// it) undone: BASE64 and QUOTED-PRINTABLE decoded; absent, 7BIT, 8BIT and
// BINARY as they are. nullopt for any other encoding (RFC 3516 UNKNOWN-CTE).
std::optional<std::string> decode_transfer_encoding(std::string_view body,
                                                    const std::optional<std::string>& encoding);

// Quoted-printable and base64 decoded as GMime's decoders decode them
// (mime/transfer.cc): "=XX" with hex digits (either case) a byte, "=" and
// a line break (LF or CRLF) nothing, any other "=" sequence kept, a
// trailing "=" or "=X" dropped; base64 characters outside the alphabet
// skipped.
std::string decode_quoted_printable(std::string_view in);
std::string decode_base64(std::string_view in);

// The lines of header block `header` whose field names (upper-cased) are
// (or, with `exclude`, are not) in `fields`, followed by CRLF, as Cyrus's
// index_pruneheader does: FETCH BODY[HEADER.FIELDS (...)] and .NOT.
std::string header_fields(std::string_view header, const std::vector<std::string>& fields,
                          bool exclude);

// Message::header_text of a header block given alone (the cached header of
// a message, without parsing its structure).
std::string decoded_header_text(std::string_view header);

// Message::header_values of a header block given alone.
std::vector<std::string> header_values(std::string_view header, std::string_view name);

// SEARCH HEADER on a header block given alone (a message's cached header):
// whether any value of field `name`, as header_values() gives it, contains
// `needle` as contains_folded() finds it. A value in ASCII without an
// encoded word is compared where it lies, without a copy.
bool header_field_contains(std::string_view header, std::string_view name,
                           std::string_view needle);

// The search form of field `name` in a header block given alone: each of
// its values as header_field_contains() compares them (unfolded, RFC 2047
// words decoded, search_fold()ed; a value in ASCII without an encoded word
// is just lower-cased), each followed by a NUL, which no folded value or
// needle holds. "" if the block has no such field. The store keeps it for
// Subject (store::MessageCache), so that SEARCH SUBJECT neither reads the
// header block nor decodes.
std::string field_search_form(std::string_view header, std::string_view name);

// header_field_contains(header, name, needle), given
// field_search_form(header, name) rather than the header.
bool search_form_contains(std::string_view form, std::string_view needle);

// contains_folded(decoded_header_text(header), needle), without decoding a
// header block in ASCII that does not hold `needle` in any case.
bool header_text_contains(std::string_view header, std::string_view needle);

// A header field's value with its RFC 2047 words decoded, as UTF-8 (what
// header_values() returns for one field), for values taken from elsewhere
// (an address's display name).
std::string decode_header_words(std::string_view raw);

// Cyrus's "search form" of UTF-8 text without options (its charset.c with
// flags 0), which SORT DISPLAYFROM/DISPLAYTO compare: every character
// mapped to its titlecase, then to its full compatibility decomposition,
// and separators (Unicode category Z) to a space.
std::string cyrus_search_form(std::string_view utf8);

// Folds UTF-8 text for case-insensitive comparison (Unicode case folding
// and NFKC), as SEARCH compares strings. Invalid UTF-8 is taken byte-wise.
std::string search_fold(std::string_view utf8);

// search_fold(needle), remembered for the next call with the same needle
// (one per thread): SEARCH folds its needle once, not once per message.
const std::string& folded_needle(std::string_view needle);

// True if `needle` occurs in `haystack`, both UTF-8, case-insensitively.
bool contains_folded(std::string_view haystack, std::string_view needle);

}  // namespace replimail::mime
