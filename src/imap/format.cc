#include "imap/format.h"

#include <fmt/format.h>

#include <cstring>

#include "store/record.h"

namespace replimail::imap {

namespace {

// A synchronizing literal of s. fmt rather than `"{" + ... + std::string(s)`
// here and below: GCC 12 at -O3 reports a false -Wrestrict inside the
// inlined operator+ (gone in GCC 13).
std::string literal(std::string_view s) { return fmt::format("{{{}}}\r\n{}", s.size(), s); }

}  // namespace

std::string imap_string(std::string_view s) {
  bool quotable = s.size() < 1024;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u == 0 || u == '\r' || u == '\n' || u >= 0x80) {
      quotable = false;
      break;
    }
  }
  if (!quotable) return literal(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

std::string cyrus_string(std::string_view s) {
  bool quotable = s.size() < 1024;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u == 0 || u >= 0x80 || c == '\r' || c == '\n' || c == '"' || c == '%' || c == '\\') {
      quotable = false;
      break;
    }
  }
  if (!quotable) return literal(s);
  return fmt::format("\"{}\"", s);
}

std::string imap_astring(std::string_view s) {
  bool atom = !s.empty() && s.size() < 1024 && s != "NIL" && s != "nil";
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '(' || c == ')' || c == '{' || c == '%' || c == '*' ||
        c == '"' || c == '\\' || c == ']') {
      atom = false;
      break;
    }
  }
  return atom ? std::string(s) : imap_string(s);
}

void append_flag_list(std::string* out, uint32_t system_flags, bool recent,
                      const std::vector<std::string>& keywords) {
  static const std::pair<uint32_t, const char*> kOrder[] = {{store::kFlagAnswered, "\\Answered"},
                                                            {store::kFlagFlagged, "\\Flagged"},
                                                            {store::kFlagDraft, "\\Draft"},
                                                            {store::kFlagDeleted, "\\Deleted"},
                                                            {store::kFlagSeen, "\\Seen"}};
  *out += '(';
  bool first = true;
  auto add = [&](std::string_view f) {
    if (!first) *out += ' ';
    first = false;
    *out += f;
  };
  for (const auto& [bit, name] : kOrder) {
    if (system_flags & bit) add(name);
  }
  if (recent) add("\\Recent");
  for (const auto& k : keywords) add(k);
  *out += ')';
}

std::string flag_list(uint32_t system_flags, bool recent,
                      const std::vector<std::string>& keywords) {
  std::string out;
  append_flag_list(&out, system_flags, recent, keywords);
  return out;
}

std::string email_id(std::string_view guid) { return fmt::format("M{}", guid.substr(0, 24)); }

}  // namespace replimail::imap
