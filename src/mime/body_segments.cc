// The segments of a message's body text and their description for the
// message cache: pure, no GMime (the decoding is search_text.cc's), so that
// sync_server computes the cache without loading GMime and GLib.
#include <fmt/format.h>

#include <string>
#include <string_view>
#include <vector>

#include "mime/body_text.h"
#include "mime/search_body.h"

namespace replimail::mime {

void list_body_segments(const Part& p, std::vector<BodySegment>& out) {
  if (p.is_multipart()) {
    for (const Part& c : p.children) list_body_segments(c, out);
    return;
  }
  if (p.is_message()) {
    if (p.children.empty()) return;
    out.push_back({&p.children[0], true});
    list_body_segments(p.children[0], out);
    return;
  }
  if (p.type == "TEXT") out.push_back({&p, false});
}

std::string part_charset(const Part& part) {
  std::string charset = "us-ascii";
  for (const auto& [name, value] : part.params) {
    if (name == "CHARSET" && !value.empty()) charset = value;
  }
  return charset;
}

bool is_segment_token(std::string_view v) {
  return !v.empty() && v.find_first_of(" \t\r\n") == std::string_view::npos;
}

std::string text_segments(const Message& msg) {
  std::vector<BodySegment> segments;
  list_body_segments(msg.root(), segments);
  std::string out = "S\n";
  for (const BodySegment& s : segments) {
    const Part& p = *s.part;
    if (s.header) {
      out += fmt::format("H {} {}\n", p.header_offset, p.header_size);
      continue;
    }
    const std::string encoding = p.encoding.value_or("-");
    const std::string charset = part_charset(p);
    if (!is_segment_token(encoding) || (p.encoding && encoding == "-") ||
        !is_segment_token(p.subtype) || charset.find_first_of("\r\n") != std::string::npos) {
      return "";
    }
    out += fmt::format("T {} {} {} {} {}\n", p.content_offset, p.content_size, encoding, p.subtype,
                       charset);
  }
  return out;
}

}  // namespace replimail::mime
