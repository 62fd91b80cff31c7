#include "lmtp/parser.h"

#include <array>
#include <cctype>
#include <limits>

#include "common/ascii.h"

namespace replimail::lmtp {

namespace {

Status syntax(std::string message) {
  return Status(Code::kProtocolBadParameters, std::move(message));
}

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// RFC 5321 atext (RFC 5322 3.2.3): the characters of an unquoted local part.
bool is_atext(char c) {
  if (is_alnum(c)) return true;
  static constexpr std::string_view kSpecials = "!#$%&'*+-/=?^_`{|}~";
  return kSpecials.find(c) != std::string_view::npos;
}

// A domain name (letters, digits, '-', '.') or an address literal
// "[...]" without spaces or brackets inside.
bool valid_domain(std::string_view d) {
  if (d.empty()) return false;
  if (d.front() == '[') {
    if (d.size() < 3 || d.back() != ']') return false;
    for (char c : d.substr(1, d.size() - 2)) {
      if (c <= ' ' || c > '~' || c == '[' || c == ']' || c == '\\') return false;
    }
    return true;
  }
  if (d.front() == '.' || d.back() == '.' || d.find("..") != std::string_view::npos) return false;
  for (char c : d) {
    if (!is_alnum(c) && c != '-' && c != '.') return false;
  }
  return true;
}

// Splits "<path> params" (after "FROM:" or "TO:") into the text between the
// angle brackets and the parameter text. Accepts a source route
// ("<@a,@b:user@c>") and drops it, as RFC 5321 requires of a receiver.
Result<std::pair<std::string, std::string_view>> split_path(std::string_view s) {
  // RFC 5321 has no space after the colon; many clients send one anyway.
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  if (s.empty() || s.front() != '<') return syntax("Syntax error in parameters");
  size_t i = 1;
  bool quoted = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (quoted) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == '>') {
      break;
    }
  }
  if (i >= s.size()) return syntax("Syntax error in parameters");
  std::string_view inner = s.substr(1, i - 1);
  std::string_view rest = s.substr(i + 1);
  if (!rest.empty() && rest.front() != ' ') return syntax("Syntax error in parameters");
  if (!inner.empty() && inner.front() == '@') {
    size_t colon = inner.find(':');
    if (colon == std::string_view::npos) return syntax("Syntax error in parameters");
    inner.remove_prefix(colon + 1);
  }
  return std::make_pair(std::string(inner), rest);
}

