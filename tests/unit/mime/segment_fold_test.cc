// fold_body_segment() and body_segment_text() take shortcuts (a byte at a
// time through tables for single-byte charsets, search_fold's own folding of
// simple characters); their answers must be what converting the whole part
// with its charset's converter and folding it with GLib give, in every
// charset, for text of any bytes.
#include <glib.h>
#include <gmime/gmime.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "mime/body_text.h"
#include "mime/message.h"
#include "one_part.h"

namespace replimail::mime {
namespace {

// The definition: the whole content through the charset's converter (or
// kept as it is when there is none or it fails), made valid, NFKC and case
// folded by GLib.
std::string reference_text(const std::string& charset, const std::string& content) {
  std::string text = content;
  bool unicode = g_ascii_strcasecmp(charset.c_str(), "utf-8") == 0 ||
                 g_ascii_strcasecmp(charset.c_str(), "us-ascii") == 0;
  if (!unicode) {
    iconv_t cd = g_mime_iconv_open("UTF-8", charset.c_str());
    if (reinterpret_cast<std::intptr_t>(cd) != -1) {
      char* out = g_mime_iconv_strndup(cd, content.data(), content.size());
      if (out) text = out;
      g_free(out);
      g_mime_iconv_close(cd);
    }
  }
  gchar* valid = g_utf8_make_valid(text.data(), static_cast<gssize>(text.size()));
  std::string v = g_utf8_validate(text.data(), static_cast<gssize>(text.size()), nullptr) ? text : valid;
  g_free(valid);
  return v;
}

std::string reference_fold(const std::string& utf8) {
  gchar* valid = g_utf8_make_valid(utf8.data(), static_cast<gssize>(utf8.size()));
  gchar* norm = g_utf8_normalize(valid, -1, G_NORMALIZE_NFKC);
  gchar* folded = g_utf8_casefold(norm, -1);
  std::string out(folded);
  g_free(folded);
  g_free(norm);
  g_free(valid);
  return out;
}

// Text of ASCII words, NUL now and then, and bytes above 0x7F (in runs,
// so that multi-byte and composing charsets see sequences).
std::string random_content(std::mt19937& rng, size_t n) {
  static const std::vector<std::string> words = {"Zurich ", "cafe", "FINE", " ", "\r\n", "ss", "K"};
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    unsigned roll = rng() % 16;
    if (roll == 0) {
      out += '\0';
    } else if (roll < 7) {
      for (size_t k = 1 + rng() % 3; k > 0; --k) out += static_cast<char>(0x80 + rng() % 128);
    } else {
      out += words[rng() % words.size()];
    }
  }
  return out;
}

TEST(SegmentFold, EveryCharsetFoldsAsConvertingAndFoldingTheWholePart) {
  g_mime_init();
  std::mt19937 rng(41);
  for (const char* charset :
       {"iso-8859-1", "windows-1252", "koi8-r", "iso-8859-15", "windows-1251", "iso-8859-7",
        "iso-8859-6", "iso-8859-8", "windows-1255", "windows-1258", "tis-620", "cp437",
        "iso-8859-5", "mac", "utf-8", "us-ascii", "iso-2022-jp", "shift_jis", "euc-kr",
        "gb18030", "utf-7", "x-no-such-charset"}) {
    for (int round = 0; round < 300; ++round) {
      std::string content = random_content(rng, 1 + rng() % 12);
      if (round % 3 == 0) {
        // Only bytes that are letters in most single-byte charsets.
        for (char& c : content) {
          if (static_cast<unsigned char>(c) >= 0x80) c = static_cast<char>(0xE0 + rng() % 0x1F);
        }
      }
      OnePart p(charset, content);
      ASSERT_EQ(p.segments.size(), 1u);
      const std::string text = reference_text(charset, std::string(p.undone));
      ASSERT_EQ(body_segment_text(p.message.bytes(), p.segment()), text)
          << charset << " content '" << content << "'";
      ASSERT_EQ(fold_body_segment(p.message.bytes(), p.segment(), p.undone), reference_fold(text))
          << charset << " content '" << content << "'";
    }
  }
}

// search_fold() writes simple characters in place and the rest through
// GLib: long texts that mix both, with folds that change the length
// (ß to ss, the ligature fi to fi, a Kelvin sign to k, ǅ), must fold as GLib
// folds the whole.
TEST(SegmentFold, LongMixedTextFoldsAsGlibDoes) {
  const std::vector<std::string> pieces = {
      "Zürich ", "ÆRØ ", "ПРИВЕТ ", "東京 ", "Straße ", "\xef\xac\x81" "ne ", "\xe2\x84\xaa ",
      "\xc7\x85", "Cafe\xcc\x81 ", "plain ASCII words here, ", "\xff\xfe", "☃€ ", "\r\n"};
  std::mt19937 rng(3);
  for (int round = 0; round < 500; ++round) {
    std::string s;
    for (size_t i = rng() % 200; i > 0; --i) s += pieces[rng() % pieces.size()];
    ASSERT_EQ(search_fold(s), reference_fold(s)) << s;
  }
}

}  // namespace
}  // namespace replimail::mime
