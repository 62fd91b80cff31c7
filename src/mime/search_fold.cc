// Folding text for SEARCH: Unicode case folding and NFKC (GLib's), by hand
// for ASCII and for the characters of common scripts that fold on their own.
#include <glib.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>

#include "mime/body_text.h"
#include "mime/message.h"

namespace replimail::mime {

namespace {

// NFKC then case folding through GLib. Text from a NUL on is dropped, as
// g_utf8_make_valid and the NUL-terminated GLib calls drop it.
std::string fold_unicode(std::string_view utf8) {
  std::string valid = make_valid(utf8);
  gchar* norm = g_utf8_normalize(valid.data(), static_cast<gssize>(valid.size()), G_NORMALIZE_NFKC);
  if (!norm) return valid;
  gchar* folded = g_utf8_casefold(norm, -1);
  std::string out(folded);
  g_free(folded);
  g_free(norm);
  return out;
}

// fold_unicode of a run, remembered when short (a word): text repeats its
// non-ASCII words, and GLib's normalisation costs far more than a lookup.
// Bounded: at most 8192 runs of at most 64 bytes, emptied when full.
std::string fold_run(std::string_view run) {
  if (run.size() > 64) return fold_unicode(run);
  thread_local std::unordered_map<std::string, std::string> folded;
  auto it = folded.find(std::string(run));
  if (it != folded.end()) return it->second;
  if (folded.size() >= 8192) folded.clear();
  return folded.emplace(std::string(run), fold_unicode(run)).first->second;
}

// Code points below U+10000 that fold to themselves on their own (NFKC and
// case folding leave them, they have no decomposition, or compose back to
// themselves) and that compose with no character before them: small
// letters of Latin-1, Greek, Cyrillic; kana and CJK ideographs; Hangul
// syllables; the punctuation, symbols, arrows, box drawing and currency
// signs common in mail. A character that could combine with the one after
// it only does so with a combining mark or a jamo, which are not here, so
// a run of these folds a character at a time. search_fold_test checks
// every code point of the BMP against GLib.
constexpr char32_t kSelfFolding[][2] = {
    {0xA1, 0xA7},     {0xA9, 0xA9},     {0xAB, 0xAC},     {0xAE, 0xAE},     {0xB0, 0xB1},
    {0xB6, 0xB7},     {0xBB, 0xBB},     {0xBF, 0xBF},     {0xE0, 0xF6},     {0xF8, 0xFF},
    {0x3B1, 0x3C1},   {0x3C3, 0x3C9},   {0x430, 0x44F},   {0x451, 0x451},   {0x2010, 0x2010},
    {0x2012, 0x2016}, {0x2018, 0x2023}, {0x2027, 0x2027}, {0x2030, 0x2032}, {0x2035, 0x2035},
    {0x2038, 0x203B}, {0x203D, 0x203D}, {0x203F, 0x2046}, {0x204A, 0x2056}, {0x2058, 0x205E},
    {0x20A0, 0x20A7}, {0x20A9, 0x20C0}, {0x2190, 0x2199}, {0x219C, 0x21AD}, {0x21AF, 0x21CC},
    {0x21D0, 0x2203}, {0x2205, 0x2208}, {0x220A, 0x220B}, {0x220D, 0x2223}, {0x2225, 0x2225},
    {0x2227, 0x222B}, {0x222E, 0x222E}, {0x2231, 0x2240}, {0x2242, 0x2243}, {0x2245, 0x2246},
    {0x2248, 0x2248}, {0x224A, 0x225F}, {0x2261, 0x2261}, {0x2263, 0x226C}, {0x2272, 0x2273},
    {0x2276, 0x2277}, {0x227A, 0x227F}, {0x2282, 0x2283}, {0x2286, 0x2287}, {0x228A, 0x22AB},
    {0x22B0, 0x22DF}, {0x22E4, 0x22E9}, {0x22EE, 0x2328}, {0x232B, 0x23FF}, {0x2500, 0x27BF},
    {0x3001, 0x3029}, {0x3030, 0x3035}, {0x3037, 0x3037}, {0x303B, 0x303F}, {0x3041, 0x3096},
    {0x30A1, 0x30FD}, {0x3400, 0x4DBF}, {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3},
};

// kSelfFolding as one bit per code point below U+10000.
constexpr std::array<uint64_t, 1024> self_folding_bits() {
  std::array<uint64_t, 1024> bits{};
  for (const auto& r : kSelfFolding) {
    for (char32_t c = r[0]; c <= r[1]; ++c) bits[c >> 6] |= uint64_t{1} << (c & 63);
  }
  return bits;
}
constexpr std::array<uint64_t, 1024> kSelfFoldingBits = self_folding_bits();

// The folded form of code point `c` (below U+10000) when it is simple: a
// capital of Latin-1, Greek or Cyrillic (one small letter, and nothing
// composes with it), or a kSelfFolding character. 0 otherwise (fold
// through GLib).
char32_t simple_fold(char32_t c) {
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 0x20;     // Latin-1 capitals
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 0x20;  // Greek capitals
  if (c >= 0x410 && c <= 0x42F) return c + 0x20;                // Cyrillic capitals
  if (c == 0x401) return 0x451;                                 // Ё
  return (kSelfFoldingBits[c >> 6] >> (c & 63)) & 1 ? c : 0;
}

// The code point of the 2- or 3-byte UTF-8 sequence at s[i] and its length,
// or a length of 0 when there is none (invalid, truncated, overlong, or
// beyond the Basic Multilingual Plane).
size_t decode_bmp(std::string_view s, size_t i, char32_t& c) {
  auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const size_t n = s.size();
  if ((at(i) & 0xE0) == 0xC0 && i + 1 < n && (at(i + 1) & 0xC0) == 0x80) {
    c = (char32_t{at(i)} & 0x1F) << 6 | (at(i + 1) & 0x3F);
    return c < 0x80 ? 0 : 2;
  }
  if ((at(i) & 0xF0) == 0xE0 && i + 2 < n && (at(i + 1) & 0xC0) == 0x80 &&
      (at(i + 2) & 0xC0) == 0x80) {
    c = (char32_t{at(i)} & 0x0F) << 12 | (char32_t{at(i + 1)} & 0x3F) << 6 | (at(i + 2) & 0x3F);
    return c < 0x800 ? 0 : 3;
  }
  return 0;
}

// Writes the fold of `run` (ASCII, then non-ASCII) to `dst` when every
// character is ASCII or simple_fold(): then each folds on its own, to a
// character of the same UTF-8 length, and nothing composes; exactly
// run.size() bytes are written. False otherwise (`dst` then holds some
// bytes of no meaning).
bool fold_simple_run(std::string_view run, char* dst) {
  size_t i = 0;
  while (i < run.size()) {
    auto b0 = static_cast<unsigned char>(run[i]);
    if (b0 < 0x80) {
      dst[i] = static_cast<char>(b0 >= 'A' && b0 <= 'Z' ? b0 + 32 : b0);
      ++i;
      continue;
    }
    char32_t c = 0;
    const size_t len = decode_bmp(run, i, c);
    const char32_t f = len ? simple_fold(c) : 0;
    if (f == 0) return false;
    if (len == 2) {  // simple_fold() keeps a character below U+0800 there
      dst[i] = static_cast<char>(0xC0 | (f >> 6));
      dst[i + 1] = static_cast<char>(0x80 | (f & 0x3F));
    } else {
      dst[i] = static_cast<char>(0xE0 | (f >> 12));
      dst[i + 1] = static_cast<char>(0x80 | ((f >> 6) & 0x3F));
      dst[i + 2] = static_cast<char>(0x80 | (f & 0x3F));
    }
    i += len;
  }
  return true;
}

constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHigh = 0x8080808080808080ULL;

// The end of the ASCII bytes of `s` from `i` on, eight at a time.
size_t ascii_end(std::string_view s, size_t i) {
  while (i + 8 <= s.size()) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if (w & kHigh) break;
    i += 8;
  }
  while (i < s.size() && static_cast<unsigned char>(s[i]) < 0x80) ++i;
  return i;
}

// `n` ASCII bytes from `src` lower-cased into `dst`, eight at a time: in
// a word of bytes below 0x80, adding 0x80 - 'A' sets a byte's top bit
// where it is 'A' or above, adding 0x80 - 'Z' - 1 where it is above 'Z'
// (no carry crosses a byte), and the difference is where to add 0x20.
void lower_ascii(const char* src, size_t n, char* dst) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, src + i, 8);
    uint64_t upper = (w + (0x80 - 'A') * kOnes) & ~(w + (0x80 - 'Z' - 1) * kOnes) & kHigh;
    w |= upper >> 2;
    std::memcpy(dst + i, &w, 8);
  }
  for (; i < n; ++i) {
    char c = src[i];
    dst[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  }
}

}  // namespace

