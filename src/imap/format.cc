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

std::string imap_nstring(std::string_view s) { return s.empty() ? "NIL" : imap_string(s); }

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

namespace {
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= uint8_t(bytes[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text == "=") return std::string();
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < text.size(); i += 4) {
    uint32_t v = 0;
    int pad = 0;
    for (size_t j = 0; j < 4; ++j) {
      char c = text[i + j];
      const char* p = c ? std::strchr(kAlphabet, c) : nullptr;
      if (c == '=' && i + 4 == text.size() && j >= 2) {
        ++pad;
        v <<= 6;
        continue;
      }
      if (!p || pad) return std::nullopt;
      v = (v << 6) | static_cast<uint32_t>(p - kAlphabet);
    }
    out += static_cast<char>(v >> 16);
    if (pad < 2) out += static_cast<char>((v >> 8) & 0xFF);
    if (pad < 1) out += static_cast<char>(v & 0xFF);
  }
  return out;
}

std::string email_id(std::string_view guid) {
  return "M" + std::string(guid.substr(0, 24));
}

}  // namespace replimail::imap
