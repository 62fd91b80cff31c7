// What the index holds of one message: the texts SEARCH scans, folded
// exactly as the scan folds them (mime::search_fold), so that the terms
// of the index agree byte for byte with what a scan compares.
//
//   headers   Message::header_text()  (SEARCH TEXT, HEADER of any field)
//   body      Message::body_text()    (SEARCH BODY, TEXT): MIME-aware,
//             base64/quoted-printable undone, charsets to UTF-8, HTML to text
//   fields    Message::header_values() of From, To, Cc, Bcc, Subject and
//             Message-ID (SEARCH FROM/TO/CC/BCC/SUBJECT, HEADER <field>)
//   attachment names  filename / name parameters, RFC 2047/2231 decoded
//
// plus `words`: subject and body unfolded, for the stemmed word terms.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mime/message.h"

namespace replimail::search {

// The separately indexed parts of a message. Each has its own term prefix.
enum class Field {
  kHeaders,
  kBody,
  kFrom,
  kTo,
  kCc,
  kBcc,
  kSubject,
  kMessageId,
  kAttachmentName,
};
inline constexpr size_t kFieldCount = 9;

// The term prefix of `field` ("XY" for the body, ...).
std::string_view field_prefix(Field field);
// The field holding header `name` (case-insensitive: "from", "Message-ID"),
// nullopt for a header that has no field of its own.
std::optional<Field> header_field(std::string_view name);
// From, To, Cc, Bcc.
bool is_address_field(Field field);

struct Extracted {
  // Folded texts per field; a field may have several values (two To:).
  std::array<std::vector<std::string>, kFieldCount> values;
  // Subject and body text, not folded, for the stemmer.
  std::string words;

  const std::vector<std::string>& of(Field f) const { return values[static_cast<size_t>(f)]; }
};

Extracted extract(const mime::Message& message);

// The file names of the message's attachments (Content-Disposition filename,
// else Content-Type name), decoded to UTF-8, in part order.
std::vector<std::string> attachment_names(const mime::Message& message);

}  // namespace replimail::search
