// BODY[section] (RFC 3501 6.4.5): parsing the section text and finding its
// bytes. Part numbers are resolved against the section table Cyrus builds
// (message_write_section): the message is wrapped in a message/rfc822;
// part N of a message/rfc822 is part N of its multipart body, or, for a
// non-multipart body, part 1 is that body with the message's header as its
// MIME header.
#include <cctype>
#include <string>

#include "common/ascii.h"
#include "mime/message.h"

namespace replimail::mime {
namespace {

Status bad(std::string_view why) {
  return Status(Code::kProtocolBadParameters, "Invalid body section: " + std::string(why));
}

// A resolved part: where its MIME header and its content are. A multipart
// without parts has no content (Cyrus shows it as empty text).
struct Entry {
  const Part* part;
  size_t header_offset, header_size, content_offset, content_size;
};

Entry entry_for(const Part& p) {
  size_t size = p.is_multipart() && p.children.empty() ? 0 : p.content_size;
  return {&p, p.header_offset, p.header_size, p.content_offset, size};
}

// Part `n` (1-based) of the section table of a message whose body is
// `inner`, or nullptr.
const Part* message_table(const Part& inner, uint32_t n) {
  if (inner.is_multipart() && !inner.children.empty()) {
    return n >= 1 && n <= inner.children.size() ? &inner.children[n - 1] : nullptr;
  }
  return n == 1 ? &inner : nullptr;
}

// Part `n` (1-based) of `body`'s section table, or nullptr.
const Part* table_part(const Part& body, uint32_t n) {
  if (body.is_message())
    return body.children.empty() ? nullptr : message_table(body.children[0], n);
  if (n >= 1 && n <= body.children.size()) return &body.children[n - 1];
  return nullptr;
}


}  // namespace

Result<Section> parse_section(std::string_view spec) {
  Section s;
  size_t i = 0;
  while (i < spec.size() && std::isdigit(static_cast<unsigned char>(spec[i]))) {
    uint64_t n = 0;
    while (i < spec.size() && std::isdigit(static_cast<unsigned char>(spec[i]))) {
      n = n * 10 + static_cast<uint64_t>(spec[i] - '0');
      if (n > 0xffffffffu) return bad("part number too large");
      ++i;
    }
    if (n == 0) return bad("part number 0");
    s.path.push_back(static_cast<uint32_t>(n));
    if (i == spec.size()) return s;
    if (spec[i] != '.') return bad("expected '.'");
    ++i;
    if (i == spec.size()) return bad("trailing '.'");
  }
  std::string rest = to_upper(spec.substr(i));
  if (rest.empty()) return s;
  if (rest == "HEADER") {
    s.kind = Section::Kind::kHeader;
  } else if (rest == "TEXT") {
    s.kind = Section::Kind::kText;
  } else if (rest == "MIME") {
    if (s.path.empty()) return bad("MIME needs a part number");
    s.kind = Section::Kind::kMime;
  } else {
    std::string_view list;
    if (rest.rfind("HEADER.FIELDS.NOT ", 0) == 0) {
      s.kind = Section::Kind::kHeaderFieldsNot;
      list = std::string_view(rest).substr(18);
    } else if (rest.rfind("HEADER.FIELDS ", 0) == 0) {
      s.kind = Section::Kind::kHeaderFields;
      list = std::string_view(rest).substr(14);
    } else {
      return bad(rest);
    }
    if (list.size() < 2 || list.front() != '(' || list.back() != ')') {
      return bad("expected a parenthesised field list");
    }
    list = list.substr(1, list.size() - 2);
    size_t p = 0;
    while (p < list.size()) {
      if (list[p] == ' ') {
        ++p;
        continue;
      }
      std::string name;
      if (list[p] == '"') {
        ++p;
        while (p < list.size() && list[p] != '"') {
          if (list[p] == '\\' && p + 1 < list.size()) ++p;
          name.push_back(list[p++]);
        }
        if (p >= list.size()) return bad("unterminated quoted field name");
        ++p;
      } else {
        while (p < list.size() && list[p] != ' ') {
          unsigned char c = static_cast<unsigned char>(list[p]);
          if (c <= ' ' || c >= 0x7f || c == '(' || c == ')' || c == ':') {
            return bad("bad field name");
          }
          name.push_back(list[p++]);
        }
      }
      s.fields.push_back(std::move(name));
    }
    if (s.fields.empty()) return bad("empty field list");
  }
  return s;
}

std::string header_fields(std::string_view header, const std::vector<std::string>& fields,
                          bool exclude) {
  std::string out;
  size_t p = 0;
  bool good = false;
  while (p < header.size() && header[p] != '\r') {
    size_t colon = header.find(':', p);
    size_t eol = header.find('\n', p);
    bool has_colon =
        colon != std::string_view::npos && (eol == std::string_view::npos || colon < eol);
    if (has_colon) {
      std::string name = to_upper(header.substr(p, colon - p));
      bool listed = false;
      for (const std::string& f : fields) listed = listed || f == name;
      good = exclude ? !listed : listed;
    } else {
      good = false;
    }
    size_t next = p;
    do {
      size_t nl = header.find('\n', next);
      next = nl == std::string_view::npos ? header.size() : nl + 1;
    } while (next < header.size() && (header[next] == ' ' || header[next] == '\t'));
    if (good) out.append(header.substr(p, next - p));
    p = next;
  }
  out += "\r\n";
  return out;
}

Result<std::string> Message::binary_section(const std::vector<uint32_t>& path) const {
  if (path.empty()) return std::string(bytes());
  const Part* cur = nullptr;
  for (size_t i = 0; i < path.size(); ++i) {
    cur = i == 0 ? message_table(root(), path[0]) : table_part(*cur, path[i]);
    if (!cur) return Status(Code::kNotFound, "no such body part");
  }
  Entry e = entry_for(*cur);
  auto decoded =
      decode_transfer_encoding(bytes().substr(e.content_offset, e.content_size), cur->encoding);
  if (!decoded) {
    return Status(Code::kMailboxNotSupported,
                  "Unknown Content-Transfer-Encoding " + *cur->encoding);
  }
  return std::move(*decoded);
}

Result<SectionBytes> Message::section(const Section& section) const {
  std::string_view msg = bytes();
  const Part& root = this->root();
  Entry e = entry_for(root);
  if (section.path.empty()) {
    if (section.kind == Section::Kind::kAll) return SectionBytes(msg);
  } else {
    const Part* cur = nullptr;
    for (size_t i = 0; i < section.path.size(); ++i) {
      cur = i == 0 ? message_table(root, section.path[0]) : table_part(*cur, section.path[i]);
      if (!cur) return Status(Code::kNotFound, "no such body part");
    }
    const Part* body = cur;
    e = entry_for(*body);
    if (section.kind == Section::Kind::kAll) {
      return SectionBytes(msg.substr(e.content_offset, e.content_size));
    }
    if (section.kind == Section::Kind::kMime) {
      return SectionBytes(msg.substr(e.header_offset, e.header_size));
    }
    // HEADER, TEXT and HEADER.FIELDS name the message inside a
    // message/rfc822 part.
    if (!body->is_message() || body->children.empty()) {
      // Cyrus answers HEADER.FIELDS of any other part with an empty header.
      if (section.kind == Section::Kind::kHeaderFields ||
          section.kind == Section::Kind::kHeaderFieldsNot) {
        return SectionBytes(std::string("\r\n"));
      }
      return Status(Code::kNotFound, "not a message/rfc822 part");
    }
    const Part& inner = body->children[0];
    e = entry_for(inner);
  }
  std::string_view header = msg.substr(e.header_offset, e.header_size);
  switch (section.kind) {
    case Section::Kind::kHeader:
      return SectionBytes(header);
    case Section::Kind::kText:
      return SectionBytes(msg.substr(e.content_offset, e.content_size));
    case Section::Kind::kHeaderFields:
      return SectionBytes(header_fields(header, section.fields, false));
    case Section::Kind::kHeaderFieldsNot:
      return SectionBytes(header_fields(header, section.fields, true));
    case Section::Kind::kAll:
    case Section::Kind::kMime:
      break;
  }
  return Status(Code::kProtocolBadParameters, "Invalid body section");
}

}  // namespace replimail::mime
