#include "mime/structure.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <string>
#include <vector>

#include "common/ascii.h"
#include "mime/fields.h"

namespace replimail::mime {
namespace {

// Cyrus's boundary_limit default: enclosing boundaries tracked at once.
constexpr size_t kBoundaryLimit = 1000;

enum class DefaultType { kText, kMessage };

void apply_default_type(Part& part, DefaultType def) {
  if (def == DefaultType::kMessage) {
    part.type = "MESSAGE";
    part.subtype = "RFC822";
    part.params.clear();
  } else {
    part.type = "TEXT";
    part.subtype = "PLAIN";
    part.params = {{"CHARSET", "us-ascii"}};
  }
}

class Parser {
 public:
  Parser(std::string_view msg, const std::function<void(size_t)>& consumed)
      : msg_(msg), consumed_(consumed) {}

  void parse_body(Part& body, DefaultType def, std::vector<std::string>& boundaries, int nesting) {
    bool saw_boundary = parse_headers(body, def, boundaries);
    if (body.is_multipart() && nesting < kMaxNesting) {
      if (!saw_boundary) parse_multipart(body, boundaries, nesting);
    } else if (body.is_message() && nesting < kMaxNesting) {
      body.children.emplace_back();
      Part& child = body.children.back();
      if (saw_boundary) {
        apply_default_type(child, DefaultType::kText);
      } else {
        parse_body(child, DefaultType::kText, boundaries, nesting + 1);
        body.content_size = child.header_size + child.content_size;
        body.content_lines = child.header_lines + child.content_lines;
        body.boundary_size = child.boundary_size;
        body.boundary_lines = child.boundary_lines;
      }
    } else if (!saw_boundary) {
      parse_content(body, boundaries);
    }
  }

 private:
  // One line from the current offset, with its '\n' if it has one.
  std::string_view next_line() {
    if (consumed_ && offset_ >= next_report_) {
      consumed_(offset_);  // the line starting here is the next one read
      next_report_ = offset_ + kConsumedStep;
    }
    size_t end = msg_.find('\n', offset_);
    end = end == std::string_view::npos ? msg_.size() : end + 1;
    std::string_view line = msg_.substr(offset_, end - offset_);
    offset_ = end;
    return line;
  }

  // Cyrus's message_pendingboundary: is `line` a delimiter of any enclosing
  // multipart? A close delimiter drops that boundary and every inner one.
  bool pending_boundary(std::string_view line, std::vector<std::string>& boundaries) {
    if (line.size() < 2 || line[0] != '-' || line[1] != '-') return false;
    std::string_view b = line.substr(2);
    for (size_t i = 0; i < boundaries.size(); ++i) {
      const std::string& bd = boundaries[i];
      size_t len = bd.size();
      if (b.size() < len || b.compare(0, len, bd) != 0) continue;
      if (b.size() >= len + 2 && b[len] == '-' && b[len + 1] == '-') {
        boundaries.resize(i);
      } else if (b.size() > len + 1 && b[len] != '\0' &&
                 !std::isspace(static_cast<unsigned char>(b[len]))) {
        continue;  // a longer boundary that merely starts with this one
      }
      return true;
    }
    return false;
  }

  bool parse_headers(Part& body, DefaultType def, std::vector<std::string>& boundaries) {
    body.header_offset = offset_;
    // A leading '\n' primes the scan, as in Cyrus: every field then starts
    // right after a '\n'.
    std::string headers = "\n";
    bool saw_boundary = false;
    while (offset_ < msg_.size()) {
      size_t start = headers.size();
      std::string_view line = next_line();
      headers.append(line);
      if (headers[start - 1] == '\n' && line.size() >= 2 && line[0] == '\r' && line[1] == '\n') {
        break;
      }
      if (headers[start - 1] == '\n' && line[0] == '-' && pending_boundary(line, boundaries)) {
        body.boundary_size = line.size();
        body.boundary_lines++;
        if (start - 1 > 0) {
          body.boundary_size += 2;
          body.boundary_lines++;
          headers.resize(start >= 2 ? start - 2 : 0);
        } else {
          headers.resize(start);
        }
        saw_boundary = true;
        break;
      }
    }
    if (headers.empty()) headers.push_back('\n');  // not `= "\n"`: GCC 12 -O3's false -Wrestrict
    body.content_offset = offset_;
    body.header_size = headers.size() - 1;
    interpret_headers(body, headers);
    if (body.type.empty()) apply_default_type(body, def);
    return saw_boundary;
  }

  void interpret_headers(Part& body, const std::string& headers) {
    int lines = -1;
    for (size_t i = 0; i < headers.size(); ++i) {
      if (headers[i] != '\n') continue;
      ++lines;
      if (lines > kMaxHeaderLines) continue;
      size_t name_begin = i + 1;
      size_t colon = headers.find_first_of(":\r\n", name_begin);
      if (colon == std::string::npos || headers[colon] != ':') continue;
      std::string_view name(headers.data() + name_begin, colon - name_begin);
      // The field runs to the first '\n' not followed by a blank.
      size_t end = colon + 1;
      for (;;) {
        end = headers.find('\n', end + 1);
        if (end == std::string::npos || end + 1 >= headers.size() ||
            (headers[end + 1] != ' ' && headers[end + 1] != '\t')) {
          break;
        }
      }
      if (end == std::string::npos) end = headers.size();
      size_t value_end = end;
      if (value_end > colon + 1 && value_end < headers.size() && headers[value_end - 1] == '\r') {
        --value_end;
      }
      std::string_view value(headers.data() + colon + 1, value_end - colon - 1);
      apply_field(body, name, value);
    }
    body.header_lines = lines < 0 ? 0 : static_cast<uint32_t>(lines);
  }

