// search_fold folds ASCII by hand and the rest a run at a time: its answer
// must be what NFKC and case folding of the whole text give (the
// definition; GLib is the reference).
#include <glib.h>
#include <gtest/gtest.h>

#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "mime/message.h"

namespace replimail::mime {
namespace {

std::string reference_fold(const std::string& s) {
  gchar* valid = g_utf8_make_valid(s.data(), static_cast<gssize>(s.size()));
  std::string v(valid);
  g_free(valid);
  gchar* norm = g_utf8_normalize(v.data(), static_cast<gssize>(v.size()), G_NORMALIZE_NFKC);
  gchar* folded = g_utf8_casefold(norm, -1);
  std::string out(folded);
  g_free(folded);
  g_free(norm);
  return out;
}

TEST(SearchFold, PiecesFoldAsTheWholeText) {
  // ASCII, combining marks after ASCII letters, precomposed and compatibility
  // characters, Hangul jamo that compose, a Kelvin sign, invalid bytes.
  const std::vector<std::string> pieces = {
      "a",  "Z",       "e",       " ",        "\n",           "\r\n",         "\xcc\x81",
      "K",  "\xc3\xa9", "\xc3\x9c", "\xef\xac\x81", "\xe2\x84\xaa", "\xe1\x84\x80", "\xe1\x85\xa1",
      ".",  "\xd0\x96", "\xcd\x85", "\xc3",     "\x80",         "\xe2\x91\xa0", "\xc2\xa0"};
  std::mt19937 rng(17);
  for (int round = 0; round < 3000; ++round) {
    std::string s;
    size_t len = rng() % 12;
    for (size_t i = 0; i < len; ++i) s += pieces[rng() % pieces.size()];
    ASSERT_EQ(search_fold(s), reference_fold(s)) << "input: " << s;
  }
  EXPECT_EQ(search_fold("Cafe\xcc\x81 Z\xc3\xbcRICH \xef\xac\x81ne"),
            "caf\xc3\xa9 z\xc3\xbcrich fine");
}

std::string utf8_of(gunichar c) {
  gchar buf[6];
  return std::string(buf, static_cast<size_t>(g_unichar_to_utf8(c, buf)));
}

// search_fold folds the letters of common scripts itself (without GLib):
// every code point of the Basic Multilingual Plane, alone, between ASCII,
// before combining marks, a Hangul vowel and a kana voicing mark, and
// next to another, must fold as GLib folds it.
TEST(SearchFold, EveryBmpCharacterFoldsAsGlibDoes) {
  const std::vector<std::string> after = {"", "b", "\xcc\x81", "\xcc\x88", "\xe3\x82\x99",
                                          "\xe1\x85\xa1", "\xe1\x86\xa8", "\xc3\x9c", "\xd0\xaf"};
  for (gunichar c = 0x80; c < 0x10000; ++c) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    const std::string ch = utf8_of(c);
    for (const std::string& next : after) {
      const std::string s = "A" + ch + next;
      ASSERT_EQ(search_fold(s), reference_fold(s)) << "U+" << std::hex << c;
    }
  }
  std::mt19937 rng(5);
  const gunichar ranges[][2] = {{0xA0, 0xFF},     {0x391, 0x3C9},   {0x400, 0x45F},
                                {0x3041, 0x30FF}, {0x4E00, 0x4E40}, {0x300, 0x36F},
                                {0x2000, 0x20C0}, {0x2190, 0x2800}, {0x3000, 0x3040},
                                {0x1100, 0x11FF}, {0xAC00, 0xAC40}};
  for (int round = 0; round < 20000; ++round) {
    std::string s;
    for (size_t i = rng() % 8; i > 0; --i) {
      const auto& r = ranges[rng() % std::size(ranges)];
      s += rng() % 5 == 0 ? std::string(1, static_cast<char>('A' + rng() % 26))
                          : utf8_of(r[0] + rng() % (r[1] - r[0] + 1));
    }
    ASSERT_EQ(search_fold(s), reference_fold(s)) << "input: " << s;
  }
}

TEST(SearchFold, NeedleFoldedOnceAnswersEveryCall) {
  EXPECT_TRUE(contains_folded("Quarterly REPORT", "report"));
  EXPECT_FALSE(contains_folded("Quarterly", "report"));
  EXPECT_TRUE(contains_folded("the \xef\xac\x81nal word", "FINAL"));
  EXPECT_EQ(folded_needle("Stra\xc3\x9f" "e"), "strasse");
  EXPECT_EQ(folded_needle("ABC"), "abc");
}

}  // namespace
}  // namespace replimail::mime
