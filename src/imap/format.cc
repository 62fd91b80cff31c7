#include "imap/format.h"

#include <cstring>

#include "store/record.h"

namespace replimail::imap {

std::string imap_string(std::string_view s) {
  bool quotable = s.size() < 1024;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u == 0 || u == '\r' || u == '\n' || u >= 0x80) {
      quotable = false;
      break;
    }
  }
  if (!quotable) return "{" + std::to_string(s.size()) + "}\r\n" + std::string(s);
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
  if (!quotable) return "{" + std::to_string(s.size()) + "}\r\n" + std::string(s);
  return "\"" + std::string(s) + "\"";
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

std::string flag_list(uint32_t system_flags, bool recent,
                      const std::vector<std::string>& keywords) {
  static const std::pair<uint32_t, const char*> kOrder[] = {{store::kFlagAnswered, "\\Answered"},
                                                            {store::kFlagFlagged, "\\Flagged"},
                                                            {store::kFlagDraft, "\\Draft"},
                                                            {store::kFlagDeleted, "\\Deleted"},
                                                            {store::kFlagSeen, "\\Seen"}};
  std::string out = "(";
  auto add = [&](std::string_view f) {
    if (out.size() > 1) out += ' ';
    out += f;
  };
  for (const auto& [bit, name] : kOrder) {
    if (system_flags & bit) add(name);
  }
  if (recent) add("\\Recent");
  for (const auto& k : keywords) add(k);
  out += ')';
  return out;
}

std::string email_id(std::string_view guid) {
  return "M" + std::string(guid.substr(0, 24));
}

}  // namespace replimail::imap
