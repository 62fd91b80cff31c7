#include "mime/fields.h"

#include <cctype>
#include <cstddef>
#include <cstring>

#include "common/ascii.h"

namespace replimail::mime {
namespace {

constexpr const char* kTspecials = "()<>@,;:\\\"/[]?=";

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
bool is_tspecial(char c) { return c != '\0' && std::strchr(kTspecials, c) != nullptr; }
bool is_ctl(char c) { return static_cast<signed char>(c) < ' '; }

// Skips blanks, folds and (nested) comments. Returns nullptr at the end of
// the field, as Cyrus's message_parse_rfc822space does. `p` points into a
// NUL-terminated copy of the field value.
const char* skip_space(const char* p) {
  if (!p) return nullptr;
  while (*p && (is_space(*p) || *p == '(')) {
    if (*p == '\n') {
      ++p;
      if (*p != ' ' && *p != '\t') return nullptr;
    } else if (*p == '(') {
      ++p;
      int level = 1;
      while (level) {
        switch (*p) {
          case '\n':
            ++p;
            if (*p == ' ' || *p == '\t') break;
            return nullptr;
          case '\0':
            return nullptr;
          case '\\':
            ++p;
            if (!*p) return nullptr;
            break;
          case '(':
            ++level;
            break;
          case ')':
            --level;
            break;
        }
        ++p;
      }
    } else {
      ++p;
    }
  }
  return *p ? p : nullptr;
}

// Advances *p over a token (RFC 2045) up to a blank, `stop`, '(' or the
// end; false at a control character or tspecial (*p left on it).
bool skip_token(const char** p, char stop) {
  for (; **p && !is_space(**p) && **p != stop && **p != '('; ++*p) {
    if (is_ctl(**p) || is_tspecial(**p)) return false;
  }
  return true;
}

// Advances *p past the quoted string that starts at it (a fold inside is
// allowed); false where the field ends first.
bool skip_quoted(const char** p) {
  const char* q = *p + 1;
  while (*q && *q != '"') {
    if (*q == '\\') {
      ++q;
      if (!*q) return false;
    }
    if (*q == '\r') {
      if (q[1] == '\n' && (q[2] == ' ' || q[2] == '\t')) {
        q += 2;
      } else {
        return false;
      }
    }
    ++q;
  }
  if (!*q++) return false;
  *p = q;
  return true;
}

// The text of a quoted string skip_quoted() accepted: escapes resolved,
// each fold's CRLF taken out.
std::string unquoted(const char* value) {
  std::string v;
  const char* q = value + 1;
  while (*q != '"') {
    if (*q == '\\') {
      ++q;
    } else if (*q == '\r') {
      q += 2;
    }
    v.push_back(*q++);
  }
  return v;
}

// One attribute=value at p (past blanks), p left after its ';' (or null at
// the end of the field). kBad: malformed, p where that was seen; kEnd: the
// field ended before the parameter did.
enum class ParamScan { kGood, kBad, kEnd };
ParamScan scan_param(const char*& p, std::string* attribute, std::string_view* raw) {
  const char* attr = p;
  if (!skip_token(&p, '=')) return ParamScan::kBad;
  attribute->assign(attr, p - attr);
  p = skip_space(p);
  if (!p) return ParamScan::kEnd;
  if (*p++ != '=') return ParamScan::kBad;
  p = skip_space(p);
  if (!p) return ParamScan::kEnd;
  const char* value = p;
  if (*p == '"') {
    if (!skip_quoted(&p)) return ParamScan::kEnd;
  } else if (!skip_token(&p, ';')) {
    return ParamScan::kBad;
  }
  *raw = std::string_view(value, p - value);
  p = skip_space(p);
  if (p && *p++ != ';') return ParamScan::kBad;
  return ParamScan::kGood;
}

// A parameter list after the ';' that follows a type or disposition. As
// Cyrus, a malformed parameter is skipped up to the next ';', and the list
// ends where the field ends inside a parameter.
Params parse_params(const char* p) {
  Params out;
  for (;;) {
    p = skip_space(p);
    if (!p) return out;
    std::string attribute;
    std::string_view raw;
    ParamScan scan = scan_param(p, &attribute, &raw);
    if (scan == ParamScan::kEnd) return out;
    if (scan == ParamScan::kBad) {
      p += std::strcspn(p, ";\r\n");
      if (*p == ';') ++p;
      continue;
    }
    std::string v = !raw.empty() && raw.front() == '"' ? unquoted(raw.data()) : std::string(raw);
    out.emplace_back(to_upper(attribute), std::move(v));
    if (!p) return out;
  }
}

bool needs_2231_escape(unsigned char c) {
  return c <= ' ' || c >= 0x7f || c == '*' || c == '\'' || c == '%' ||
         is_tspecial(static_cast<char>(c));  // c < 0x7f here: the same byte
}

std::string escape_2231(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (needs_2231_escape(c)) {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

// RFC 2231 continuations: "foo*0", "foo*1*", ... folded into "foo" or
// "foo*" (when any section uses the extended syntax), in section order.
void fold_params(Params& params) {
  for (size_t i = 0; i < params.size(); ++i) {
    std::string& attr = params[i].first;
    size_t star = attr.find('*');
    if (star == std::string::npos || star + 1 >= attr.size() || attr[star + 1] != '0') continue;
    bool initial_ext = attr.size() == star + 3 && attr[star + 2] == '*';
    if (attr.size() != star + 2 && !initial_ext) continue;
    bool is_extended = initial_ext;
    std::string base = attr.substr(0, star);
    for (int section = 1; section < 100; ++section) {
      std::string simple = base + "*" + std::to_string(section);
      size_t j = 0;
      bool ext = false;
      for (; j < params.size(); ++j) {
        if (params[j].first == simple) break;
        if (params[j].first == simple + "*") {
          ext = true;
          break;
        }
      }
      if (j == params.size()) break;
      std::string value = params[j].second;
      if (!ext) {
        params[i].second += is_extended ? escape_2231(value) : value;
      } else if (is_extended) {
        params[i].second += value;
      } else {
        params[i].second = "''" + escape_2231(params[i].second) + value;
        is_extended = true;
      }
      params.erase(params.begin() + static_cast<std::ptrdiff_t>(j));
      if (j < i) --i;
    }
    params[i].first = base + (is_extended ? "*" : "");
  }
}

// Reads a token ending at a blank, '(' or one of `stops`; false if a
// control character or tspecial appears in it.
bool token(const char*& p, const char* stops, std::string& out) {
  const char* start = p;
  for (; *p && !is_space(*p) && *p != '(' && !std::strchr(stops, *p); ++p) {
    if (is_ctl(*p) || is_tspecial(*p)) return false;
  }
  out.assign(start, p - start);
  return true;
}

}  // namespace

std::string parse_unstructured(std::string_view value) {
  size_t i = 0;
  while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
  std::string out;
  out.reserve(value.size() - i);
  for (; i < value.size(); ++i) {
    char c = value[i];
    if (c == '\0') break;
    if (c == '\n') {
      if (!out.empty() && out.back() == '\r') out.pop_back();
      continue;
    }
    out.push_back(c);
  }
  return out;
}

ContentType parse_content_type(std::string_view value) {
  std::string buf(value);
  ContentType ct;
  const char* p = skip_space(buf.c_str());
  if (!p) return ct;
  std::string type, subtype;
  if (!token(p, "/", type)) return ct;
  p = skip_space(p);
  if (!p || *p++ != '/') return ct;
  p = skip_space(p);
  if (!p) return ct;
  if (!token(p, ";", subtype)) return ct;
  p = skip_space(p);
  if (p && *p != ';') return ct;
  ct.type = to_upper(type);
  ct.subtype = to_upper(subtype);
  if (p) {
    ct.params = parse_params(p + 1);
    fold_params(ct.params);
  }
  return ct;
}

Disposition parse_disposition(std::string_view value) {
  std::string buf(value);
  Disposition d;
  const char* p = skip_space(buf.c_str());
  if (!p) return d;
  std::string token_text;
  if (!token(p, ";", token_text)) return d;
  p = skip_space(p);
  if (p && *p != ';') return d;
  d.value = to_upper(token_text);
  if (p) {
    d.params = parse_params(p + 1);
    fold_params(d.params);
  }
  return d;
}

std::optional<std::string> parse_encoding(std::string_view value) {
  std::string buf(value);
  const char* p = skip_space(buf.c_str());
  if (!p) return std::nullopt;
  std::string tok;
  if (!token(p, "", tok)) return std::nullopt;
  p = skip_space(p);
  if (p) return std::nullopt;
  return to_upper(tok);
}

std::vector<std::string> parse_language(std::string_view value) {
  std::string buf(value);
  std::vector<std::string> out;
  const char* p = buf.c_str();
  for (;;) {
    p = skip_space(p);
    if (!p) return out;
    const char* start = p;
    for (; *p && !is_space(*p) && *p != ',' && *p != '('; ++p) {
      if (*p != '-' && !std::isalpha(static_cast<unsigned char>(*p))) return out;
    }
    std::string v(start, p - start);
    p = skip_space(p);
    if (p && *p++ != ',') return out;
    out.push_back(to_upper(v));
    if (!p) return out;
  }
}

}  // namespace replimail::mime
