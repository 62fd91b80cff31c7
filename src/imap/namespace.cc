#include "imap/namespace.h"

#include <vector>

#include "imap/parser.h"
#include "store/mboxname.h"

namespace replimail::imap {
namespace {

Status badname(std::string_view name, std::string_view why) {
  std::string text(name.substr(0, 200));
  text += ": ";
  text += why;
  return Status(Code::kMailboxBadName, std::move(text));
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (true) {
    size_t next = s.find(sep, pos);
    out.push_back(
        s.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos));
    if (next == std::string_view::npos) break;
    pos = next + 1;
  }
  return out;
}

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == ',') return 63;
  return -1;
}

void append_utf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Decodes one base64 run (between '&' and '-') to UTF-8; false if invalid.
bool decode_run(std::string_view run, std::string* out) {
  std::vector<uint16_t> units;
  uint32_t bits = 0;
  int nbits = 0;
  for (char c : run) {
    int v = b64_value(c);
    if (v < 0) return false;
    bits = (bits << 6) | static_cast<uint32_t>(v);
    nbits += 6;
    if (nbits >= 16) {
      nbits -= 16;
      units.push_back(static_cast<uint16_t>((bits >> nbits) & 0xFFFF));
    }
  }
  // Leftover bits must be padding: fewer than 6 and all zero.
  if (nbits >= 6 || (bits & ((1u << nbits) - 1)) != 0 || units.empty()) return false;
  for (size_t i = 0; i < units.size(); ++i) {
    uint32_t cp = units[i];
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (i + 1 >= units.size() || units[i + 1] < 0xDC00 || units[i + 1] > 0xDFFF) return false;
      cp = 0x10000 + ((cp - 0xD800) << 10) + (units[++i] - 0xDC00);
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
      return false;
    } else if (cp >= 0x20 && cp <= 0x7E) {
      return false;  // printable ASCII must be written directly
    }
    append_utf8(cp, out);
  }
  return true;
}

}  // namespace

NamespaceOptions NamespaceOptions::from_config(const Config& cfg) {
  NamespaceOptions o;
  if (cfg.raw("altnamespace")) o.altnamespace = cfg.get_bool("altnamespace");
  if (cfg.raw("unixhierarchysep")) o.unixhierarchysep = cfg.get_bool("unixhierarchysep");
  if (auto v = cfg.raw("userprefix")) o.userprefix = *v;
  if (auto v = cfg.raw("sharedprefix")) o.sharedprefix = *v;
  return o;
}

Namespace::Namespace(NamespaceOptions options, std::string userid, bool is_admin)
    : options_(std::move(options)),
      userid_(std::move(userid)),
      alt_(options_.altnamespace && !is_admin) {}

Result<std::string> Namespace::join_components(std::string_view rest) const {
  std::string out;
  for (std::string_view comp : split(rest, separator())) {
    if (comp.empty()) return badname(rest, "empty hierarchy component");
    if (!out.empty()) out += '.';
    for (char c : comp) {
      if (separator() == '/' && c == '^') return badname(rest, "'^' is not allowed");
      if (separator() == '.' && c == '/') return badname(rest, "'/' is not allowed");
      out += (separator() == '/' && c == '.') ? '^' : c;
    }
  }
  return out;
}

std::string Namespace::external_components(std::string_view internal_rest) const {
  std::string out;
  for (char c : internal_rest) {
    if (c == '.') {
      out += separator();
    } else {
      out += (separator() == '/' && c == '^') ? '.' : c;
    }
  }
  return out;
}

Result<std::string> Namespace::to_internal(std::string_view name) const {
  if (name.empty()) return badname(name, "empty name");
  if (!valid_mutf7(name)) return badname(name, "invalid modified UTF-7");
  const char sep = separator();
  size_t first_sep = name.find(sep);
  std::string_view first = name.substr(0, first_sep);
  std::string_view rest =
      first_sep == std::string_view::npos ? std::string_view() : name.substr(first_sep + 1);
  if (first_sep != std::string_view::npos && rest.empty()) {
    return badname(name, "trailing hierarchy separator");
  }
  std::string inbox = userid_.empty() ? "" : store::user_inbox(userid_);
  std::string out;
  auto with_rest = [&](std::string base, std::string_view r) -> Result<std::string> {
    if (r.empty()) return base;
    auto comps = join_components(r);
    if (!comps.ok()) return comps.status();
    return base.empty() ? *comps : base + "." + *comps;
  };
  Result<std::string> mapped = badname(name, "unmapped");
  if (iequals(first, "INBOX") && !inbox.empty()) {
    mapped = with_rest(inbox, rest);
  } else if (alt_ ? first == options_.userprefix : first == "user") {
    if (rest.empty()) return badname(name, "names the other users' namespace");
    mapped = with_rest("user", rest);
  } else if (alt_ && first == options_.sharedprefix) {
    if (rest.empty()) return badname(name, "names the shared namespace");
    mapped = with_rest("", rest);
    if (mapped.ok() && (*mapped == "user" || mapped->starts_with("user."))) {
      return badname(name, "shared folders cannot be named \"user\"");
    }
  } else if (alt_) {
    if (inbox.empty()) return badname(name, "no personal namespace before login");
    mapped = with_rest(inbox, name);
  } else {
    mapped = with_rest("", name);
  }
  if (!mapped.ok()) return mapped;
  Status st = store::validate_mboxname(*mapped);
  if (!st.is_ok()) return Status(Code::kMailboxBadName, st.message());
  return mapped;
}

