// Text of a message for SEARCH: header fields with RFC 2047 words decoded,
// bodies with their transfer encoding undone and their charset converted to
// UTF-8, HTML reduced to its text. Decoding and conversion go through GMime
// (and GLib's Unicode tables for folding).
#include <gmime/gmime.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "common/ascii.h"
#include "mime/body_text.h"
#include "mime/message.h"

namespace replimail::mime {

std::string make_valid(std::string_view s) {
  if (g_utf8_validate(s.data(), static_cast<gssize>(s.size()), nullptr)) return std::string(s);
  gchar* v = g_utf8_make_valid(s.data(), static_cast<gssize>(s.size()));
  std::string out(v);
  g_free(v);
  return out;
}

namespace {

void ensure_gmime() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

// Whether decode_header_value() returns `value` as it is: ASCII without
// NUL and without an encoded word (GMime copies such words and the blanks
// between them as they are).
bool decodes_to_itself(std::string_view value) {
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if (u == 0 || u >= 0x80) return false;
  }
  return value.find("=?") == std::string_view::npos;
}

std::string decode_header_value(const std::string& raw) {
  if (decodes_to_itself(raw)) return raw;
  ensure_gmime();
  gchar* d = g_mime_utils_header_decode_text(nullptr, raw.c_str());
  std::string out = d ? d : raw;
  g_free(d);
  return make_valid(out);
}

// Each field of a header block as (name, raw value: what follows the colon
// up to and with the line end that ends the field); with `only`, just the
// fields of that name (case-insensitive). A line without a colon is no
// field. `fn` returns false to stop.
template <typename Fn>
void for_each_raw_field(std::string_view header, Fn&& fn, std::string_view only = {}) {
  if (only.find(':') != std::string_view::npos) return;  // a name holds no colon
  size_t p = 0;
  while (p < header.size() && header[p] != '\r' && header[p] != '\n') {
    size_t next = p;
    do {
      size_t nl = header.find('\n', next);
      next = nl == std::string_view::npos ? header.size() : nl + 1;
    } while (next < header.size() && (header[next] == ' ' || header[next] == '\t'));
    std::string_view field = header.substr(p, next - p);
    // With `only`, a field of that name has its colon right after it: the
    // others are not searched for theirs.
    size_t colon = only.empty() ? field.find(':')
                   : field.size() > only.size() && field[only.size()] == ':' &&
                           iequals(field.substr(0, only.size()), only)
                       ? only.size()
                       : std::string_view::npos;
    if (colon != std::string_view::npos) {
      if (!fn(field.substr(0, colon), field.substr(colon + 1))) return;
    }
    p = next;
  }
}

// A raw value as SEARCH reads it: unfolded (every CR and LF dropped), its
// leading blanks trimmed. A value on one line is a view into `raw`; else
// it is built in `scratch`.
std::string_view unfolded(std::string_view raw, std::string& scratch) {
  size_t end = raw.size();
  if (end > 0 && raw[end - 1] == '\n') --end;
  if (end > 0 && raw[end - 1] == '\r') --end;
  std::string_view out = raw.substr(0, end);
  if (out.find_first_of("\r\n") != std::string_view::npos) {
    scratch.clear();
    for (char c : raw) {
      if (c != '\r' && c != '\n') scratch.push_back(c);
    }
    out = scratch;
  }
  size_t b = out.find_first_not_of(" \t");
  return out.substr(b == std::string_view::npos ? out.size() : b);
}

// Each field of a header block as (name, unfolded value); with `only`, just
// the fields of that name (case-insensitive), the others' values not built.
template <typename Fn>
void for_each_field(std::string_view header, Fn&& fn, std::string_view only = {}) {
  std::string scratch;
  for_each_raw_field(
      header,
      [&](std::string_view name, std::string_view raw) {
        fn(name, std::string(unfolded(raw, scratch)));
        return true;
      },
      only);
}

std::string decoded_header(std::string_view header) {
  std::string out;
  for_each_field(header, [&](std::string_view name, const std::string& value) {
    out.append(name);
    out += ": ";
    out += decode_header_value(value);
    out += '\n';
  });
  return out;
}

// Whether `cd` is iconv_open's failure value, (iconv_t)-1 (compared as an
// integer: no pointer is made from -1).
bool failed_converter(iconv_t cd) { return reinterpret_cast<std::intptr_t>(cd) == -1; }

// A converter from `charset` to UTF-8, reset to its initial state, or
// (iconv_t)-1. Opening one loads a gconv module (dlopen) and closing it
// unloads it, which cost more than the conversion of a typical part: the
// converters are kept, one per charset name (a handful in practice; the
// table is emptied if a message names very many).
iconv_t converter_to_utf8(const std::string& charset) {
  thread_local std::map<std::string, iconv_t> open;
  auto it = open.find(charset);
  if (it == open.end()) {
    if (open.size() >= 64) {
      for (auto& [name, cd] : open) {
        if (!failed_converter(cd)) g_mime_iconv_close(cd);
      }
      open.clear();
    }
    it = open.emplace(charset, g_mime_iconv_open("UTF-8", charset.c_str())).first;
  }
  if (!failed_converter(it->second)) iconv(it->second, nullptr, nullptr, nullptr, nullptr);
  return it->second;
}


// What one byte above 0x7F is in a single-byte charset, for
// ascii_body_answer().
enum class ByteClass : uint8_t {
  kLacking,    // not converted on its own to exactly one character
  kApart,      // a character that folds_apart()
  kCombining,  // a combining mark
  kOther,      // any other character
};

// A character as UTF-8, at most 4 bytes.
struct Utf8Char {
  std::array<char, 4> bytes{};
  uint8_t size = 0;
  std::string_view view() const { return {bytes.data(), size}; }
};

struct ByteClasses {
  std::array<ByteClass, 128> of;
  // Each byte above 0x7F as UTF-8 and, when kApart, its fold (the same
  // length): the converter's answer for that byte alone.
  std::array<Utf8Char, 128> utf8;
  std::array<Utf8Char, 128> folded;
  // Whether a text converts a byte at a time: no byte is a combining
  // mark (glibc's converters for windows-1258 and TCVN compose a letter
  // with the mark after it).
  bool bytewise = false;
};

Utf8Char utf8_char(std::string_view text) {
  Utf8Char c;
  c.size = static_cast<uint8_t>(std::min<size_t>(text.size(), c.bytes.size()));
  std::memcpy(c.bytes.data(), text.data(), c.size);
  return c;
}

// The classes of `charset`'s bytes above 0x7F, through the converter
// to_utf8() uses, or null when it is not a single-byte charset whose ASCII
// bytes are themselves: the bytes 0x01..0x7F must convert to themselves,
// and at least 80 of the others each to one character (ISO-8859-6 has 83;
// multi-byte and 7-bit stateful charsets convert at most the 63 half-width
// katakana of Shift_JIS alone). Kept per charset name, as the converters
// are.
const ByteClasses* single_byte_classes(const std::string& charset) {
  thread_local std::map<std::string, std::optional<ByteClasses>> known;
  auto it = known.find(charset);
  if (it != known.end()) return it->second ? &*it->second : nullptr;
  if (known.size() >= 64) known.clear();
  std::optional<ByteClasses>& slot = known[charset];
  iconv_t cd = converter_to_utf8(charset);
  if (failed_converter(cd)) return nullptr;
  auto convert = [&](std::string_view bytes) -> std::optional<std::string> {
    iconv(cd, nullptr, nullptr, nullptr, nullptr);
    char* out = g_mime_iconv_strndup(cd, bytes.data(), bytes.size());
    if (!out) return std::nullopt;
    std::string text(out);
    g_free(out);
    return text;
  };
  std::string ascii;
  for (int b = 1; b < 0x80; ++b) ascii += static_cast<char>(b);
  if (convert(ascii) != ascii) return nullptr;
  ByteClasses classes;
  classes.bytewise = true;
  int converted = 0;
  for (int b = 0x80; b < 0x100; ++b) {
    ByteClass& c = classes.of[b - 0x80];
    c = ByteClass::kLacking;
    auto text = convert(std::string(1, static_cast<char>(b)));
    if (!text || text->empty() || text->size() > 4 ||
        !g_utf8_validate(text->data(), static_cast<gssize>(text->size()), nullptr) ||
        g_utf8_strlen(text->data(), static_cast<gssize>(text->size())) != 1) {
      continue;
    }
    gunichar u = g_utf8_get_char(text->data());
    if (u < 0x80) continue;  // a byte that becomes ASCII would break the rule
    ++converted;
    classes.utf8[b - 0x80] = utf8_char(*text);
    c = folds_apart(u) ? ByteClass::kApart
        : g_unichar_combining_class(u) != 0 ? ByteClass::kCombining
                                            : ByteClass::kOther;
    if (c == ByteClass::kApart) classes.folded[b - 0x80] = utf8_char(search_fold(*text));
    if (c == ByteClass::kCombining) classes.bytewise = false;
  }
  iconv(cd, nullptr, nullptr, nullptr, nullptr);
  if (converted < 80) return nullptr;
  slot = classes;
  return &*slot;
}

// `bytes` a byte at a time through `table` (UTF-8 for each byte above 0x7F;
// ASCII as it is, lower-cased with `lower`) into `out`: false, `out` then
// meaningless, at a byte whose entry is empty.
bool map_bytes(std::string_view bytes, const std::array<Utf8Char, 128>& table, bool lower,
               std::string& out) {
  // Each byte becomes at most 4; every table entry is copied whole and the
  // end moved by its size.
  out.resize(bytes.size() * 4);
  char* w = out.data();
  for (char ch : bytes) {
    auto b = static_cast<unsigned char>(ch);
    if (b < 0x80) {
      *w++ = lower && b >= 'A' && b <= 'Z' ? static_cast<char>(b + 32) : ch;
      continue;
    }
    const Utf8Char& c = table[b - 0x80];
    if (c.size == 0) return false;
    std::memcpy(w, c.bytes.data(), c.bytes.size());
    w += c.size;
  }
  out.resize(static_cast<size_t>(w - out.data()));
  return true;
}

// `bytes` in a single-byte charset converted a byte at a time through
// `classes`, as its converter gives them: each byte on its own, up to the
// first NUL (where the converter's C string ends; no table entry holds a
// NUL). Nullopt when that is not sure: the charset composes, or a byte
// anywhere converts to no single character (the converter then fails the
// whole text). With `fold`, each character's fold instead, and nullopt
// unless every byte folds apart (only those have a fold in the table).
std::optional<std::string> convert_bytewise(std::string_view bytes, const ByteClasses& classes,
                                            bool fold) {
  std::string out;
  if (!classes.bytewise || !map_bytes(bytes, fold ? classes.folded : classes.utf8, fold, out))
    return std::nullopt;
  if (size_t nul = out.find('\0'); nul != std::string::npos) out.resize(nul);
  return out;
}

std::string to_utf8(const std::string& bytes, const Part& part) {
  std::string charset = part_charset(part);
  if (iequals(charset, "us-ascii") || iequals(charset, "utf-8")) return make_valid(bytes);
  if (const ByteClasses* classes = single_byte_classes(charset)) {
    if (auto text = convert_bytewise(bytes, *classes, false)) return std::move(*text);
  }
  iconv_t cd = converter_to_utf8(charset);
  if (failed_converter(cd)) return make_valid(bytes);
  char* converted = g_mime_iconv_strndup(cd, bytes.data(), bytes.size());
  if (!converted) return make_valid(bytes);
  std::string out = make_valid(converted);
  g_free(converted);
  return out;
}

// Crude HTML to text: tags dropped (script/style content too), a few
// entities decoded.
std::string html_to_text(const std::string& html) {
  std::string out;
  size_t i = 0;
  while (i < html.size()) {
    char c = html[i];
    if (c == '<') {
      size_t end = html.find('>', i);
      if (end == std::string::npos) break;
      std::string tag = html.substr(i + 1, end - i - 1);
      for (char& t : tag) t = static_cast<char>(std::tolower(static_cast<unsigned char>(t)));
      i = end + 1;
      for (const char* skip : {"script", "style"}) {
        if (tag.rfind(skip, 0) == 0) {
          size_t close = html.find(std::string("</") + skip, i);
          if (close == std::string::npos) {
            // Closing tags may differ in case; search case-insensitively.
            std::string lower = html.substr(i);
            for (char& t : lower)
              t = static_cast<char>(std::tolower(static_cast<unsigned char>(t)));
            size_t rel = lower.find(std::string("</") + skip);
            close = rel == std::string::npos ? html.size() : i + rel;
          }
          i = close;
        }
      }
      out += ' ';
    } else if (c == '&') {
      static const std::pair<const char*, const char*> kEntities[] = {
          {"&amp;", "&"},  {"&lt;", "<"},   {"&gt;", ">"}, {"&quot;", "\""},
          {"&apos;", "'"}, {"&nbsp;", " "}, {"&#39;", "'"}};
      bool done = false;
      for (const auto& [ent, rep] : kEntities) {
        if (html.compare(i, std::strlen(ent), ent) == 0) {
          out += rep;
          i += std::strlen(ent);
          done = true;
          break;
        }
      }
      if (!done) {
        out += c;
        ++i;
      }
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

}  // namespace

std::string_view undone_content(std::string_view msg, const Part& p, std::string& scratch) {
  std::string_view raw = msg.substr(p.content_offset, p.content_size);
  if (!p.encoding || *p.encoding == "7BIT" || *p.encoding == "8BIT" || *p.encoding == "BINARY") {
    return raw;
  }
  auto decoded = decode_transfer_encoding(raw, p.encoding);
  if (!decoded) return raw;
  scratch = std::move(*decoded);
  return scratch;
}

std::string body_segment_text(std::string_view msg, const BodySegment& s) {
  ensure_gmime();
  const Part& p = *s.part;
  if (s.header) return decoded_header(msg.substr(p.header_offset, p.header_size));
  std::string scratch;
  std::string text = to_utf8(std::string(undone_content(msg, p, scratch)), p);
  if (p.subtype == "HTML") text = html_to_text(text);
  return text;
}

std::string fold_body_segment(std::string_view msg, const BodySegment& s, std::string_view content) {
  const Part& p = *s.part;
  if (s.header) return search_fold(body_segment_text(msg, s));
  ensure_gmime();
  std::string charset = part_charset(p);
  bool utf8 = iequals(charset, "us-ascii") || iequals(charset, "utf-8");
  if (p.subtype == "HTML") {
    std::string text = utf8 ? make_valid(content) : to_utf8(std::string(content), p);
    return search_fold(html_to_text(text));
  }
  // Plain text in UTF-8 or ASCII is folded straight from the content:
  // search_fold takes invalid UTF-8 as make_valid() would give it, so the
  // copy to_utf8() makes is not needed.
  if (utf8) return search_fold(content);
  // A single-byte charset whose every byte here folds apart: each byte's
  // fold, as search_fold(to_utf8()) would give it, without either.
  if (const ByteClasses* classes = single_byte_classes(charset)) {
    if (auto folded = convert_bytewise(content, *classes, true)) return std::move(*folded);
  }
  return search_fold(to_utf8(std::string(content), p));
}

namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

// Horspool's shift table for an ASCII needle matched ignoring case, kept
// for the last needle: a SEARCH looks for the same one in every message.
const std::array<uint8_t, 256>& nocase_shifts(std::string_view needle) {
  thread_local std::string last;
  thread_local std::array<uint8_t, 256> shift;
  if (needle != last || last.empty()) {
    const size_t m = std::min<size_t>(needle.size(), 255);
    shift.fill(static_cast<uint8_t>(m));
    for (size_t i = needle.size() - m; i + 1 < needle.size(); ++i) {
      auto c = static_cast<unsigned char>(needle[i]);
      auto by = static_cast<uint8_t>(needle.size() - 1 - i);
      shift[c] = by;
      if (c >= 'a' && c <= 'z') shift[c - 32] = by;
    }
    last = needle;
  }
  return shift;
}

// Where `needle` (ASCII, lower-case) occurs in `text` ignoring ASCII case,
// from `from` on: Horspool's algorithm on case-folded bytes (shifts of at
// most 255, which is safe for a longer needle).
size_t find_ascii_nocase(std::string_view text, std::string_view needle, size_t from) {
  const size_t m = needle.size();
  if (m == 0 || text.size() < m) return std::string_view::npos;
  const std::array<uint8_t, 256>& shift = nocase_shifts(needle);
  const char last = needle[m - 1];
  for (size_t at = from; at + m <= text.size();) {
    char c = text[at + m - 1];
    if (lower(c) == last) {
      size_t k = 0;
      while (k + 1 < m && lower(text[at + k]) == needle[k]) ++k;
      if (k + 1 == m) return at;
    }
    at += shift[static_cast<unsigned char>(c)];
  }
  return std::string_view::npos;
}

// True if the UTF-8 text at `p` starts with a character that may combine
// with the one before it (a non-starter, or something not decodable).
bool combines(std::string_view rest) {
  if (rest.empty() || static_cast<unsigned char>(rest[0]) < 0x80) return false;
  gunichar c = g_utf8_get_char_validated(rest.data(), static_cast<gssize>(rest.size()));
  if (c == static_cast<gunichar>(-1) || c == static_cast<gunichar>(-2)) return false;
  return g_unichar_combining_class(c) != 0;
}

}  // namespace

namespace {

// The first case-insensitive hit of `needle` (ASCII) in UTF-8 `content`
// that a combining mark after it does not compose with.
size_t ascii_hit_utf8(std::string_view content, std::string_view needle) {
  for (size_t at = 0;; ++at) {
    at = find_ascii_nocase(content, needle, at);
    // The needle's last letter stays itself in the folded text unless a
    // combining mark after it composes with it (e + U+0301 is é).
    if (at == std::string_view::npos || !combines(content.substr(at + needle.size()))) return at;
  }
}

// A needle around its longest run of ASCII characters; `before` is what
// comes before that run. No run when the needle has no ASCII.
struct Anchored {
  std::string_view before, run;
};

Anchored anchor_of(std::string_view needle) {
  Anchored best;
  for (size_t i = 0; i < needle.size();) {
    size_t j = i;
    while (j < needle.size() && static_cast<unsigned char>(needle[j]) < 0x80) ++j;
    if (j - i > best.run.size()) best = {needle.substr(0, i), needle.substr(i, j - i)};
    i = j + 1;
  }
  return best;
}

// True if `rest` starts with no character or one that composes with nothing
// before it: ASCII or a character that folds apart.
bool starts_apart(std::string_view rest) {
  if (rest.empty() || static_cast<unsigned char>(rest[0]) < 0x80) return true;
  gunichar c = g_utf8_get_char_validated(rest.data(), static_cast<gssize>(std::min<size_t>(rest.size(), 4)));
  return c != static_cast<gunichar>(-1) && c != static_cast<gunichar>(-2) && folds_apart(c);
}

// quick_body_answer() for a needle with non-ASCII characters in UTF-8
// text. Folds that keep each character's length put a hit of the needle
// `before.size()` bytes before a hit of its run.
QuickAnswer unicode_answer_utf8(std::string_view content, std::string_view needle) {
  Anchored a = anchor_of(needle);
  if (a.run.empty()) return QuickAnswer::kUnknown;
  std::string window(needle.size(), '\0');
  for (size_t at = 0;; ++at) {
    at = find_ascii_nocase(content, a.run, at);
    if (at == std::string_view::npos) break;
    if (at < a.before.size() || at - a.before.size() + needle.size() > content.size()) continue;
    size_t start = at - a.before.size();
    if (fold_apart_text(content.substr(start, needle.size()), window.data()) && window == needle &&
        starts_apart(content.substr(start + needle.size()))) {
      return QuickAnswer::kHit;
    }
  }
  return ascii_folds_apart(content) ? QuickAnswer::kMiss : QuickAnswer::kUnknown;
}

// The same in a single-byte charset, a character per byte (the window's
// fold through the table of folds, which only bytes that fold apart have).
QuickAnswer unicode_answer_bytes(std::string_view content, std::string_view needle,
                                 const ByteClasses& classes, bool apart) {
  Anchored a = anchor_of(needle);
  if (a.run.empty()) return QuickAnswer::kUnknown;
  auto chars = [](std::string_view utf8) {
    return static_cast<size_t>(g_utf8_strlen(utf8.data(), static_cast<gssize>(utf8.size())));
  };
  const size_t before = chars(a.before), length = chars(needle);
  std::string window;
  for (size_t at = 0;; ++at) {
    at = find_ascii_nocase(content, a.run, at);
    if (at == std::string_view::npos) break;
    if (at < before || at - before + length > content.size()) continue;
    size_t start = at - before, after = start + length;
    auto next = after < content.size() ? static_cast<unsigned char>(content[after]) : 0;
    if (map_bytes(content.substr(start, length), classes.folded, true, window) && window == needle &&
        (next < 0x80 || classes.of[next - 0x80] == ByteClass::kApart)) {
      return QuickAnswer::kHit;
    }
  }
  return apart ? QuickAnswer::kMiss : QuickAnswer::kUnknown;
}

bool all_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

}  // namespace

QuickAnswer quick_body_answer(const BodySegment& s, std::string_view content,
                              std::string_view needle) {
  const Part& p = *s.part;
  if (s.header || p.subtype == "HTML" || needle.empty()) return QuickAnswer::kUnknown;
  // search_fold drops the text from a NUL on.
  if (std::memchr(content.data(), '\0', content.size()) != nullptr) return QuickAnswer::kUnknown;
  const bool ascii = all_ascii(needle);
  std::string charset = part_charset(p);
  if (iequals(charset, "us-ascii") || iequals(charset, "utf-8")) {
    if (!ascii) return unicode_answer_utf8(content, needle);
    if (ascii_hit_utf8(content, needle) != std::string_view::npos) return QuickAnswer::kHit;
    // No hit, or only hits a mark composes with: then some character does
    // not fold apart, and this says kUnknown.
    return ascii_folds_apart(content) ? QuickAnswer::kMiss : QuickAnswer::kUnknown;
  }
  const ByteClasses* classes = single_byte_classes(charset);
  if (!classes) return QuickAnswer::kUnknown;
  // Every byte must be one the charset converts alone: then to_utf8() of the
  // content is the characters of its bytes, one by one.
  bool apart = true;
  for (unsigned char b : content) {
    if (b < 0x80) continue;
    ByteClass c = classes->of[b - 0x80];
    if (c == ByteClass::kLacking) return QuickAnswer::kUnknown;
    apart = apart && c == ByteClass::kApart;
  }
  if (!ascii) return unicode_answer_bytes(content, needle, *classes, apart);
  for (size_t at = 0;; ++at) {
    at = find_ascii_nocase(content, needle, at);
    if (at == std::string_view::npos) break;
    size_t after = at + needle.size();
    auto next = after < content.size() ? static_cast<unsigned char>(content[after]) : 0;
    if (next < 0x80 || classes->of[next - 0x80] != ByteClass::kCombining) return QuickAnswer::kHit;
  }
  return apart ? QuickAnswer::kMiss : QuickAnswer::kUnknown;
}

std::string decode_header_words(std::string_view raw) {
  return decode_header_value(std::string(raw));
}

std::string cyrus_search_form(std::string_view utf8) {
  std::string valid = make_valid(utf8);
  std::string out;
  for (const gchar* p = valid.c_str(); *p; p = g_utf8_next_char(p)) {
    gunichar c = g_utf8_get_char(p);
    if (c < 0x80) {
      out += static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
      continue;
    }
    GUnicodeType t = g_unichar_type(c);
    if (t == G_UNICODE_SPACE_SEPARATOR || t == G_UNICODE_LINE_SEPARATOR ||
        t == G_UNICODE_PARAGRAPH_SEPARATOR) {
      out += ' ';
      continue;
    }
    gunichar decomposed[G_UNICHAR_MAX_DECOMPOSITION_LENGTH];
    gsize n = g_unichar_fully_decompose(g_unichar_totitle(c), TRUE, decomposed,
                                        G_UNICHAR_MAX_DECOMPOSITION_LENGTH);
    for (gsize i = 0; i < n; ++i) {
      gchar buf[6];
      out.append(buf, static_cast<size_t>(g_unichar_to_utf8(decomposed[i], buf)));
    }
  }
  return out;
}

std::vector<std::string> header_values(std::string_view header, std::string_view name) {
  std::vector<std::string> out;
  for_each_field(
      header,
      [&](std::string_view field, const std::string& value) {
        if (iequals(field, name)) out.push_back(decode_header_value(value));
      },
      name);
  return out;
}

bool header_field_contains(std::string_view header, std::string_view name,
                           std::string_view needle) {
  const std::string& folded = folded_needle(needle);
  const bool ascii_needle = all_ascii(folded);
  bool found = false;
  thread_local std::string scratch;
  for_each_raw_field(
      header,
      [&](std::string_view, std::string_view raw) {
        std::string_view value = unfolded(raw, scratch);
        if (folded.empty()) {
          found = true;
        } else if (decodes_to_itself(value)) {
          // search_fold of ASCII without NUL is its lower case, which holds
          // no byte above 0x7F.
          found = ascii_needle && find_ascii_nocase(value, folded, 0) != std::string_view::npos;
        } else {
          found = contains(search_fold(decode_header_value(std::string(value))), folded);
        }
        return !found;
      },
      name);
  return found;
}
std::string field_search_form(std::string_view header, std::string_view name) {
  std::string out;
  std::string scratch;
  for_each_raw_field(
      header,
      [&](std::string_view, std::string_view raw) {
        std::string_view value = unfolded(raw, scratch);
        if (decodes_to_itself(value)) {
          // search_fold of ASCII without NUL is its lower case.
          for (char c : value) out += lower(c);
        } else {
          out += search_fold(decode_header_value(std::string(value)));
        }
        out += '\0';
        return true;
      },
      name);
  return out;
}

bool search_form_contains(std::string_view form, std::string_view needle) {
  // A folded needle holds no NUL, so it never matches across two values.
  const std::string& folded = folded_needle(needle);
  if (folded.empty()) return !form.empty();
  return contains(form, folded);
}


bool header_text_contains(std::string_view header, std::string_view needle) {
  const std::string& folded = folded_needle(needle);
  if (folded.empty()) return true;
  // The decoded text is each field's name, ": ", its unfolded value and a
  // newline. When the block decodes to itself (ASCII, no NUL, no encoded
  // word, no CR but before LF), a needle without blank, colon, CR or LF
  // found there lies inside one name or one value's bytes as they are in
  // the block (unfolding drops a line end only before a blank): a block
  // that lacks it, ignoring ASCII case, is no match without decoding.
  const bool simple_needle = std::all_of(folded.begin(), folded.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x80 && c != ' ' && c != '\t' && c != ':' &&
           c != '\r' && c != '\n';
  });
  if (simple_needle && decodes_to_itself(header)) {
    bool bare_cr = false;
    for (size_t cr = header.find('\r'); cr != std::string_view::npos && !bare_cr;
         cr = header.find('\r', cr + 1)) {
      bare_cr = cr + 1 == header.size() || header[cr + 1] != '\n';
    }
    if (!bare_cr && find_ascii_nocase(header, folded, 0) == std::string_view::npos) return false;
  }
  return contains(search_fold(decoded_header(header)), folded);
}

std::vector<std::string> Message::header_values(std::string_view name) const {
  const Part& r = root();
  return mime::header_values(bytes().substr(r.header_offset, r.header_size), name);
}

std::string Message::header_text() const {
  const Part& r = root();
  return decoded_header(bytes().substr(r.header_offset, r.header_size));
}

std::string decoded_header_text(std::string_view header) { return decoded_header(header); }

std::string Message::body_text() const {
  std::vector<BodySegment> segments;
  list_body_segments(root(), segments);
  std::string out;
  for (const BodySegment& s : segments) {
    out += body_segment_text(bytes(), s);
    if (!s.header) out += '\n';
  }
  return out;
}

namespace {

// Cyrus writes a name bare only when every byte is an ASCII letter, digit,
// blank or atext special (RFC 5322 3.2.3); anything else, any non-ASCII
// byte included, is quoted.
bool name_needs_quotes(std::string_view name) {
  static constexpr std::string_view kAtextSpecials = "!#$%&'*+-/=?^_`{|}~";
  for (char ch : name) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c >= 0x80) return true;
    if (std::isalnum(c) || std::isspace(c) || kAtextSpecials.find(ch) != std::string_view::npos) {
      continue;
    }
    return true;
  }
  return false;
}

