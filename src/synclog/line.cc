#include "synclog/line.h"

#include <cctype>

namespace replimail::synclog {

Result<std::string> quote_value(std::string_view value) {
  if (value.empty()) return std::string("\"\"");
  std::string out;
  out.reserve(value.size() + 2);
  bool need_quote = false;
  for (char c : value) {
    if (c == '\r' || c == '\n') {
      return Status(Code::kInvalidArgument, "line break in sync log value");
    }
    if (c == '\\' || c == '"' || c == '{' || c == '}') {
      need_quote = true;
      out.push_back('\\');
    } else if (c == ' ' || c == '\t' || c == '(' || c == ')') {
      need_quote = true;
    }
    out.push_back(c);
    // Cyrus counts the opening quote it reserves in its buffer.
    if (out.size() + 1 > kMaxQuotedValue) {
      return Status(Code::kInvalidArgument, "sync log value too long");
    }
  }
  if (need_quote) return "\"" + out + "\"";
  return out;
}

namespace {

// Keyword characters: what the reader's getword() stops at must not occur.
bool is_word_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return u > ' ' && u != 0x7f && c != '(' && c != ')' && c != '"';
}

}  // namespace

Result<std::string> format_line(const Line& line) {
  if (line.keyword.empty()) return Status(Code::kInvalidArgument, "empty sync log keyword");
  for (char c : line.keyword) {
    if (!is_word_char(c)) {
      return Status(Code::kInvalidArgument, "bad sync log keyword '" + line.keyword + "'");
    }
  }
  if (line.args.empty() || line.args.size() > 2) {
    return Status(Code::kInvalidArgument,
                  "sync log line " + line.keyword + " needs one or two arguments");
  }
  std::string out = line.keyword;
  for (const auto& arg : line.args) {
    auto q = quote_value(arg);
    if (!q) return Status(q.status().code(), q.status().message() + " in " + line.keyword);
    out.push_back(' ');
    out += *q;
  }
  out.push_back('\n');
  if (out.size() > kMaxLineLength) {
    return Status(Code::kInvalidArgument, "sync log line too long: " + line.keyword);
  }
  return out;
}

namespace {

// A cursor over the log bytes; `end()` is EOF.
class Cursor {
 public:
  Cursor(std::string_view d, size_t pos) : d_(d), pos_(pos) {}
  bool at_end() const { return pos_ >= d_.size(); }
  int peek() const { return at_end() ? -1 : static_cast<unsigned char>(d_[pos_]); }
  int get() { return at_end() ? -1 : static_cast<unsigned char>(d_[pos_++]); }
  size_t pos() const { return pos_; }
  void set_pos(size_t p) { pos_ = p; }
  std::string_view data() const { return d_; }

 private:
  std::string_view d_;
  size_t pos_;
};

// Result of reading an astring: ok, or why not. On failure the cursor is
// left somewhere inside the line; the caller skips to its end.
struct Astring {
  bool ok = false;
  std::string value;
  std::string error;
};

Astring read_literal(Cursor& c) {
  Astring r;
  c.get();  // '{'
  uint64_t n = 0;
  int digits = 0;
  while (c.peek() >= '0' && c.peek() <= '9') {
    n = n * 10 + static_cast<uint64_t>(c.get() - '0');
    if (++digits > 9) {
      r.error = "literal too long";
      return r;
    }
  }
  if (digits == 0) {
    r.error = "bad literal size";
    return r;
  }
  if (c.peek() == '+') c.get();
  if (c.get() != '}') {
    r.error = "bad literal";
    return r;
  }
  if (c.peek() == '\r') c.get();
  if (c.get() != '\n') {
    r.error = "no line break after literal size";
    return r;
  }
  if (c.data().size() - c.pos() < n) {
    c.set_pos(c.data().size());
    r.error = "truncated literal";
    return r;
  }
  r.value.assign(c.data().substr(c.pos(), n));
  c.set_pos(c.pos() + n);
  r.ok = true;
  return r;
}

Astring read_quoted(Cursor& c) {
  Astring r;
  c.get();  // '"'
  for (;;) {
    int ch = c.get();
    if (ch == '\\') {
      ch = c.get();
    } else if (ch == '"') {
      r.ok = true;
      return r;
    }
    if (ch < 0 || ch == '\r' || ch == '\n') {
      if (ch >= 0) c.set_pos(c.pos() - 1);
      r.error = "unterminated quoted string";
      return r;
    }
    r.value.push_back(static_cast<char>(ch));
  }
}

Astring read_astring(Cursor& c) {
  if (c.peek() == '"') return read_quoted(c);
  if (c.peek() == '{') return read_literal(c);
  Astring r;
  for (;;) {
    int ch = c.peek();
    if (ch < 0 || ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '(' || ch == ')' ||
        ch == '"') {
      break;
    }
    r.value.push_back(static_cast<char>(c.get()));
  }
  if (r.value.empty()) {
    r.error = "Invalid input";
    return r;
  }
  r.ok = true;
  return r;
}

// Moves past the end of the current line, stepping over any literals on it
// so that literal bytes are never read as lines.
void skip_line(Cursor& c) {
  while (!c.at_end()) {
    int ch = c.peek();
    if (ch == '\n') {
      c.get();
      return;
    }
    if (ch == '{') {
      size_t save = c.pos();
      Astring lit = read_literal(c);
      if (!lit.ok) c.set_pos(save + 1);
      continue;
    }
    c.get();
  }
}

}  // namespace