std::optional<std::string> Namespace::to_external(std::string_view name) const {
  const char sep = separator();
  if (name == "user") return std::nullopt;
  if (name.starts_with("user.")) {
    std::string_view after = name.substr(5);
    size_t dot = after.find('.');
    std::string_view owner_comp = after.substr(0, dot);
    std::string_view rest =
        dot == std::string_view::npos ? std::string_view() : after.substr(dot + 1);
    if (!userid_.empty() && owner_comp == store::userid_to_component(userid_)) {
      if (rest.empty()) return std::string("INBOX");
      return alt_ ? external_components(rest)
                  : "INBOX" + std::string(1, sep) + external_components(rest);
    }
    std::string prefix = alt_ ? options_.userprefix : "user";
    return prefix + sep + external_components(after);
  }
  if (alt_) return options_.sharedprefix + sep + external_components(name);
  return external_components(name);
}

std::string Namespace::namespace_response() const {
  std::string s(1, separator());
  if (alt_) {
    return "((\"\" \"" + s + "\")) ((\"" + options_.userprefix + s + "\" \"" + s + "\")) ((\"" +
           options_.sharedprefix + s + "\" \"" + s + "\"))";
  }
  return "((\"INBOX" + s + "\" \"" + s + "\")) ((\"user" + s + "\" \"" + s + "\")) ((\"\" \"" + s +
         "\"))";
}

bool valid_mutf7(std::string_view name) { return mutf7_to_utf8(name).has_value(); }

std::optional<std::string> mutf7_to_utf8(std::string_view name) {
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c < 0x20 || c > 0x7E) return std::nullopt;
    if (c != '&') {
      out += c;
      continue;
    }
    size_t end = name.find('-', i + 1);
    if (end == std::string_view::npos) return std::nullopt;
    if (end == i + 1) {
      out += '&';
    } else if (!decode_run(name.substr(i + 1, end - i - 1), &out)) {
      return std::nullopt;
    }
    i = end;
  }
  return out;
}

std::string utf8_to_mutf7(std::string_view utf8) {
  std::string out;
  std::vector<uint16_t> run;
  auto flush = [&] {
    if (run.empty()) return;
    out += '&';
    uint32_t bits = 0;
    int nbits = 0;
    for (uint16_t u : run) {
      bits = (bits << 16) | u;
      nbits += 16;
      while (nbits >= 6) {
        nbits -= 6;
        out += kB64[(bits >> nbits) & 0x3F];
      }
    }
    if (nbits > 0) out += kB64[(bits << (6 - nbits)) & 0x3F];
    out += '-';
    run.clear();
  };
  size_t i = 0;
  while (i < utf8.size()) {
    unsigned char c = static_cast<unsigned char>(utf8[i]);
    uint32_t cp = 0xFFFD;
    size_t len = 1;
    if (c < 0x80) {
      cp = c;
    } else if ((c & 0xE0) == 0xC0 && i + 1 < utf8.size()) {
      cp = ((c & 0x1Fu) << 6) | (utf8[i + 1] & 0x3F);
      len = 2;
    } else if ((c & 0xF0) == 0xE0 && i + 2 < utf8.size()) {
      cp = ((c & 0x0Fu) << 12) | ((utf8[i + 1] & 0x3Fu) << 6) | (utf8[i + 2] & 0x3F);
      len = 3;
    } else if ((c & 0xF8) == 0xF0 && i + 3 < utf8.size()) {
      cp = ((c & 0x07u) << 18) | ((utf8[i + 1] & 0x3Fu) << 12) | ((utf8[i + 2] & 0x3Fu) << 6) |
           (utf8[i + 3] & 0x3F);
      len = 4;
    }
    i += len;
    if (cp >= 0x20 && cp <= 0x7E) {
      flush();
      out += cp == '&' ? "&-" : std::string(1, static_cast<char>(cp));
    } else if (cp >= 0x10000) {
      cp -= 0x10000;
      run.push_back(static_cast<uint16_t>(0xD800 + (cp >> 10)));
      run.push_back(static_cast<uint16_t>(0xDC00 + (cp & 0x3FF)));
    } else {
      run.push_back(static_cast<uint16_t>(cp));
    }
  }
  flush();
  return out;
}

}  // namespace replimail::imap