std::string search_address_text(const std::vector<Address>& list) {
  std::string out;
  bool after_address = false;
  for (const Address& a : list) {
    if (!a.domain) {
      if (a.mailbox) {  // group start
        if (after_address) out += ',';
        out += decode_header_value(*a.mailbox) + ":";
        after_address = false;
      } else {  // group end
        out += ';';
        after_address = true;
      }
      continue;
    }
    if (after_address) out += ',';
    if (a.name) {
      std::string name = decode_header_value(*a.name);
      if (name_needs_quotes(name)) {
        out += '"';
        for (char c : name) {
          if (c == '\\' || c == '"') out += '\\';
          out += c;
        }
        out += '"';
      } else {
        out += name;
      }
      out += ' ';
    }
    out += '<';
    if (a.route) out += to_lower(*a.route) + ":";
    out += to_lower(a.mailbox.value_or("")) + "@" + to_lower(*a.domain) + ">";
    after_address = true;
  }
  return out;
}

}  // namespace

std::optional<std::string> Message::search_addresses(std::string_view name) const {
  const Envelope& e = root().envelope;
  if (iequals(name, "from")) return search_address_text(e.from);
  if (iequals(name, "to")) return search_address_text(e.to);
  if (iequals(name, "cc")) return search_address_text(e.cc);
  if (iequals(name, "bcc")) return search_address_text(e.bcc);
  return std::nullopt;
}

