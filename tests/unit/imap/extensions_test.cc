// The message extensions Cyrus 3.6 advertises (issue 14): WITHIN (RFC 5032),
// SAVEDATE (RFC 8514), OBJECTID (RFC 8474), PREVIEW (RFC 8970), as
// transcripts of a Session.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "imap/session.h"
#include "session_fixture.h"

namespace replimail::imap {
namespace {

using test::kMessage;
using test::SessionTest;
using ::testing::HasSubstr;

// OLDER n and YOUNGER n compare the internal date with now - n seconds.
TEST_F(SessionTest, WithinOlderAndYounger) {
  auto s = login("alice");
  run(*s, append_cmd("a", "INBOX", kMessage, "\"01-Jul-2003 10:52:37 +0200\""));
  run(*s, append_cmd("b", "INBOX", kMessage));
  run(*s, "c SELECT INBOX\r\n");
  EXPECT_THAT(run(*s, "d SEARCH OLDER 86400\r\n"), HasSubstr("* SEARCH 1\r\nd OK"));
  EXPECT_THAT(run(*s, "e SEARCH YOUNGER 86400\r\n"), HasSubstr("* SEARCH 2\r\ne OK"));
  EXPECT_THAT(run(*s, "f SEARCH OLDER 0\r\n"), HasSubstr("* SEARCH 1 2\r\nf OK"));
  EXPECT_THAT(run(*s, "g UID SEARCH NOT YOUNGER 3600 OLDER 1\r\n"),
              HasSubstr("* SEARCH 1\r\ng OK"));
  EXPECT_THAT(run(*s, "h SEARCH OLDER -1\r\n"), HasSubstr("h BAD Invalid interval"));
  EXPECT_THAT(run(*s, "i SEARCH YOUNGER abc\r\n"), HasSubstr("i BAD Invalid interval"));
  EXPECT_THAT(run(*s, "j SEARCH YOUNGER\r\n"), HasSubstr("j BAD"));
  EXPECT_THAT(run(*s, "k CAPABILITY\r\n"), HasSubstr(" WITHIN"));
}

}  // namespace
}  // namespace replimail::imap
