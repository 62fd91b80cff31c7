// SEARCH dates as Cyrus 3.6 reads them (sessions/search.txt).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "imap/parser.h"
#include "imap/session.h"
#include "session_fixture.h"

namespace replimail::imap {
namespace {

using test::SessionTest;
using ::testing::HasSubstr;

// Any 1*2DIGIT day (RFC 3501 date-day) counts on past the month's end;
// a 2-digit year is 19yy; other malformed dates stay BAD.
TEST(SearchDateTest, DaysPastTheMonthCountOn) {
  EXPECT_EQ(parse_date("32-Nov-2026"), parse_date("2-Dec-2026"));
  EXPECT_EQ(parse_date("0-Nov-2026"), parse_date("31-Oct-2026"));
  EXPECT_EQ(parse_date("30-Feb-2026"), parse_date("2-Mar-2026"));
  EXPECT_EQ(parse_date("99-Nov-2026"), parse_date("7-Feb-2027"));
  EXPECT_EQ(parse_date("1-Feb-94"), parse_date("1-Feb-1994"));
  EXPECT_FALSE(parse_date("100-Nov-2026"));
  EXPECT_FALSE(parse_date("1-Foo-2026"));
  EXPECT_FALSE(parse_date("1-Jan-1899"));
  EXPECT_FALSE(parse_date("1-Nov-202"));
  EXPECT_FALSE(parse_date("1-Nov-20270"));
}

TEST_F(SessionTest, SearchWithDayPastTheMonthIsOk) {
  auto s = login("alice");
  run(*s, append_cmd("a", "INBOX", test::kMessage));
  run(*s, "b SELECT INBOX\r\n");
  std::string out = run(*s, "c SEARCH SENTSINCE 32-Jun-2003\r\n");
  EXPECT_THAT(out, HasSubstr("* SEARCH\r\nc OK"));
  out = run(*s, "d SEARCH SENTON 31-Jun-2003\r\n");
  EXPECT_THAT(out, HasSubstr("* SEARCH 1\r\nd OK"));
  EXPECT_THAT(run(*s, "e SEARCH SINCE 1-Foo-2026\r\n"), HasSubstr("e BAD"));
}

}  // namespace
}  // namespace replimail::imap
