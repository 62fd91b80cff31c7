#include "mime/imap_format.h"

#include <fmt/format.h>

namespace replimail::mime {
namespace {

void append_params(std::string& out, const Params& params) {
  if (params.empty()) {
    out += "NIL";
    return;
  }
  out += '(';
  for (size_t i = 0; i < params.size(); ++i) {
    if (i) out += ' ';
    append_nstring(out, params[i].first);
    out += ' ';
    append_nstring(out, params[i].second);
  }
  out += ')';
}

void append_addresses(std::string& out, const std::vector<Address>& list) {
  if (list.empty()) {
    out += "NIL";
    return;
  }
  out += '(';
  for (const Address& a : list) {
    out += '(';
    append_nil_or_string(out, a.name);
    out += ' ';
    append_nil_or_string(out, a.route);
    out += ' ';
    append_nil_or_string(out, a.mailbox);
    out += ' ';
    append_nil_or_string(out, a.domain);
    out += ')';
  }
  out += ')';
}

void append_envelope(std::string& out, const Part& m) {
  const Envelope& e = m.envelope;
  out += '(';
  append_nil_or_string(out, e.date);
  out += ' ';
  append_nil_or_string(out, e.subject);
  out += ' ';
  append_addresses(out, e.from);
  out += ' ';
  append_addresses(out, e.sender.empty() ? e.from : e.sender);
  out += ' ';
  append_addresses(out, e.reply_to.empty() ? e.from : e.reply_to);
  out += ' ';
  append_addresses(out, e.to);
  out += ' ';
  append_addresses(out, e.cc);
  out += ' ';
  append_addresses(out, e.bcc);
  out += ' ';
  append_nil_or_string(out, e.in_reply_to);
  out += ' ';
  append_nil_or_string(out, e.message_id);
  out += ')';
}

// Disposition, language and location: the tail every BODYSTRUCTURE part has.
void append_extension_tail(std::string& out, const Part& p) {
  if (p.disposition) {
    out += '(';
    append_nstring(out, *p.disposition);
    out += ' ';
    append_params(out, p.disposition_params);
    out += ')';
  } else {
    out += "NIL";
  }
  out += ' ';
  if (p.language.empty()) {
    out += "NIL";
  } else {
    out += '(';
    for (size_t i = 0; i < p.language.size(); ++i) {
      if (i) out += ' ';
      append_nstring(out, p.language[i]);
    }
    out += ')';
  }
  out += ' ';
  append_nil_or_string(out, p.location);
}

void append_body(std::string& out, const Part& p, bool ext) {
  if (p.is_multipart()) {
    if (p.children.empty()) {
      // Zero-part multiparts are illegal; Cyrus reports empty text.
      Part empty;
      empty.type = "TEXT";
      empty.subtype = "PLAIN";
      empty.params = {{"CHARSET", "us-ascii"}};
      append_body(out, empty, ext);
      return;
    }
    out += '(';
    for (const Part& c : p.children) append_body(out, c, ext);
    out += ' ';
    append_nstring(out, p.subtype);
    if (ext) {
      out += ' ';
      append_params(out, p.params);
      out += ' ';
      append_extension_tail(out, p);
    }
    out += ')';
    return;
  }
  out += '(';
  append_nstring(out, p.type);
  out += ' ';
  append_nstring(out, p.subtype);
  out += ' ';
  append_params(out, p.params);
  out += ' ';
  append_nil_or_string(out, p.id);
  out += ' ';
  append_nil_or_string(out, p.description);
  out += ' ';
  append_nstring(out, p.encoding ? *p.encoding : std::string("7BIT"));
  out += fmt::format(" {}", p.content_size);
  if (p.type == "TEXT") {
    out += fmt::format(" {}", p.content_lines);
  } else if (p.is_message()) {
    static const Part kEmpty = [] {
      Part e;
      e.type = "TEXT";
      e.subtype = "PLAIN";
      e.params = {{"CHARSET", "us-ascii"}};
      return e;
    }();
    const Part& child = p.children.empty() ? kEmpty : p.children[0];
    out += ' ';
    append_envelope(out, child);
    out += ' ';
    append_body(out, child, ext);
    out += fmt::format(" {}", p.content_lines);
  }
  if (ext) {
    out += ' ';
    append_nil_or_string(out, p.md5);
    out += ' ';
    append_extension_tail(out, p);
  }
  out += ')';
}

}  // namespace

void append_nstring(std::string& out, std::string_view s) {
  bool literal = s.size() >= 1024;
  for (size_t i = 0; !literal && i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    literal = c == 0 || c & 0x80 || c == '\r' || c == '\n' || c == '"' || c == '%' || c == '\\';
  }
  if (literal) {
    out += fmt::format("{{{}}}\r\n", s.size());
    out.append(s);
  } else {
    out += '"';
    out.append(s);
    out += '"';
  }
}

void append_nil_or_string(std::string& out, const std::optional<std::string>& s) {
  if (s) {
    append_nstring(out, *s);
  } else {
    out += "NIL";
  }
}

std::string format_envelope(const Part& message) {
  std::string out;
  append_envelope(out, message);
  return out;
}

std::string format_body(const Part& part, bool extended) {
  std::string out;
  append_body(out, part, extended);
  return out;
}

}  // namespace replimail::mime