bool folds_apart(char32_t c) { return c >= 0x80 && c < 0x10000 && simple_fold(c) != 0; }

bool fold_apart_text(std::string_view utf8, char* dst) {
  if (std::memchr(utf8.data(), '\0', utf8.size()) != nullptr) return false;
  return fold_simple_run(utf8, dst);
}

bool ascii_folds_apart(std::string_view utf8) {
  size_t i = 0;
  while ((i = ascii_end(utf8, i)) < utf8.size()) {
    char32_t c = 0;
    const size_t len = decode_bmp(utf8, i, c);
    if (len == 0 || !folds_apart(c)) return false;  // invalid, beyond the BMP, or not apart
    i += len;
  }
  return true;
}

std::string search_fold(std::string_view utf8) {
  if (utf8.find('\0') != std::string_view::npos) return fold_unicode(utf8);
  // ASCII by hand, the rest a run at a time (by hand when simple, else
  // through GLib). Every ASCII character is a normalisation boundary (a
  // starter that composes with nothing before it) and folds to itself
  // lower-cased, so folding the pieces gives what folding the whole text at
  // once gives. An ASCII character followed by non-ASCII goes with that
  // run: it may compose with a combining mark after it. Simple folds keep
  // the length, so `out` is written in place; `w` is its end, and out.size()
  // stays at least w + what is left of the input.
  const size_t n = utf8.size();
  std::string out(n, '\0');
  size_t w = 0;
  size_t i = 0;
  while (i < n) {
    size_t k = ascii_end(utf8, i);
    // [i, k) is ASCII; its last character goes with the run after it.
    size_t end = k == n ? n : (k > i ? k - 1 : i);
    lower_ascii(utf8.data() + i, end - i, out.data() + w);
    w += end - i;
    i = end;
    if (i == n) break;
    size_t j = i + 1;
    while (j < n && static_cast<unsigned char>(utf8[j]) >= 0x80) ++j;
    std::string_view run = utf8.substr(i, j - i);
    if (fold_simple_run(run, out.data() + w)) {
      w += run.size();
    } else {
      std::string folded = fold_run(run);
      if (w + folded.size() + (n - j) > out.size()) out.resize(w + folded.size() + (n - j));
      std::memcpy(out.data() + w, folded.data(), folded.size());
      w += folded.size();
    }
    i = j;
  }
  out.resize(w);
  return out;
}

const std::string& folded_needle(std::string_view needle) {
  // A SEARCH folds the same needle once per message: keep the last one.
  thread_local std::string last_needle, last_folded;
  if (needle != last_needle || last_needle.empty()) {
    last_folded = search_fold(needle);
    last_needle = needle;
  }
  return last_folded;
}

bool contains(std::string_view haystack, std::string_view needle) {
  if (needle.empty()) return true;
  return memmem(haystack.data(), haystack.size(), needle.data(), needle.size()) != nullptr;
}

bool contains_folded(std::string_view haystack, std::string_view needle) {
  if (needle.empty()) return true;
  return contains(search_fold(haystack), folded_needle(needle));
}

}  // namespace replimail::mime
