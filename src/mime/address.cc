// RFC 822 address lists the way Cyrus's lib/parseaddr.c reads them, so that
// ENVELOPE prints the same (NIL) names, group markers and
// "unspecified-domain" for malformed addresses. The parser works in place
// on a NUL-terminated copy of the field, writing unquoted/unfolded text
// over the input it has already consumed (output never outruns input).
#include <cctype>
#include <cstring>

#include "mime/fields.h"

namespace replimail::mime {
namespace {

constexpr const char* kUnspecifiedDomain = "unspecified-domain";

bool is_space(int c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
bool is_alnum(int c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

void skip_white(char*& s) {
  int c;
  while ((c = static_cast<unsigned char>(*s))) {
    if (c == '(') {
      int comment = 1;
      ++s;
      while (comment && (c = static_cast<unsigned char>(*s))) {
        ++s;
        if (c == '\\' && *s) {
          ++s;
        } else if (c == '(') {
          ++comment;
        } else if (c == ')') {
          --comment;
        }
      }
      --s;
    } else if (!is_space(c)) {
      break;
    }
    ++s;
  }
}

std::optional<std::string> opt(const char* s) {
  if (!s) return std::nullopt;
  return std::string(s);
}

void append(std::vector<Address>& out, const char* name, const char* route, const char* mailbox,
            const char* domain) {
  Address a;
  if (name && *name) a.name = name;
  if (route && *route) a.route = route;
  a.mailbox = opt(mailbox);
  if (domain && !*domain) domain = kUnspecifiedDomain;
  a.domain = opt(domain);
  out.push_back(std::move(a));
}

// An RFC 822 phrase up to one of `specials`; returns that character (0 at
// the end or on an unbalanced quote, which ends the list).
int phrase(char*& in, const char*& out, const char* specials) {
  char* src = in;
  skip_white(src);
  char* dst = src;
  out = dst;
  for (;;) {
    int c = static_cast<unsigned char>(*src++);
    if (c == '"') {
      while ((c = static_cast<unsigned char>(*src))) {
        ++src;
        if (c == '\\' && *src == '\r' && src[1] == '\n') {
          c = static_cast<unsigned char>(*src);
          ++src;
        }
        if (c == '\r' && *src == '\n') {
          ++src;
          if (*src == ' ' || *src == '\t') continue;
          out = "";
          return 0;
        } else if (std::iscntrl(c)) {
          if (c == '\r' || c == '\n') {
            c = ' ';
          } else if (c != '\t') {
            continue;
          }
        }
        if (c == '"') break;
        if (c == '\\') {
          if (!(c = static_cast<unsigned char>(*src))) {
            out = "";
            return 0;
          }
          ++src;
        }
        *dst++ = static_cast<char>(c);
      }
      if (c != '"') {
        out = "";
        return 0;
      }
    } else if (is_space(c) || c == '(') {
      --src;
      skip_white(src);
      *dst++ = ' ';
    } else if (!c || std::strchr(specials, c)) {
      if (dst > out && dst[-1] == ' ') --dst;
      *dst = '\0';
      in = src;
      return c;
    } else {
      *dst++ = static_cast<char>(c);
    }
  }
}

int domain(char*& in, const char*& out, const char** comment) {
  char* src = in;
  if (comment) *comment = nullptr;
  skip_white(src);
  char* dst = src;
  out = dst;
  for (;;) {
    unsigned char c = static_cast<unsigned char>(*src++);
    if (is_alnum(c) || c == '-' || c == '[' || c == ']' || c == ':' || c > 127) {
      *dst++ = static_cast<char>(c);
      if (comment) *comment = nullptr;
    } else if (c == '.') {
      if (dst > out && dst[-1] != '.') *dst++ = static_cast<char>(c);
      if (comment) *comment = nullptr;
    } else if (c == '(') {
      if (comment) {
        char* cdst = src;
        *comment = cdst;
        int level = 1;
        while (level && (c = static_cast<unsigned char>(*src))) {
          ++src;
          if (c == '(') {
            ++level;
          } else if (c == ')') {
            --level;
          } else if (c == '\\' && (c = static_cast<unsigned char>(*src))) {
            ++src;
          }
          if (level) *cdst++ = static_cast<char>(c);
        }
        *cdst = '\0';
      } else {
        --src;
        skip_white(src);
      }
    } else if (c == '@') {
      *dst++ = static_cast<char>(c);
      if (comment) *comment = nullptr;
    } else if (!is_space(c)) {
      if (dst > out && dst[-1] == '.') --dst;
      *dst = '\0';
      in = src;
      return c;
    }
  }
}

int route(char*& in, const char*& out) {
  char* src = in;
  skip_white(src);
  char* dst = src;
  out = dst;
  for (;;) {
    int c = static_cast<unsigned char>(*src++);
    if (is_alnum(c) || c == '-' || c == '[' || c == ']' || c == ',' || c == '@') {
      *dst++ = static_cast<char>(c);
    } else if (c == '.') {
      if (dst > out && dst[-1] != '.') *dst++ = static_cast<char>(c);
    } else if (is_space(c) || c == '(') {
      --src;
      skip_white(src);
    } else {
      while (dst > out && (dst[-1] == '.' || dst[-1] == ',' || dst[-1] == '@')) --dst;
      *dst = '\0';
      in = src;
      return c;
    }
  }
}

}  // namespace

std::vector<Address> parse_address_list(std::string_view value) {
  std::vector<Address> out;
  // Cyrus parses a C string: stop at an embedded NUL.
  std::string buf(value.substr(0, value.find('\0')));
  char* s = buf.data();
  int ingroup = 0;
  int tok = ' ';
  const char* ph = nullptr;
  const char* mailbox = nullptr;
  const char* dom = nullptr;
  const char* comment = nullptr;
  const char* rt = nullptr;
  while (tok) {
    tok = phrase(s, ph, ingroup ? ",@<;" : ",@<:");
    switch (tok) {
      case ',':
      case '\0':
      case ';':
        if (*ph) append(out, nullptr, nullptr, ph, "");
        if (tok == ';') {
          append(out, nullptr, nullptr, nullptr, nullptr);
          ingroup = 0;
        }
        continue;
      case ':':
        append(out, nullptr, nullptr, ph, nullptr);
        ++ingroup;
        continue;
      case '@':
        tok = domain(s, dom, &comment);
        append(out, comment, nullptr, ph, dom);
        if (tok == ';') {
          append(out, nullptr, nullptr, nullptr, nullptr);
          ingroup = 0;
        }
        continue;
      case '<':
        tok = phrase(s, mailbox, "@>");
        if (tok == '@') {
          rt = nullptr;
          if (!*mailbox) {
            *--s = '@';
            tok = route(s, rt);
            if (tok != ':') {
              append(out, ph, rt, "", "");
              while (tok && tok != '>') tok = static_cast<unsigned char>(*s++);
              continue;
            }
            tok = phrase(s, mailbox, "@>");
            if (tok != '@') {
              append(out, ph, rt, mailbox, "");
              continue;
            }
          }
          tok = domain(s, dom, nullptr);
          append(out, ph, rt, mailbox, dom);
          while (tok && tok != '>') tok = static_cast<unsigned char>(*s++);
          continue;
        }
        append(out, ph, nullptr, mailbox, "");
        continue;
      default:
        continue;
    }
  }
  if (ingroup) append(out, nullptr, nullptr, nullptr, nullptr);
  return out;
}

}  // namespace replimail::mime
