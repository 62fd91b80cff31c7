// quick_body_answer(): what a text part's bytes tell of a needle (ASCII,
// or with non-ASCII characters) without folding them must be what folding
// the part tells, in every charset, for text made of the characters that
// fold apart and of those that do not (compatibility forms that fold to
// ASCII, combining marks, invalid bytes).
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "mime/body_text.h"
#include "mime/message.h"
#include "one_part.h"

namespace replimail::mime {
namespace {

// UTF-8 pieces: ASCII words, characters that fold apart (é, ж, 中, ß is
// not one: it folds to "ss"), and ones that fold to or with ASCII.
const std::vector<std::string> kUtf8Pieces = {
    "cafe",     "itinerary", " ",          "Fine ",       "TM",          "ss",
    "k",        "\xc3\xa9",  "\xd0\xb6",   "\xe4\xb8\xad", "\xc3\x9f",    "\xef\xac\x81",
    "\xe2\x84\xaa", "\xc2\xaa", "\xcc\x81", "\xef\xbc\xa1", "\xc2\xb2",   "\xe2\x84\xa2",
    "\xe2\x80\xa6", "\xff",      "\xc3",       "\xf0\x9d\x90\x80", "\xe2\x80\x9c", "\r\n"};

// Needles that those pieces (or their fold) hold.
const std::vector<std::string> kNeedles = {"cafe", "fine", "fi", "k", "a", "tm", "ss", "2",
                                           "...", "itinerary", "e ", "ine", "ea"};

std::string random_text(std::mt19937& rng, const std::vector<std::string>& pieces, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += pieces[rng() % pieces.size()];
  return out;
}

// Single-byte text: ASCII words and any byte above 0x7F.
std::string random_bytes(std::mt19937& rng, size_t n) {
  static const std::vector<std::string> words = {"cafe", "fine", "itinerary", " ", "TM", "k", "a2"};
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (rng() % 3 == 0) {
      out += static_cast<char>(0x80 + rng() % 128);
    } else {
      out += words[rng() % words.size()];
    }
  }
  return out;
}

struct Tally {
  int hit = 0, miss = 0, unknown = 0;
};

// Needles with non-ASCII characters drawn from the folded text: a piece of
// 2 to 6 characters that holds ASCII and non-ASCII, and the same with an
// ASCII letter changed (mostly a miss).
std::vector<std::string> unicode_needles(std::mt19937& rng, const std::string& folded) {
  std::vector<size_t> starts;  // where characters start
  for (size_t i = 0; i < folded.size(); ++i) {
    if ((static_cast<unsigned char>(folded[i]) & 0xC0) != 0x80) starts.push_back(i);
  }
  starts.push_back(folded.size());
  std::vector<std::string> out;
  for (int k = 0; k < 8 && starts.size() > 2; ++k) {
    size_t from = rng() % (starts.size() - 2);
    size_t to = std::min(starts.size() - 1, from + 2 + rng() % 5);
    std::string piece = folded.substr(starts[from], starts[to] - starts[from]);
    bool ascii = false, other = false;
    for (char c : piece) (static_cast<unsigned char>(c) < 0x80 ? ascii : other) = true;
    if (!ascii || !other || piece.find('\0') != std::string::npos) continue;
    out.push_back(piece);
    for (char& c : piece) {
      if (c >= 'a' && c <= 'z') {
        c = static_cast<char>('a' + (c - 'a' + 1 + rng() % 25) % 26);
        break;
      }
    }
    out.push_back(piece);
  }
  return out;
}

// Checks each needle against one part; counts the answers.
void check_needles(const BodySegment& segment, std::string_view undone, const std::string& folded,
                   const std::string& what, const std::vector<std::string>& needles, Tally& tally) {
  for (const std::string& needle : needles) {
    bool expected = folded.find(needle) != std::string::npos;
    switch (quick_body_answer(segment, undone, needle)) {
      case QuickAnswer::kHit:
        ++tally.hit;
        ASSERT_TRUE(expected) << what << " '" << needle << "' said hit in '" << undone << "'";
        break;
      case QuickAnswer::kMiss:
        ++tally.miss;
        ASSERT_FALSE(expected) << what << " '" << needle << "' said miss in '" << undone << "'";
        break;
      case QuickAnswer::kUnknown:
        ++tally.unknown;
        break;
    }
  }
}

// Checks the ASCII needles and some with non-ASCII characters against one
// part: `tally` counts the first, `unicode` the second.
void check(std::mt19937& rng, const std::string& charset, const std::string& content, Tally& tally,
           Tally& unicode) {
  OnePart p(charset, content);
  ASSERT_EQ(p.segments.size(), 1u);
  const std::string folded = fold_body_segment(p.message.bytes(), p.segment(), p.undone);
  check_needles(p.segment(), p.undone, folded, charset, kNeedles, tally);
  check_needles(p.segment(), p.undone, folded, charset, unicode_needles(rng, folded), unicode);
}

TEST(QuickAnswer, HitsAndMissesAreWhatFoldingThePartGives) {
  std::mt19937 rng(29);
  std::map<std::string, Tally> tallies, unicode;
  for (int round = 0; round < 400; ++round) {
    for (const char* charset : {"utf-8", "us-ascii"}) {
      check(rng, charset, random_text(rng, kUtf8Pieces, 1 + rng() % 12), tallies[charset],
            unicode[charset]);
      // Text of ASCII and characters that fold apart only.
      const std::string apart = std::string(charset) + " apart";
      check(rng, charset,
            random_text(rng, {"cafe", "Fine ", "\xc3\xa9", "\xd0\xb6", "TM", "\xe4\xb8\xad", "\xc3\x89"},
                        1 + rng() % 12),
            tallies[apart], unicode[apart]);
    }
    for (const char* charset : {"iso-8859-1", "windows-1252", "koi8-r", "iso-8859-15", "windows-1251",
                                "iso-8859-7", "iso-8859-6", "iso-8859-8", "windows-1258",
                                "iso-2022-jp", "shift_jis", "utf-7",
                                "utf8", "x-no-such-charset"}) {
      check(rng, charset, random_bytes(rng, 1 + rng() % 10), tallies[charset], unicode[charset]);
    }
  }
  // Needles with non-ASCII characters get definite answers in UTF-8 text
  // that folds apart and in the single-byte charsets.
  for (const char* charset : {"utf-8 apart", "iso-8859-1", "windows-1252", "koi8-r"}) {
    EXPECT_GT(unicode[charset].hit, 100) << charset;
    EXPECT_GT(unicode[charset].miss, 100) << charset;
  }
  EXPECT_EQ(unicode["utf-8 apart"].unknown, 0);
  for (const char* charset : {"iso-2022-jp", "shift_jis", "utf-7", "x-no-such-charset"}) {
    EXPECT_EQ(unicode[charset].hit + unicode[charset].miss, 0) << charset;
  }
  // The quick answers are given where they can be: definite for most parts
  // in UTF-8 and the single-byte charsets, never in the others.
  for (const char* charset : {"utf-8 apart", "us-ascii apart"}) {
    EXPECT_EQ(tallies[charset].unknown, 0) << charset;
    EXPECT_GT(tallies[charset].miss, 0) << charset;
    EXPECT_GT(tallies[charset].hit, 0) << charset;
  }
  for (const char* charset : {"utf-8", "iso-8859-1", "windows-1252", "koi8-r", "windows-1251"}) {
    EXPECT_GT(tallies[charset].hit, 200) << charset;
    EXPECT_GT(tallies[charset].miss, 200) << charset;
  }
  // Single-byte charsets with bytes they lack still answer for the parts
  // without such bytes (ISO-8859-6 defines 83 of the 128).
  for (const char* charset : {"iso-8859-6", "iso-8859-8"}) {
    EXPECT_GT(tallies[charset].hit + tallies[charset].miss, 100) << charset;
    EXPECT_GT(tallies[charset].unknown, 0) << charset;
  }
  for (const char* charset : {"iso-2022-jp", "shift_jis", "utf-7", "utf8", "x-no-such-charset"}) {
    EXPECT_EQ(tallies[charset].hit + tallies[charset].miss, 0) << charset;
  }
}

// A combining mark after the needle's last letter: never a hit, in UTF-8
// or in a single-byte charset that has such marks (windows-1258's 0xEC is
// U+0301).
TEST(QuickAnswer, NoHitWhereAMarkComposesWithTheLastLetter) {
  for (const auto& [charset, content] :
       std::vector<std::pair<std::string, std::string>>{{"utf-8", "Cafe\xcc\x81 x"},
                                                        {"windows-1258", "Cafe\xec x"}}) {
    OnePart p(charset, content);
    EXPECT_EQ(quick_body_answer(p.segment(), p.undone, "cafe"), QuickAnswer::kUnknown) << charset;
    EXPECT_EQ(quick_body_answer(p.segment(), p.undone, "caf"), QuickAnswer::kHit) << charset;
    EXPECT_FALSE(p.message.body_matches("cafe")) << charset;
    EXPECT_TRUE(p.message.body_matches("café")) << charset;
  }
  // A needle with non-ASCII characters whose text a mark composes: the
  // characters around the hit of "rich" do not fold apart, so no answer
  // without folding; and a hit with a mark after it is no hit either.
  for (const auto& [content, needle] : std::vector<std::pair<std::string, std::string>>{
           {"Zu\xcc\x88rich x", "z\xc3\xbcrich"}, {"Zu\xcc\x88rich Z\xc3\xbcrich\xcc\x81", "z\xc3\xbcrich"}}) {
    OnePart p("utf-8", content);
    EXPECT_EQ(quick_body_answer(p.segment(), p.undone, needle), QuickAnswer::kUnknown) << content;
    EXPECT_TRUE(p.message.body_matches("Z\xc3\x9cRICH")) << content;
  }
  // In windows-1258 "d\xe9cafe" then U+0301 is "décafé": no "décafe".
  OnePart p("windows-1258", "d\xe9" "cafe\xec x");
  EXPECT_EQ(quick_body_answer(p.segment(), p.undone, "d\xc3\xa9" "cafe"), QuickAnswer::kUnknown);
  EXPECT_EQ(quick_body_answer(p.segment(), p.undone, "d\xc3\xa9" "caf"), QuickAnswer::kHit);
  EXPECT_FALSE(p.message.body_matches("D\xc3\x89" "CAFE"));
  EXPECT_TRUE(p.message.body_matches("D\xc3\x89" "CAF\xc3\x89"));
}

}  // namespace
}  // namespace replimail::mime