  static void apply_field(Part& body, std::string_view name, std::string_view value) {
    Envelope& env = body.envelope;
    if (iequals(name, "content-type")) {
      ContentType ct = parse_content_type(value);
      body.type = std::move(ct.type);
      body.subtype = std::move(ct.subtype);
      body.params = std::move(ct.params);
    } else if (iequals(name, "content-transfer-encoding")) {
      body.encoding = parse_encoding(value);
    } else if (iequals(name, "content-disposition")) {
      Disposition d = parse_disposition(value);
      body.disposition = std::move(d.value);
      body.disposition_params = std::move(d.params);
    } else if (iequals(name, "content-id")) {
      body.id = parse_unstructured(value);
    } else if (iequals(name, "content-description")) {
      body.description = parse_unstructured(value);
    } else if (iequals(name, "content-md5")) {
      body.md5 = parse_unstructured(value);
    } else if (iequals(name, "content-location")) {
      body.location = parse_unstructured(value);
    } else if (iequals(name, "content-language")) {
      body.language = parse_language(value);
    } else if (iequals(name, "date")) {
      env.date = parse_unstructured(value);
    } else if (iequals(name, "subject")) {
      env.subject = parse_unstructured(value);
    } else if (iequals(name, "in-reply-to")) {
      env.in_reply_to = parse_unstructured(value);
    } else if (iequals(name, "message-id")) {
      env.message_id = parse_unstructured(value);
    } else if (iequals(name, "from")) {
      env.from = parse_address_list(value);
    } else if (iequals(name, "sender")) {
      env.sender = parse_address_list(value);
    } else if (iequals(name, "reply-to")) {
      env.reply_to = parse_address_list(value);
    } else if (iequals(name, "to")) {
      env.to = parse_address_list(value);
    } else if (iequals(name, "cc")) {
      env.cc = parse_address_list(value);
    } else if (iequals(name, "bcc")) {
      env.bcc = parse_address_list(value);
    }
  }

  void parse_multipart(Part& body, std::vector<std::string>& boundaries, int nesting) {
    DefaultType def = body.subtype == "DIGEST" ? DefaultType::kMessage : DefaultType::kText;
    auto boundary = std::find_if(body.params.begin(), body.params.end(),
                                 [](const auto& p) { return p.first == "BOUNDARY"; });
    if (boundary == body.params.end()) {
      // Invalid MIME: a multipart with no parts (printed as empty text).
      parse_content(body, boundaries);
      return;
    }
    boundaries.push_back(boundary->second);
    size_t depth = boundaries.size();
    Part preamble, epilogue;
    parse_content(preamble, boundaries);
    while (boundaries.size() == depth && boundaries.size() < kBoundaryLimit) {
      body.children.emplace_back();
      Part& child = body.children.back();
      parse_body(child, def, boundaries, nesting + 1);
      if (offset_ == msg_.size() && child.boundary_size == 0) boundaries.clear();
    }
    if (boundaries.size() == depth - 1) {
      parse_content(epilogue, boundaries);
    } else if (!body.children.empty()) {
      Part& last = body.children.back();
      body.boundary_size = last.boundary_size;
      body.boundary_lines = last.boundary_lines;
      last.boundary_size = 0;
      last.boundary_lines = 0;
    } else {
      body.boundary_size = preamble.boundary_size;
      body.boundary_lines = preamble.boundary_lines;
      preamble.boundary_size = 0;
      preamble.boundary_lines = 0;
    }
    body.content_size = preamble.content_size + preamble.boundary_size;
    body.content_lines = preamble.content_lines + preamble.boundary_lines;
    for (const Part& c : body.children) {
      body.content_size += c.header_size + c.content_size + c.boundary_size;
      body.content_lines += c.header_lines + c.content_lines + c.boundary_lines;
    }
    body.content_size += epilogue.content_size;
    body.content_lines += epilogue.content_lines;
    body.boundary_size += epilogue.boundary_size;
    body.boundary_lines += epilogue.boundary_lines;
  }

  void parse_content(Part& body, std::vector<std::string>& boundaries) {
    while (offset_ < msg_.size()) {
      std::string_view line = next_line();
      if (line.size() >= 2 && line[0] == '-' && line[1] == '-' &&
          pending_boundary(line, boundaries)) {
        body.boundary_size = line.size();
        body.boundary_lines++;
        if (body.content_lines) {
          body.content_lines--;
          body.boundary_lines++;
        }
        if (body.content_size) {
          // The line break before a delimiter belongs to the delimiter.
          size_t crlf = std::min<size_t>(2, body.content_size);
          body.content_size -= crlf;
          body.boundary_size += crlf;
        }
        break;
      }
      body.content_size += line.size();
      if (line.back() == '\n') body.content_lines++;
    }
  }

  std::string_view msg_;
  const std::function<void(size_t)>& consumed_;
  size_t offset_ = 0;
  size_t next_report_ = kConsumedStep;
};

}  // namespace

Part parse_structure(std::string_view msg, const std::function<void(size_t)>& consumed) {
  Part root;
  std::vector<std::string> boundaries;
  Parser(msg, consumed).parse_body(root, DefaultType::kText, boundaries, 0);
  return root;
}

}  // namespace replimail::mime
