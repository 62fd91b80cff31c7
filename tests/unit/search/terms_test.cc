#include "search/terms.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace replimail::search {
namespace {

std::vector<std::string> terms(std::string_view s) {
  std::vector<std::string> out;
  for (auto t : split_terms(s)) out.emplace_back(t);
  return out;
}

TEST(Terms, SplitsOnAsciiSeparatorsOnly) {
  EXPECT_EQ(terms("hello, world!"), (std::vector<std::string>{"hello", "world"}));
  EXPECT_EQ(terms("a.b@c_d"), (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(terms("  "), std::vector<std::string>{});
  // UTF-8 bytes are never separators: "grüße" stays one term.
  EXPECT_EQ(terms("grüße über-all"), (std::vector<std::string>{"grüße", "über", "all"}));
}

TEST(Terms, NeedleRunsRememberTheirBoundaries) {
  auto runs = needle_runs("lo wor");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].text, "lo");
  EXPECT_FALSE(runs[0].starts_term);
  EXPECT_TRUE(runs[0].ends_term);
  EXPECT_EQ(runs[1].text, "wor");
  EXPECT_TRUE(runs[1].starts_term);
  EXPECT_FALSE(runs[1].ends_term);
  runs = needle_runs("ell");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_FALSE(runs[0].starts_term || runs[0].ends_term);
  EXPECT_TRUE(needle_runs("").empty());
  EXPECT_TRUE(needle_runs(" -@ ").empty());
}

TEST(Terms, RunFitsFollowsBoundaries) {
  NeedleRun infix{"ell", false, false};
  EXPECT_TRUE(run_fits(infix, "hello"));
  EXPECT_FALSE(run_fits(infix, "help"));
  NeedleRun prefix{"wor", true, false};
  EXPECT_TRUE(run_fits(prefix, "world"));
  EXPECT_FALSE(run_fits(prefix, "sword"));
  NeedleRun suffix{"lo", false, true};
  EXPECT_TRUE(run_fits(suffix, "hello"));
  EXPECT_FALSE(run_fits(suffix, "lower"));
  NeedleRun exact{"and", true, true};
  EXPECT_TRUE(run_fits(exact, "and"));
  EXPECT_FALSE(run_fits(exact, "andy"));
}

// The property the index relies on: whenever a folded text contains a
// folded needle, each run of the needle fits some term of the text.
TEST(Terms, EveryOccurrenceIsCoveredByFittingTerms) {
  const std::vector<std::string> texts = {"hello world, and goodbye", "x-y z", "über@example.org",
                                          "a  b", "--a--"};
  for (const std::string& text : texts) {
    for (size_t b = 0; b < text.size(); ++b) {
      for (size_t e = b + 1; e <= text.size(); ++e) {
        std::string needle = text.substr(b, e - b);
        for (const NeedleRun& run : needle_runs(needle)) {
          bool fits = false;
          for (auto t : split_terms(text)) fits = fits || run_fits(run, t);
          EXPECT_TRUE(fits) << "text '" << text << "' needle '" << needle << "' run '" << run.text
                            << "'";
        }
      }
    }
  }
}

}  // namespace
}  // namespace replimail::search
