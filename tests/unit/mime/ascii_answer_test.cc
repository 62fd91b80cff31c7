// ascii_body_answer(): what a text part's bytes tell of an ASCII needle
// without folding them must be what folding the part tells, in every
// charset, for text made of the characters that fold apart and of those
// that do not (compatibility forms that fold to ASCII, combining marks,
// invalid bytes).
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "mime/body_text.h"
#include "mime/message.h"

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

// Checks every needle against one part; counts the answers.
void check(const std::string& charset, const std::string& content, Tally& tally) {
  const std::string msg = "Content-Type: text/plain; charset=" + charset +
                          "\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + content;
  Message m = Message::from_bytes(msg);
  std::vector<BodySegment> segments;
  list_body_segments(m.root(), segments);
  ASSERT_EQ(segments.size(), 1u);
  std::string scratch;
  std::string_view undone = undone_content(m.bytes(), *segments[0].part, scratch);
  const std::string folded = fold_body_segment(m.bytes(), segments[0], undone);
  for (const std::string& needle : kNeedles) {
    bool expected = folded.find(needle) != std::string::npos;
    switch (ascii_body_answer(segments[0], undone, needle)) {
      case AsciiAnswer::kHit:
        ++tally.hit;
        ASSERT_TRUE(expected) << charset << " '" << needle << "' said hit in '" << content << "'";
        break;
      case AsciiAnswer::kMiss:
        ++tally.miss;
        ASSERT_FALSE(expected) << charset << " '" << needle << "' said miss in '" << content << "'";
        break;
      case AsciiAnswer::kUnknown:
        ++tally.unknown;
        break;
    }
  }
}

TEST(AsciiAnswer, HitsAndMissesAreWhatFoldingThePartGives) {
  std::mt19937 rng(29);
  std::map<std::string, Tally> tallies;
  for (int round = 0; round < 400; ++round) {
    for (const char* charset : {"utf-8", "us-ascii"}) {
      check(charset, random_text(rng, kUtf8Pieces, 1 + rng() % 12), tallies[charset]);
      // Text of ASCII and characters that fold apart only.
      check(charset, random_text(rng, {"cafe", "Fine ", "\xc3\xa9", "\xd0\xb6", "TM", "\xe4\xb8\xad"}, 1 + rng() % 12),
            tallies[std::string(charset) + " apart"]);
    }
    for (const char* charset : {"iso-8859-1", "windows-1252", "koi8-r", "iso-8859-15", "windows-1251",
                                "iso-8859-7", "iso-8859-6", "iso-8859-8", "windows-1258",
                                "iso-2022-jp", "shift_jis", "utf-7",
                                "utf8", "x-no-such-charset"}) {
      check(charset, random_bytes(rng, 1 + rng() % 10), tallies[charset]);
    }
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
TEST(AsciiAnswer, NoHitWhereAMarkComposesWithTheLastLetter) {
  for (const auto& [charset, content] :
       std::vector<std::pair<std::string, std::string>>{{"utf-8", "Cafe\xcc\x81 x"},
                                                        {"windows-1258", "Cafe\xec x"}}) {
    const std::string msg = "Content-Type: text/plain; charset=" + charset + "\r\n\r\n" + content;
    Message m = Message::from_bytes(msg);
    std::vector<BodySegment> segments;
    list_body_segments(m.root(), segments);
    std::string scratch;
    std::string_view undone = undone_content(m.bytes(), *segments[0].part, scratch);
    EXPECT_EQ(ascii_body_answer(segments[0], undone, "cafe"), AsciiAnswer::kUnknown) << charset;
    EXPECT_EQ(ascii_body_answer(segments[0], undone, "caf"), AsciiAnswer::kHit) << charset;
    EXPECT_FALSE(m.body_matches("cafe")) << charset;
    EXPECT_TRUE(m.body_matches("café")) << charset;
  }
}

}  // namespace
}  // namespace replimail::mime
