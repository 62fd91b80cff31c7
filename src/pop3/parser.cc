#include "pop3/parser.h"

#include <cctype>

#include "common/ascii.h"

namespace replimail::pop3 {
namespace {

struct VerbName {
  const char* name;
  Verb verb;
};
constexpr VerbName kVerbs[] = {
    {"USER", Verb::kUser}, {"PASS", Verb::kPass}, {"AUTH", Verb::kAuth}, {"STLS", Verb::kStls},
    {"CAPA", Verb::kCapa}, {"STAT", Verb::kStat}, {"LIST", Verb::kList}, {"RETR", Verb::kRetr},
    {"DELE", Verb::kDele}, {"NOOP", Verb::kNoop}, {"RSET", Verb::kRset}, {"QUIT", Verb::kQuit},
    {"TOP", Verb::kTop},   {"UIDL", Verb::kUidl},
};

}  // namespace

Command parse_command(std::string_view line) {
  Command cmd;
  size_t sp = line.find(' ');
  std::string_view verb = line.substr(0, sp);
  for (const VerbName& v : kVerbs) {
    if (iequals(verb, v.name)) cmd.verb = v.verb;
  }
  if (sp == std::string_view::npos) return cmd;
  cmd.rest = line.substr(sp + 1);
  size_t p = 0;
  std::string_view rest = cmd.rest;
  while (p < rest.size()) {
    if (rest[p] == ' ') {
      ++p;
      continue;
    }
    size_t end = rest.find(' ', p);
    if (end == std::string_view::npos) end = rest.size();
    cmd.args.push_back(rest.substr(p, end - p));
    p = end;
  }
  return cmd;
}

std::optional<uint32_t> parse_number(std::string_view s) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  uint64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  if (n > 0xffffffffu) return std::nullopt;
  return static_cast<uint32_t>(n);
}

void append_multiline(std::string& out, std::string_view message,
                      std::optional<uint32_t> top_lines) {
  out.reserve(out.size() + message.size() + message.size() / 64 + 8);
  bool in_header = true;
  uint32_t body_lines = 0;
  size_t p = 0;
  while (p < message.size()) {
    if (!in_header && top_lines && body_lines >= *top_lines) break;
    size_t nl = message.find('\n', p);
    size_t end = nl == std::string_view::npos ? message.size() : nl;
    std::string_view line = message.substr(p, end - p);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty() && line.front() == '.') out += '.';
    out.append(line);
    out += "\r\n";
    if (in_header) {
      if (line.empty()) in_header = false;
    } else {
      ++body_lines;
    }
    p = nl == std::string_view::npos ? message.size() : nl + 1;
  }
  out += ".\r\n";
}

}  // namespace replimail::pop3