// Calls f(keyword, value) for each " KEY[=VALUE]" of `params`; stops at the
// first error f returns.
template <typename F>
Status for_each_param(std::string_view params, F f) {
  while (!params.empty()) {
    if (params.front() != ' ') return syntax("Syntax error in parameters");
    while (!params.empty() && params.front() == ' ') params.remove_prefix(1);
    if (params.empty()) break;
    size_t end = params.find(' ');
    std::string_view param = params.substr(0, end);
    params = end == std::string_view::npos ? std::string_view() : params.substr(end);
    size_t eq = param.find('=');
    std::string_view key = param.substr(0, eq);
    std::optional<std::string_view> value;
    if (eq != std::string_view::npos) value = param.substr(eq + 1);
    if (key.empty()) return syntax("Syntax error in parameters");
    Status s = f(key, value);
    if (!s.is_ok()) return s;
  }
  return Status::success();
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// RFC 3461 xtext: printable ASCII with "+XX" hex escapes.
std::optional<std::string> decode_xtext(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hex_value(s[i + 1]);
      int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c < '!' || c > '~' || c == '=') {
      return std::nullopt;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

Command parse_command(std::string_view line) {
  struct Entry {
    std::string_view name;
    Verb verb;
  };
  static constexpr std::array<Entry, 12> kVerbs = {{
      {"LHLO", Verb::kLhlo},
      {"HELO", Verb::kHelo},
      {"EHLO", Verb::kEhlo},
      {"MAIL", Verb::kMail},
      {"RCPT", Verb::kRcpt},
      {"DATA", Verb::kData},
      {"RSET", Verb::kRset},
      {"NOOP", Verb::kNoop},
      {"QUIT", Verb::kQuit},
      {"VRFY", Verb::kVrfy},
      {"AUTH", Verb::kAuth},
      {"STARTTLS", Verb::kStarttls},
  }};
  size_t sp = line.find(' ');
  std::string_view word = line.substr(0, sp);
  for (const Entry& e : kVerbs) {
    if (iequals(word, e.name)) {
      Command cmd;
      cmd.verb = e.verb;
      if (sp != std::string_view::npos) cmd.args = line.substr(sp + 1);
      return cmd;
    }
  }
  return Command{Verb::kUnknown, line};
}

Result<Address> parse_address(std::string_view text) {
  Address a;
  size_t i = 0;
  if (!text.empty() && text.front() == '"') {
    for (i = 1; i < text.size() && text[i] != '"'; ++i) {
      char c = text[i];
      if (c == '\\') {
        if (++i >= text.size()) return syntax("Syntax error in parameters");
        c = text[i];
      }
      if (c == '\r' || c == '\n' || c == '\0') return syntax("Syntax error in parameters");
      a.local.push_back(c);
    }
    if (i >= text.size()) return syntax("Syntax error in parameters");
    ++i;  // closing quote
  } else {
    for (; i < text.size() && text[i] != '@'; ++i) {
      char c = text[i];
      if (!is_atext(c) && c != '.') return syntax("Syntax error in parameters");
      a.local.push_back(c);
    }
    if (a.local.empty() || a.local.front() == '.' || a.local.back() == '.' ||
        a.local.find("..") != std::string::npos) {
      return syntax("Syntax error in parameters");
    }
  }
  if (i < text.size()) {
    if (text[i] != '@') return syntax("Syntax error in parameters");
    std::string_view domain = text.substr(i + 1);
    if (!valid_domain(domain)) return syntax("Syntax error in parameters");
    a.domain = std::string(domain);
  }
  if (a.local.empty()) return syntax("Syntax error in parameters");
  size_t plus = a.local.find('+');
  a.user = a.local.substr(0, plus);
  if (plus != std::string::npos) a.detail = a.local.substr(plus + 1);
  return a;
}

Result<MailFrom> parse_mail_from(std::string_view args) {
  if (!istarts_with(args, "FROM:")) return syntax("Syntax error in parameters");
  auto split = split_path(args.substr(5));
  if (!split.ok()) return split.status();
  MailFrom m;
  m.reverse_path = std::move(split->first);
  if (!m.reverse_path.empty()) {
    auto addr = parse_address(m.reverse_path);
    if (!addr.ok()) return addr.status();
  }
  Status s = for_each_param(
      split->second, [&m](std::string_view key, std::optional<std::string_view> value) -> Status {
        if (iequals(key, "SIZE")) {
          if (!value || value->empty()) return syntax("SIZE requires a value");
          uint64_t n = 0;
          for (char c : *value) {
            if (c < '0' || c > '9') return syntax("Syntax error in parameters");
            if (n > (std::numeric_limits<uint64_t>::max() - 9) / 10) {
              n = std::numeric_limits<uint64_t>::max();  // saturate: "too big" either way
            } else {
              n = n * 10 + static_cast<uint64_t>(c - '0');
            }
          }
          m.size = n;
        } else if (iequals(key, "BODY")) {
          if (!value || (!iequals(*value, "7BIT") && !iequals(*value, "8BITMIME"))) {
            return syntax("Unrecognized BODY type");
          }
          m.body = to_upper(*value);
        } else if (iequals(key, "AUTH")) {
          if (!value) return syntax("Syntax error in parameters");
          if (*value == "<>") {
            m.auth.reset();
          } else {
            auto decoded = decode_xtext(*value);
            if (!decoded) return syntax("Syntax error in parameters");
            m.auth = std::move(*decoded);
          }
        } else {
          return syntax("Unrecognized parameters");
        }
        return Status::success();
      });
  if (!s.is_ok()) return s;
  return m;
}

Result<RcptTo> parse_rcpt_to(std::string_view args) {
  if (!istarts_with(args, "TO:")) return syntax("Syntax error in parameters");
  auto split = split_path(args.substr(3));
  if (!split.ok()) return split.status();
  RcptTo r;
  r.path = std::move(split->first);
  auto addr = parse_address(r.path);
  if (!addr.ok()) return addr.status();
  r.address = std::move(*addr);
  Status s = for_each_param(
      split->second, [&r](std::string_view key, std::optional<std::string_view> value) -> Status {
        if (iequals(key, "IGNOREQUOTA") && !value) {
          r.ignorequota = true;
          return Status::success();
        }
        return syntax("Unrecognized parameters");
      });
  if (!s.is_ok()) return s;
  return r;
}

Result<AuthArgs> parse_auth(std::string_view args) {
  size_t sp = args.find(' ');
  std::string_view mech = args.substr(0, sp);
  if (mech.empty() || mech.size() > 20) return syntax("Syntax error in parameters");
  for (char c : mech) {
    if (!(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && c != '-' &&
        c != '_') {
      return syntax("Syntax error in parameters");
    }
  }
  AuthArgs a;
  a.mechanism = to_upper(mech);
  if (sp != std::string_view::npos) {
    std::string_view initial = args.substr(sp + 1);
    if (initial.empty() || initial.find(' ') != std::string_view::npos) {
      return syntax("Syntax error in parameters");
    }
    a.initial_response = std::string(initial);
  }
  return a;
}

Result<std::string> parse_lhlo(std::string_view args) {
  while (!args.empty() && args.back() == ' ') args.remove_suffix(1);
  if (args.empty() || args.find(' ') != std::string_view::npos) {
    return syntax("Syntax error in parameters");
  }
  for (char c : args) {
    if (c <= ' ' || c > '~') return syntax("Syntax error in parameters");
  }
  return std::string(args);
}

void DotDecoder::text_byte(char c, std::string* out) {
  // A CR is held until we know whether an LF follows; a lone CR is dropped.
  if (c == '\r') {
    state_ = State::kCr;
  } else if (c == '\n') {
    out->append("\r\n");
    state_ = State::kLineStart;
  } else {
    out->push_back(c);
    state_ = State::kMid;
  }
}

size_t DotDecoder::feed(std::string_view in, std::string* out) {
  size_t i = 0;
  while (i < in.size() && state_ != State::kDone) {
    char c = in[i];
    switch (state_) {
      case State::kMid: {
        // Fast path: copy the run of ordinary bytes up to the next line end.
        size_t end = in.find_first_of("\r\n", i);
        if (end == std::string_view::npos) end = in.size();
        out->append(in.substr(i, end - i));
        i = end;
        if (i < in.size()) text_byte(in[i++], out);
        continue;
      }
      case State::kLineStart:
        if (c == '.') {
          state_ = State::kDot;
        } else {
          text_byte(c, out);
        }
        break;
      case State::kCr:
        if (c == '\n') {
          out->append("\r\n");
          state_ = State::kLineStart;
        } else {
          text_byte(c, out);
        }
        break;
      case State::kDot:
        if (c == '\r') {
          state_ = State::kDotCr;
        } else if (c == '\n') {
          state_ = State::kDone;
        } else {
          text_byte(c, out);  // the stuffed dot is removed
        }
        break;
      case State::kDotCr:
        if (c == '\n') {
          state_ = State::kDone;
        } else {
          text_byte(c, out);  // ".\rX": dot removed, lone CR dropped
        }
        break;
      case State::kDone:
        break;
    }
    ++i;
  }
  return i;
}

void HeaderStripper::decide(std::string* out) {
  std::string_view p = prefix_;
  bool match =
      p.size() == name_.size() + 1 && p.back() == ':' && iequals(p.substr(0, name_.size()), name_);
  dropping_field_ = match;
  if (!match) out->append(prefix_);
  state_ = match ? State::kDrop : State::kKeep;
  if (!p.empty() && p.back() == '\n') state_ = State::kLineStart;
  prefix_.clear();
}

void HeaderStripper::feed(std::string_view in, std::string* out) {
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    switch (state_) {
      case State::kBody:
        out->append(in.substr(i));
        return;
      case State::kLineStart:
        if (c == ' ' || c == '\t') {
          // A continuation line belongs to the field above it.
          state_ = dropping_field_ ? State::kDrop : State::kKeep;
          if (!dropping_field_) out->push_back(c);
        } else if (c == '\r' || c == '\n') {
          state_ = State::kBody;
          out->push_back(c);
        } else {
          prefix_.push_back(c);
          state_ = State::kPrefix;
          if (prefix_.size() > name_.size()) decide(out);
        }
        break;
      case State::kPrefix:
        prefix_.push_back(c);
        if (prefix_.size() > name_.size() || c == '\n') decide(out);
        break;
      case State::kKeep:
        out->push_back(c);
        if (c == '\n') state_ = State::kLineStart;
        break;
      case State::kDrop:
        if (c == '\n') state_ = State::kLineStart;
        break;
    }
  }
}

void DotEncoder::feed(std::string_view in, std::string* out) {
  for (char c : in) {
    if (line_start_ && c == '.') out->push_back('.');
    out->push_back(c);
    line_start_ = c == '\n';
  }
}

void DotEncoder::finish(std::string* out) {
  if (!line_start_) out->append("\r\n");
  out->append(".\r\n");
  line_start_ = true;
}

Result<ReplyLine> parse_reply_line(std::string_view line) {
  auto digit = [&](size_t i) { return line.size() > i && line[i] >= '0' && line[i] <= '9'; };
  if (!digit(0) || !digit(1) || !digit(2) || line[0] < '2' || line[0] > '5') {
    return Status(Code::kProtocolError, "not a reply line");
  }
  ReplyLine r;
  r.code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  if (line.size() == 3) return r;
  if (line[3] != ' ' && line[3] != '-') return Status(Code::kProtocolError, "not a reply line");
  r.last = line[3] == ' ';
  r.text = std::string(line.substr(4));
  return r;
}

}  // namespace replimail::lmtp