bool Message::header_matches(std::string_view name, std::string_view needle) const {
  if (auto addresses = search_addresses(name)) {
    return !addresses->empty() && contains_folded(*addresses, needle);
  }
  const Part& r = root();
  return header_field_contains(bytes().substr(r.header_offset, r.header_size), name, needle);
}

SegmentMatcher::SegmentMatcher(std::string_view bytes, std::vector<BodySegment> segments)
    : bytes_(bytes), segments_(std::move(segments)), folded_(segments_.size()) {}

bool SegmentMatcher::matches(std::string_view needle) const {
  if (needle.empty()) return true;
  const std::string& folded = folded_needle(needle);
  for (size_t i = 0; i < segments_.size(); ++i) {
    if (segment_matches(i, folded)) return true;
  }
  return false;
}

bool SegmentMatcher::segment_matches(size_t i, std::string_view needle) const {
  std::lock_guard lock(mutex_);
  std::optional<std::string>& folded = folded_[i];
  if (!folded) {
    const BodySegment& s = segments_[i];
    std::string scratch;
    std::string_view content = s.header ? std::string_view() : undone_content(bytes_, *s.part, scratch);
    QuickAnswer quick = quick_body_answer(s, content, needle);
    if (quick != QuickAnswer::kUnknown) return quick == QuickAnswer::kHit;
    folded = fold_body_segment(bytes_, s, content);
  }
  return contains(*folded, needle);
}

bool Message::text_matches(std::string_view needle) const {
  const Part& r = root();
  return header_text_contains(bytes().substr(r.header_offset, r.header_size), needle) ||
         body_matches(needle);
}

}  // namespace replimail::mime