ParsedLine next_line(std::string_view data, size_t* pos) {
  ParsedLine out;
  Cursor c(data, *pos);
  auto fail = [&](std::string why) {
    c.set_pos(*pos);
    skip_line(c);
    *pos = c.pos();
    out.kind = ParsedLine::Kind::kMalformed;
    out.error = std::move(why);
    return out;
  };
  if (c.at_end()) {
    out.kind = ParsedLine::Kind::kEnd;
    return out;
  }
  std::string keyword;
  while (!c.at_end() && is_word_char(static_cast<char>(c.peek()))) {
    keyword.push_back(static_cast<char>(std::toupper(c.get())));
  }
  if (keyword.empty()) {
    int ch = c.peek();
    if (ch == '\r') {
      c.get();
      ch = c.peek();
    }
    if (ch == '\n') {
      c.get();
      *pos = c.pos();
      out.kind = ParsedLine::Kind::kBlank;
      return out;
    }
    return fail("Invalid input");
  }
  if (c.get() != ' ') return fail("Invalid input");
  Line line;
  line.keyword = std::move(keyword);
  for (;;) {
    Astring a = read_astring(c);
    if (!a.ok) return fail(a.error);
    line.args.push_back(std::move(a.value));
    if (c.peek() != ' ' || line.args.size() == 2) break;
    c.get();
  }
  int ch = c.get();
  if (ch == '\r') ch = c.get();
  if (ch != '\n') {
    return fail(ch < 0 ? "truncated line" : "Garbage at end of input line");
  }
  *pos = c.pos();
  out.kind = ParsedLine::Kind::kLine;
  out.line = std::move(line);
  return out;
}

Result<Line> parse_line(std::string_view bytes) {
  std::string owned(bytes);
  if (owned.empty() || owned.back() != '\n') owned.push_back('\n');
  size_t pos = 0;
  ParsedLine p = next_line(owned, &pos);
  if (p.kind == ParsedLine::Kind::kMalformed) return Status(Code::kInvalidArgument, p.error);
  if (p.kind != ParsedLine::Kind::kLine) return Status(Code::kInvalidArgument, "empty line");
  if (pos != owned.size()) return Status(Code::kInvalidArgument, "more than one line");
  return std::move(p.line);
}

ParsedLog parse_log(std::string_view bytes) {
  ParsedLog out;
  size_t pos = 0;
  size_t lineno = 1;
  for (;;) {
    size_t start = pos;
    ParsedLine p = next_line(bytes, &pos);
    if (p.kind == ParsedLine::Kind::kEnd) break;
    if (p.kind == ParsedLine::Kind::kLine) {
      out.lines.push_back(std::move(p.line));
    } else if (p.kind == ParsedLine::Kind::kMalformed) {
      out.errors.push_back("line " + std::to_string(lineno) + ": " + p.error);
    }
    for (size_t i = start; i < pos; ++i) lineno += bytes[i] == '\n';
  }
  return out;
}

}  // namespace replimail::synclog
