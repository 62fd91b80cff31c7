#include "synclog/line.h"

#include <gtest/gtest.h>

namespace replimail::synclog {
namespace {

std::string quote(std::string_view v) {
  auto r = quote_value(v);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? *r : "";
}

TEST(QuoteValue, FollowsSyncQuoteName) {
  EXPECT_EQ(quote(""), "\"\"");
  EXPECT_EQ(quote("user.bob"), "user.bob");
  EXPECT_EQ(quote("user.bob.Sent Items"), "\"user.bob.Sent Items\"");
  EXPECT_EQ(quote("a\tb"), "\"a\tb\"");
  EXPECT_EQ(quote("x(y)"), "\"x(y)\"");
  EXPECT_EQ(quote("a\\b"), "\"a\\\\b\"");
  EXPECT_EQ(quote("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(quote("{5}"), "\"\\{5\\}\"");
  EXPECT_EQ(quote("bob@example.com"), "bob@example.com");
  EXPECT_EQ(quote("%*&"), "%*&");
}

TEST(QuoteValue, LineBreaksAndOverlongValuesAreErrors) {
  EXPECT_EQ(quote_value("a\nb").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(quote_value("a\rb").status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(quote_value(std::string(1023, 'a')).ok());
  EXPECT_FALSE(quote_value(std::string(1024, 'a')).ok());
  EXPECT_FALSE(quote_value(std::string(600, '"')).ok());
}

TEST(FormatLine, Shapes) {
  EXPECT_EQ(*format_line({"MAILBOX", {"user.bob"}}), "MAILBOX user.bob\n");
  EXPECT_EQ(*format_line({"SEEN", {"bob", "3f6c-1"}}), "SEEN bob 3f6c-1\n");
  EXPECT_EQ(*format_line({"ANNOTATION", {""}}), "ANNOTATION \"\"\n");
  EXPECT_EQ(*format_line({"SUB", {"bob", "user.bob.a b"}}), "SUB bob \"user.bob.a b\"\n");
  EXPECT_FALSE(format_line({"", {"x"}}).ok());
  EXPECT_FALSE(format_line({"MAILBOX", {}}).ok());
  EXPECT_FALSE(format_line({"MAIL BOX", {"x"}}).ok());
  EXPECT_FALSE(format_line({"MAILBOX", {"x\n"}}).ok());
  EXPECT_FALSE(format_line({"SEEN", {"a", "b", "c"}}).ok());
  EXPECT_FALSE(format_line({std::string(4000, 'K'), {std::string(100, 'v')}}).ok());
}

TEST(ParseLine, Astrings) {
  EXPECT_EQ(*parse_line("mailbox user.bob\n"), (Line{"MAILBOX", {"user.bob"}}));
  EXPECT_EQ(*parse_line("SEEN bob 1234\r\n"), (Line{"SEEN", {"bob", "1234"}}));
  EXPECT_EQ(*parse_line("SUB bob \"a b\\\"c\\\\\""), (Line{"SUB", {"bob", "a b\"c\\"}}));
  EXPECT_EQ(*parse_line("MAILBOX {5+}\r\na\nb c\n"), (Line{"MAILBOX", {"a\nb c"}}));
  EXPECT_EQ(*parse_line("MAILBOX {3}\nxyz"), (Line{"MAILBOX", {"xyz"}}));
  EXPECT_EQ(*parse_line("ANNOTATION \"\""), (Line{"ANNOTATION", {""}}));
}

TEST(ParseLine, Malformed) {
  for (const char* bad : {"MAILBOX", "MAILBOX ", "MAILBOX\tx", "MAILBOX a b c", "MAILBOX \"open",
                          "MAILBOX x(", "MAILBOX {9}\r\nabc", "MAILBOX {}\r\n", "(x y",
                          "MAILBOX {99999999999}\r\n", "\"q\" x", "A x\nB y"}) {
    EXPECT_FALSE(parse_line(bad).ok()) << bad;
  }
}

TEST(ParseLog, SkipsBlankAndMalformedLinesAndGoesOn) {
  std::string log =
      "MAILBOX user.a\n"
      "\n"
      "\r\n"
      "BOGUS\n"
      "MAILBOX x)y\n"
      "MAILBOX {12}\r\nUSER evil\nx\n\n"
      "user bob\n"
      "SEEN bob \"id\" extra\n"
      "QUOTA user.c";
  ParsedLog p = parse_log(log);
  ASSERT_EQ(p.lines.size(), 3u);
  EXPECT_EQ(p.lines[0], (Line{"MAILBOX", {"user.a"}}));
  EXPECT_EQ(p.lines[1], (Line{"MAILBOX", {"USER evil\nx\n"}}));
  EXPECT_EQ(p.lines[2], (Line{"USER", {"bob"}}));
  ASSERT_EQ(p.errors.size(), 4u);
  EXPECT_EQ(p.errors[0], "line 4: Invalid input");
  EXPECT_EQ(p.errors[1], "line 5: Garbage at end of input line");
  EXPECT_EQ(p.errors[2], "line 11: Garbage at end of input line");
  EXPECT_EQ(p.errors[3], "line 12: truncated line");
}

TEST(ParseLog, MalformedLineWithLiteralIsSkippedWhole) {
  ParsedLog p = parse_log("MAILBOX {10}\r\nUSER a\nb\n junk\nUSER c\n");
  ASSERT_EQ(p.lines.size(), 1u);
  EXPECT_EQ(p.lines[0], (Line{"USER", {"c"}}));
  EXPECT_EQ(p.errors.size(), 1u);
}

TEST(FormatParse, RoundTrip) {
  const std::vector<Line> lines = {
      {"USER", {"bob@example.com"}},
      {"MAILBOX", {"example.com!user.bob^smith.Sent Items"}},
      {"RENAME", {"user.a.{x}", "user.a.\"y\""}},
      {"ANNOTATION", {""}},
      {"SUB", {"bob", "a\\b(c)\td"}},
      {"SEEN", {"bob", "0123456789abcdef"}},
      {"APPEND", {"user.bob.caf\xc3\xa9"}},
  };
  std::string all;
  for (const auto& l : lines) all += *format_line(l);
  ParsedLog p = parse_log(all);
  EXPECT_TRUE(p.errors.empty());
  EXPECT_EQ(p.lines, lines);
}

// Section 2 of /work/shared/peer/cyrus/transcript.txt: a Cyrus 3.6.1
// channel log after user activity, byte for byte.
TEST(ParseLog, CyrusChannelLog) {
  const std::string log =
      "MAILBOX user.testuser\nAPPEND user.testuser\nMAILBOX user.testuser.Archive\n"
      "SUB testuser user.testuser.Archive\n"
      "DOUBLEMAILBOX user.testuser user.testuser.Archive\n";
  ParsedLog p = parse_log(log);
  EXPECT_TRUE(p.errors.empty());
  ASSERT_EQ(p.lines.size(), 5u);
  EXPECT_EQ(p.lines[3], (Line{"SUB", {"testuser", "user.testuser.Archive"}}));
  EXPECT_EQ(p.lines[4], (Line{"DOUBLEMAILBOX", {"user.testuser", "user.testuser.Archive"}}));
  std::string again;
  for (const auto& l : p.lines) again += *format_line(l);
  EXPECT_EQ(again, log);
}

}  // namespace
}  // namespace replimail::synclog
