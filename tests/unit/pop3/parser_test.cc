#include "pop3/parser.h"

#include <gtest/gtest.h>

namespace replimail::pop3 {
namespace {

TEST(Pop3Parser, VerbsAreCaseInsensitive) {
  EXPECT_EQ(parse_command("user bob").verb, Verb::kUser);
  EXPECT_EQ(parse_command("StAt").verb, Verb::kStat);
  EXPECT_EQ(parse_command("TOP 1 5").verb, Verb::kTop);
  EXPECT_EQ(parse_command("UIDL").verb, Verb::kUidl);
  EXPECT_EQ(parse_command("STATX").verb, Verb::kUnknown);
  EXPECT_EQ(parse_command("").verb, Verb::kUnknown);
  EXPECT_EQ(parse_command(" STAT").verb, Verb::kUnknown);
}

TEST(Pop3Parser, ArgumentsAndRest) {
  Command c = parse_command("PASS my secret  pass");
  EXPECT_EQ(c.verb, Verb::kPass);
  EXPECT_EQ(c.rest, "my secret  pass");
  ASSERT_EQ(c.args.size(), 3u);
  EXPECT_EQ(c.args[0], "my");
  EXPECT_EQ(c.args[2], "pass");
  Command top = parse_command("TOP  3   10");
  ASSERT_EQ(top.args.size(), 2u);
  EXPECT_EQ(top.args[0], "3");
  EXPECT_EQ(top.args[1], "10");
  EXPECT_TRUE(parse_command("STAT").args.empty());
}

TEST(Pop3Parser, Numbers) {
  EXPECT_EQ(parse_number("0"), 0u);
  EXPECT_EQ(parse_number("42"), 42u);
  EXPECT_EQ(parse_number("4294967295"), 4294967295u);
  EXPECT_FALSE(parse_number("4294967296"));
  EXPECT_FALSE(parse_number("99999999999"));
  EXPECT_FALSE(parse_number(""));
  EXPECT_FALSE(parse_number("-1"));
  EXPECT_FALSE(parse_number("+1"));
  EXPECT_FALSE(parse_number("1a"));
}

TEST(Pop3Parser, MultilineStuffsDotsAndEndsWithDot) {
  std::string out;
  append_multiline(out, "A: b\r\n\r\n.line\r\nplain\r\n..two\r\n");
  EXPECT_EQ(out, "A: b\r\n\r\n..line\r\nplain\r\n...two\r\n.\r\n");
}

TEST(Pop3Parser, MultilineNormalisesBareLfAndMissingFinalNewline) {
  std::string out;
  append_multiline(out, "A: b\n\nbody");
  EXPECT_EQ(out, "A: b\r\n\r\nbody\r\n.\r\n");
  out.clear();
  append_multiline(out, "");
  EXPECT_EQ(out, ".\r\n");
}

TEST(Pop3Parser, TopSendsHeaderBlankLineAndNLines) {
  std::string msg = "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n";
  std::string out;
  append_multiline(out, msg, 0);
  EXPECT_EQ(out, "A: 1\r\nB: 2\r\n\r\n.\r\n");
  out.clear();
  append_multiline(out, msg, 2);
  EXPECT_EQ(out, "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n.\r\n");
  out.clear();
  append_multiline(out, msg, 100);
  EXPECT_EQ(out, msg + ".\r\n");
}

}  // namespace
}  // namespace replimail::pop3
