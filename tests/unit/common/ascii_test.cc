#include "common/ascii.h"

#include <gtest/gtest.h>

#include <string>

namespace replimail {
namespace {

TEST(Ascii, IequalsFoldsOnlyAsciiLetters) {
  EXPECT_TRUE(iequals("Content-Type", "content-TYPE"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("abc", "abd"));
  EXPECT_FALSE(iequals("abc", "ab"));
  // '@' and '`' sit 32 below/above letters' neighbours: no folding there.
  EXPECT_FALSE(iequals("@", "`"));
  EXPECT_FALSE(iequals("[", "{"));
  // 8-bit bytes compare as themselves (no locale folding).
  EXPECT_FALSE(iequals("\xc9", "\xe9"));
  EXPECT_TRUE(iequals("\xc9", "\xc9"));
}

TEST(Ascii, IequalsIsSymmetric) {
  // pop3's old copy matched only when the second argument was upper case.
  EXPECT_TRUE(iequals("USER", "user"));
  EXPECT_TRUE(iequals("user", "USER"));
  EXPECT_TRUE(iequals("uSeR", "UsEr"));
}

TEST(Ascii, IequalsComparesPastNul) {
  // strncasecmp stopped at the first NUL, so these compared equal.
  using namespace std::string_literals;
  EXPECT_FALSE(iequals("a\0b"s, "a\0c"s));
  EXPECT_TRUE(iequals("a\0B"s, "A\0b"s));
}

TEST(Ascii, IstartsWith) {
  EXPECT_TRUE(istarts_with("AUTH=PLAIN", "auth="));
  EXPECT_TRUE(istarts_with("x", ""));
  EXPECT_FALSE(istarts_with("AU", "auth"));
  EXPECT_FALSE(istarts_with("AUTX", "auth"));
}

TEST(Ascii, UpperAndLower) {
  EXPECT_EQ(to_upper("Body[Header.Fields]\xe9"), "BODY[HEADER.FIELDS]\xe9");
  EXPECT_EQ(to_lower("MiXeD-123_\xc9"), "mixed-123_\xc9");
  EXPECT_EQ(to_upper(""), "");
}

}  // namespace
}  // namespace replimail
