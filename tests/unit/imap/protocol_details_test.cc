// IMAP protocol details that clients depend on (issue 14): the grammar of
// atoms and sequence sets, flag case, CONDSTORE, LSUB and LIST-EXTENDED
// answers, address matching in SEARCH.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "imap/session.h"
#include "session_fixture.h"

namespace replimail::imap {
namespace {

using test::kMessage;
using test::SessionTest;
using ::testing::HasSubstr;
using ::testing::Not;

[[maybe_unused]] std::string first_line(const std::string& out) { return out.substr(0, out.find("\r\n")); }

// spans spaces and parentheses.
TEST_F(SessionTest, BracketsInAtomsAreOrdinaryCharacters) {
  auto s = login("alice");
  EXPECT_THAT(run(*s, "a CREATE foo[bar\r\n"), HasSubstr("a OK"));
  EXPECT_THAT(run(*s, "b LIST \"\" foo[bar\r\n"),
              HasSubstr("* LIST (\\HasNoChildren) \"/\" foo[bar\r\nb OK"));
  EXPECT_THAT(run(*s, "c SELECT foo[bar\r\n"), HasSubstr("c OK [READ-WRITE]"));
  EXPECT_THAT(run(*s, "d CREATE foo]bar\r\n"), HasSubstr("d OK"));
  EXPECT_THAT(run(*s, "e LIST \"\" foo]bar\r\n"), HasSubstr("foo]bar"));
  run(*s, test::SessionTest::append_cmd("f", "INBOX", kMessage));
  run(*s, "g SELECT INBOX\r\n");
  std::string out = run(*s, "h FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)] FLAGS)\r\n");
  EXPECT_THAT(out, HasSubstr("BODY[HEADER.FIELDS (SUBJECT)] {24}\r\nSubject: hello there\r\n\r\n FLAGS"));
  EXPECT_THAT(out, HasSubstr("h OK"));
  EXPECT_THAT(run(*s, "i FETCH 1 (BODY[HEADER.FIELDS (SUBJECT)\r\n"), HasSubstr("i BAD"));
}

// 4294967295 is the largest nz-number, valid in any sequence set.
TEST_F(SessionTest, LargestNumberInSequenceSets) {
  auto s = login("alice");
  run(*s, append_cmd("a", "INBOX", kMessage));
  run(*s, "b SELECT INBOX\r\n");
  EXPECT_THAT(run(*s, "c UID SEARCH UID 1:4294967295\r\n"), HasSubstr("* SEARCH 1\r\nc OK"));
  EXPECT_THAT(run(*s, "d UID FETCH 4294967295:1 (FLAGS)\r\n"), HasSubstr("d OK"));
  EXPECT_THAT(run(*s, "e UID STORE 1:4294967295 +FLAGS (\\Seen)\r\n"),
              HasSubstr("* 1 FETCH (FLAGS (\\Seen \\Recent) UID 1)"));
  EXPECT_THAT(run(*s, "f SEARCH 1:4294967295\r\n"), HasSubstr("* SEARCH 1\r\nf OK"));
}

}  // namespace
}  // namespace replimail::imap
