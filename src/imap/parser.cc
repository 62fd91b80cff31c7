#include "imap/parser.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <ctime>

namespace replimail::imap {
namespace {

Status bad(std::string message) { return Status(Code::kProtocolError, std::move(message)); }

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::optional<uint64_t> parse_number(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// Characters that end an atom outside brackets (RFC 3501 atom-specials,
// minus the list wildcards and resp-specials that atoms may carry).
bool ends_atom(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return c == ' ' || c == '(' || c == ')' || c == '"' || c == '{' || u < 0x20 || u == 0x7f;
}

class Tokenizer {
 public:
  Tokenizer(std::string_view in, const ParseLimits& limits) : in_(in), limits_(limits) {}

  bool at_end() const { return pos_ >= in_.size(); }
  char peek() const { return in_[pos_]; }
  size_t pos() const { return pos_; }
  void skip(size_t n) { pos_ += n; }

  Result<std::string> atom() {
    size_t start = pos_;
    while (pos_ < in_.size() && !ends_atom(in_[pos_])) ++pos_;
    if (pos_ == start) return bad("Missing required argument");
    if (pos_ - start > limits_.max_word) return bad(kWordTooLong);
    return std::string(in_.substr(start, pos_ - start));
  }

  Result<Value> value(int depth) {
    if (at_end()) return bad("Missing required argument");
    char c = peek();
    if (c == '(') return list(depth + 1);
    if (c == '"') return quoted();
    if (c == '{' || (c == '~' && pos_ + 1 < in_.size() && in_[pos_ + 1] == '{')) return literal();
    if (c == ')') return bad("Unexpected ')'");
    return bracketed_atom();
  }

 private:
  Result<Value> list(int depth) {
    if (depth > kMaxNesting) return bad("Too many nested parentheses");
    ++pos_;  // '('
    Value v;
    v.kind = Value::Kind::kList;
    while (true) {
      if (at_end()) return bad("Missing ')'");
      if (peek() == ')') {
        ++pos_;
        return v;
      }
      if (peek() == ' ') {
        ++pos_;
        continue;
      }
      auto item = value(depth);
      if (!item.ok()) return item.status();
      v.items.push_back(std::move(item).value());
    }
  }

  Result<Value> quoted() {
    ++pos_;
    Value v;
    v.kind = Value::Kind::kString;
    while (pos_ < in_.size()) {
      char c = in_[pos_++];
      if (c == '"') return v;
      if (c == '\r' || c == '\n') break;
      if (c == '\\') {
        if (pos_ >= in_.size()) break;
        c = in_[pos_++];
        if (c != '\\' && c != '"') return bad("Invalid escape in quoted string");
      }
      v.text.push_back(c);
      if (v.text.size() > limits_.max_quoted) return bad("[TOOBIG] Quoted value too long");
    }
    return bad("Unterminated quoted string");
  }

  Result<Value> literal() {
    if (peek() == '~') ++pos_;
    ++pos_;  // '{'
    size_t start = pos_;
    while (pos_ < in_.size() && is_digit(in_[pos_])) ++pos_;
    auto size = parse_number(in_.substr(start, pos_ - start));
    if (!size) return bad("Invalid literal size");
    if (pos_ < in_.size() && in_[pos_] == '+') ++pos_;
    if (in_.substr(pos_, 3) != "}\r\n") return bad("Invalid literal");
    pos_ += 3;
    if (in_.size() - pos_ < *size) return bad("Literal shorter than announced");
    Value v;
    v.kind = Value::Kind::kString;
    v.literal = true;
    v.text.assign(in_.substr(pos_, *size));
    pos_ += *size;
    return v;
  }

  // An atom; a FETCH section (BODY[HEADER.FIELDS (FROM)]<0.10>) carries
  // spaces and parentheses inside its brackets. Elsewhere '[' and ']' are
  // ordinary atom characters (RFC 3501 section 9: `foo[bar` is a mailbox).
  Result<Value> bracketed_atom() {
    size_t start = pos_;
    while (pos_ < in_.size()) {
      char c = in_[pos_];
      if (c == '[' && opens_section(in_.substr(start, pos_ - start))) {
        size_t close = in_.find(']', pos_);
        size_t eol = in_.find_first_of("\r\n", pos_);
        if (close == std::string_view::npos || (eol != std::string_view::npos && eol < close)) {
          return bad("Missing ']'");
        }
        pos_ = close + 1;
        continue;
      }
      if (ends_atom(c)) break;
      ++pos_;
    }
    if (pos_ == start) return bad("Invalid character in argument");
    if (pos_ - start > limits_.max_word) return bad(kWordTooLong);
    Value v;
    v.text.assign(in_.substr(start, pos_ - start));
    return v;
  }

  // True if `name`, the atom before a '[', is a FETCH attribute whose
  // section may hold spaces and parentheses.
  static bool opens_section(std::string_view name) {
    for (std::string_view n : {"BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE"}) {
      if (iequals(name, n)) return true;
    }
    return false;
  }

  static constexpr const char* kWordTooLong = "[TOOBIG] Word too long";

  std::string_view in_;
  ParseLimits limits_;
  size_t pos_ = 0;
};

}  // namespace

bool Value::is_atom(std::string_view word) const {
  return kind == Kind::kAtom && iequals(text, word);
}

std::optional<LiteralHeader> trailing_literal(std::string_view line) {
  if (line.empty() || line.back() != '}') return std::nullopt;
  size_t open = line.rfind('{');
  if (open == std::string_view::npos) return std::nullopt;
  std::string_view inner = line.substr(open + 1, line.size() - open - 2);
  LiteralHeader h;
  if (!inner.empty() && inner.back() == '+') {
    h.synchronising = false;
    inner.remove_suffix(1);
  }
  auto n = parse_number(inner);
  if (!n) return std::nullopt;
  for (char c : inner) {
    if (!is_digit(c)) return std::nullopt;
  }
  h.size = *n;
  h.binary = open > 0 && line[open - 1] == '~';
  return h;
}

Result<Command> parse_command(std::string_view bytes, std::string* tag_out,
                              const ParseLimits& limits) {
  Tokenizer t(bytes, limits);
  Command cmd;
  size_t sp = bytes.find(' ');
  std::string_view tag = bytes.substr(0, sp);
  for (char c : tag) {
    if (ends_atom(c) || c == '+' || c == '*' || c == '%' || c == '\\' || c == ']') {
      return bad("Invalid tag");
    }
  }
  if (tag.empty()) return bad("Empty command line");
  cmd.tag = std::string(tag);
  if (tag_out) *tag_out = cmd.tag;
  if (sp == std::string_view::npos) return bad("Null command");
  t.skip(sp + 1);
  auto name = t.atom();
  if (!name.ok()) return bad("Null command");
  cmd.name = to_upper(*name);
  if (cmd.name == "UID") {
    if (t.at_end() || t.peek() != ' ') return bad("Missing UID command");
    t.skip(1);
    auto sub = t.atom();
    if (!sub.ok()) return bad("Missing UID command");
    cmd.uid = true;
    cmd.name = to_upper(*sub);
  }
  while (!t.at_end()) {
    if (t.peek() != ' ') {
      if (t.peek() == ')') return bad("Unexpected ')'");
      return bad("Invalid character in command");
    }
    t.skip(1);
    if (t.at_end()) break;  // a trailing space, as some clients send
    auto v = t.value(0);
    if (!v.ok()) return v.status();
    cmd.args.push_back(std::move(v).value());
  }
  return cmd;
}

namespace {
// The command before the literal header it ends with, parsed; nullopt if it
// ends with none or does not parse.
std::optional<Command> before_trailing_literal(std::string_view command) {
  if (!trailing_literal(command)) return std::nullopt;
  size_t open = command.rfind('{');
  if (open > 0 && command[open - 1] == '~') --open;
  auto prefix = parse_command(command.substr(0, open), nullptr);
  if (!prefix.ok()) return std::nullopt;
  return std::move(prefix).value();
}

// True if `command` (up to a literal's header) is an APPEND whose open
// CATENATE list (RFC 4469) ends with "TEXT" or "URL": the literal is a part
// of a message. Parsed with the part type dropped and the list closed.
bool announces_catenate_part(std::string_view command) {
  if (!trailing_literal(command)) return false;
  std::string_view head = command.substr(0, command.rfind('{'));
  if (!head.empty() && head.back() == '~') head.remove_suffix(1);
  while (!head.empty() && head.back() == ' ') head.remove_suffix(1);
  size_t word = head.find_last_of(" (");
  if (word == std::string_view::npos) return false;
  std::string_view type = head.substr(word + 1);
  if (!iequals(type, "TEXT") && !iequals(type, "URL")) return false;
  head = head.substr(0, head[word] == '(' ? word + 1 : word);
  auto prefix = parse_command(std::string(head) + ")", nullptr);
  if (!prefix.ok() || prefix->uid || prefix->name != "APPEND") return false;
  const auto& a = prefix->args;
  return a.size() >= 3 && a.back().is_list() && a[a.size() - 2].is_atom("CATENATE");
}
}  // namespace

bool announces_append_message(std::string_view command) {
  if (announces_catenate_part(command)) return true;
  auto prefix = before_trailing_literal(command);
  return prefix && !prefix->uid && prefix->name == "APPEND" && !prefix->args.empty();
}

bool announces_append_mailbox(std::string_view command) {
  auto prefix = before_trailing_literal(command);
  return prefix && !prefix->uid && prefix->name == "APPEND" && prefix->args.empty();
}

// ---- Sequence sets ----

bool SequenceSet::contains(uint32_t n, uint32_t largest) const {
  for (const auto& r : ranges) {
    uint64_t lo = r.lo == kStar ? largest : r.lo;
    uint64_t hi = r.hi == kStar ? largest : r.hi;
    if (lo > hi) std::swap(lo, hi);
    if (n >= lo && n <= hi) return true;
  }
  return false;
}

Result<SequenceSet> parse_sequence_set(std::string_view text) {
  SequenceSet set;
  if (text == "$") {
    set.saved = true;
    return set;
  }
  auto number = [](std::string_view s) -> std::optional<uint64_t> {
    if (s == "*") return kStar;
    auto n = parse_number(s);
    if (!n || *n == 0 || *n > UINT32_MAX || s[0] == '0') return std::nullopt;
    return *n;
  };
  size_t pos = 0;
  while (true) {
    size_t comma = text.find(',', pos);
    std::string_view part =
        text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    size_t colon = part.find(':');
    auto lo = number(part.substr(0, colon));
    auto hi = colon == std::string_view::npos ? lo : number(part.substr(colon + 1));
    if (!lo || !hi) return bad("Invalid sequence in " + std::string(text.substr(0, 100)));
    set.ranges.push_back({*lo, *hi});
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return set;
}

std::string format_sequence(const std::vector<uint32_t>& sorted) {
  std::string out;
  size_t i = 0;
  while (i < sorted.size()) {
    size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(sorted[i]);
    if (j > i) {
      out += ':';
      out += std::to_string(sorted[j]);
    }
    i = j + 1;
  }
  return out;
}

// ---- Dates ----
namespace {
constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// "d-Mon-yyyy" at the start of `s`; advances `*used`.
std::optional<std::tm> parse_day(std::string_view s, size_t* used) {
  size_t dash = s.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash > 2) return std::nullopt;
  std::string_view d = s.substr(0, dash);
  if (d.size() == 2 && d[0] == ' ') d.remove_prefix(1);
  auto day = parse_number(d);
  if (!day || *day < 1 || *day > 31) return std::nullopt;
  if (s.size() < dash + 9 || s[dash + 4] != '-') return std::nullopt;
  std::string_view mon = s.substr(dash + 1, 3);
  int m = -1;
  for (int i = 0; i < 12; ++i) {
    if (iequals(mon, kMonths[i])) m = i;
  }
  auto year = parse_number(s.substr(dash + 5, 4));
  if (m < 0 || !year || *year < 1900) return std::nullopt;
  std::tm tm{};
  tm.tm_mday = static_cast<int>(*day);
  tm.tm_mon = m;
  tm.tm_year = static_cast<int>(*year) - 1900;
  *used = dash + 9;
  return tm;
}
}  // namespace

std::optional<int64_t> parse_date(std::string_view text) {
  // SEARCH's date as Cyrus 3.6 reads it: the day is any 1*2DIGIT (RFC 3501's
  // date-day), one past the month's end counted on into the next month
  // (32-Nov is 2-Dec, 0-Nov is 31-Oct); a 2-digit year is 19yy; a 4-digit
  // one from 1900.
  size_t dash = text.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash > 2) return std::nullopt;
  auto day = parse_number(text.substr(0, dash));
  if (!day || text.size() < dash + 5 || text[dash + 4] != '-') return std::nullopt;
  std::string_view mon = text.substr(dash + 1, 3);
  int m = -1;
  for (int i = 0; i < 12; ++i) {
    if (iequals(mon, kMonths[i])) m = i;
  }
  std::string_view y = text.substr(dash + 5);
  auto year = parse_number(y);
  if (m < 0 || !year || (y.size() != 2 && y.size() != 4)) return std::nullopt;
  if (y.size() == 2) *year += 1900;
  if (*year < 1900) return std::nullopt;
  std::tm tm{};
  tm.tm_mday = static_cast<int>(*day);
  tm.tm_mon = m;
  tm.tm_year = static_cast<int>(*year) - 1900;
  return static_cast<int64_t>(timegm(&tm));
}

std::optional<int64_t> parse_date_time(std::string_view text) {
  size_t used = 0;
  auto tm = parse_day(text, &used);
  // " hh:mm:ss +zzzz"
  if (!tm || text.size() != used + 15 || text[used] != ' ' || text[used + 3] != ':' ||
      text[used + 6] != ':' || text[used + 9] != ' ') {
    return std::nullopt;
  }
  auto hh = parse_number(text.substr(used + 1, 2));
  auto mm = parse_number(text.substr(used + 4, 2));
  auto ss = parse_number(text.substr(used + 7, 2));
  char sign = text[used + 10];
  auto zone = parse_number(text.substr(used + 11, 4));
  if (!hh || !mm || !ss || !zone || *hh > 23 || *mm > 59 || *ss > 60 ||
      (sign != '+' && sign != '-')) {
    return std::nullopt;
  }
  tm->tm_hour = static_cast<int>(*hh);
  tm->tm_min = static_cast<int>(*mm);
  tm->tm_sec = static_cast<int>(*ss);
  int64_t offset = static_cast<int64_t>(*zone / 100 * 3600 + *zone % 100 * 60);
  return static_cast<int64_t>(timegm(&*tm)) - (sign == '+' ? offset : -offset);
}

std::string format_date_time(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%2d-%s-%04d %02d:%02d:%02d +0000", tm.tm_mday, kMonths[tm.tm_mon],
                tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

}  // namespace replimail::imap
