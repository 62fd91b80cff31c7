#include "sync/guid_set.h"

#include <gtest/gtest.h>

namespace replimail::sync {
namespace {

const std::string kA = "0123456789abcdef0123456789abcdef01234567";
const std::string kB = "fedcba9876543210fedcba9876543210fedcba98";

TEST(Guid, ParsesFortyHexDigitsOfEitherCase) {
  auto g = Guid::parse(kA);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->bytes[0], 0x01);
  EXPECT_EQ(g->bytes[19], 0x67);
  EXPECT_EQ(g->hex(), kA);
  auto upper = Guid::parse("0123456789ABCDEF0123456789ABCDEF01234567");
  ASSERT_TRUE(upper.has_value());
  EXPECT_EQ(*upper, *g);
  EXPECT_FALSE(Guid::parse(kA.substr(1)).has_value());
  EXPECT_FALSE(Guid::parse(kA + "0").has_value());
  EXPECT_FALSE(Guid::parse("g" + kA.substr(1)).has_value());
  EXPECT_FALSE(Guid::parse("").has_value());
}

TEST(GuidSet, AnswersExactlyForGuidsAndOtherStrings) {
  GuidSet s;
  EXPECT_TRUE(s.insert(kA));
  EXPECT_FALSE(s.insert(kA));
  EXPECT_FALSE(s.insert("0123456789ABCDEF0123456789ABCDEF01234567"));  // same GUID
  EXPECT_TRUE(s.contains(kA));
  EXPECT_FALSE(s.contains(kB));
  EXPECT_TRUE(s.insert("not-a-guid"));
  EXPECT_TRUE(s.contains("not-a-guid"));
  EXPECT_FALSE(s.contains("not-a-guid2"));
  EXPECT_EQ(s.size(), 2u);
  s.clear();
  EXPECT_EQ(s.size(), 0u);
  EXPECT_FALSE(s.contains(kA));
}

// sync_client's sets are bounded: at the limit the set starts afresh, so
// its memory never grows with the number of messages of a session.
TEST(GuidSet, WithALimitForgetsEverythingRatherThanGrow) {
  GuidSet s(2);
  EXPECT_TRUE(s.insert(kA));
  EXPECT_TRUE(s.insert(kB));
  EXPECT_FALSE(s.insert(kA));  // held: nothing forgotten
  EXPECT_EQ(s.size(), 2u);
  EXPECT_TRUE(s.insert("0000000000000000000000000000000000000000"));
  EXPECT_EQ(s.size(), 1u);
  EXPECT_FALSE(s.contains(kA));
  EXPECT_FALSE(s.contains(kB));
  for (int i = 0; i < 1000; i++) {
    s.insert(std::string(39 - std::to_string(i).size(), '1') + std::to_string(i) + "f");
    EXPECT_LE(s.size(), 2u);
  }
}

}  // namespace
}  // namespace replimail::sync
