// Answers the conformance suite found different from Cyrus 3.6 in FETCH,
// COPY and STORE (sessions/fetch.txt, copymove.txt, store.txt).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "imap/session.h"
#include "session_fixture.h"

namespace replimail::imap {
namespace {

using test::SessionTest;
using ::testing::HasSubstr;
using ::testing::Not;

// Message numbers that name no message are NO (not BAD); a range reaching
// past EXISTS fetches the messages there; UID FETCH of no UID is OK.
TEST_F(SessionTest, FetchOfNoMessageNumberIsNo) {
  auto s = login("alice");
  run(*s, append_cmd("a", "INBOX", test::kMessage));
  run(*s, append_cmd("b", "INBOX", test::kMessage));
  run(*s, "c SELECT INBOX\r\n");
  EXPECT_THAT(run(*s, "d FETCH 9 FLAGS\r\n"), HasSubstr("d NO "));
  EXPECT_THAT(run(*s, "e FETCH 0 FLAGS\r\n"), HasSubstr("e NO "));
  EXPECT_THAT(run(*s, "f FETCH 3 FLAGS\r\n"), HasSubstr("f NO "));
  std::string out = run(*s, "g FETCH 2:9 FLAGS\r\n");
  EXPECT_THAT(out, HasSubstr("* 2 FETCH (FLAGS"));
  EXPECT_THAT(out, HasSubstr("g OK "));
  EXPECT_THAT(run(*s, "h UID FETCH 9 FLAGS\r\n"), HasSubstr("h OK "));
  EXPECT_THAT(run(*s, "i FETCH 0:x FLAGS\r\n"), HasSubstr("i BAD "));
}

// In an empty mailbox 1:* and * name no message either; MOVE as COPY.
TEST_F(SessionTest, FetchAndMoveInAnEmptyMailboxAreNo) {
  auto s = login("alice");
  run(*s, "a CREATE Empty\r\n");
  run(*s, "b SELECT Empty\r\n");
  EXPECT_THAT(run(*s, "c FETCH 1:* FLAGS\r\n"), HasSubstr("c NO "));
  EXPECT_THAT(run(*s, "d FETCH * FLAGS\r\n"), HasSubstr("d NO "));
  EXPECT_THAT(run(*s, "e UID FETCH 1:* FLAGS\r\n"), HasSubstr("e OK "));
  EXPECT_THAT(run(*s, "f MOVE 1:* INBOX\r\n"), HasSubstr("f NO "));
  EXPECT_THAT(run(*s, "g UID MOVE 1:* INBOX\r\n"), HasSubstr("g OK "));
}

TEST_F(SessionTest, CopyOfNoMessageNumberIsNo) {
  auto s = login("alice");
  run(*s, append_cmd("a", "INBOX", test::kMessage));
  run(*s, "b CREATE Dest\r\n");
  run(*s, "c SELECT INBOX\r\n");
  EXPECT_THAT(run(*s, "d COPY 9 Dest\r\n"), HasSubstr("d NO "));
  EXPECT_THAT(run(*s, "e UID COPY 9 Dest\r\n"), HasSubstr("e OK "));
  EXPECT_THAT(run(*s, "f COPY 1 Dest\r\n"), HasSubstr("f OK [COPYUID "));
}

// A body part the message does not have is NIL, not an empty literal.
TEST_F(SessionTest, FetchOfAMissingPartIsNil) {
  auto s = login("alice");
  run(*s, append_cmd("a", "INBOX", test::kMessage));
  run(*s, "b SELECT INBOX\r\n");
  std::string out = run(*s, "c FETCH 1 (BODY.PEEK[99] BODY.PEEK[2.MIME] BODY.PEEK[99]<0.5>)\r\n");
  EXPECT_THAT(out, HasSubstr("BODY[99] NIL"));
  EXPECT_THAT(out, HasSubstr("BODY[2.MIME] NIL"));
  EXPECT_THAT(out, HasSubstr("BODY[99]<0> NIL"));
  EXPECT_THAT(out, Not(HasSubstr("{0}")));
  EXPECT_THAT(run(*s, "d FETCH 1 BODY.PEEK[1]\r\n"), HasSubstr("BODY[1] {"));
}

// STORE answers with a FETCH only for the messages whose flags changed.
TEST_F(SessionTest, StoreReportsOnlyChangedMessages) {
  auto s = login("alice");
  run(*s, append_cmd("a", "INBOX", test::kMessage));
  run(*s, append_cmd("b", "INBOX", test::kMessage));
  run(*s, "c SELECT INBOX\r\n");
  run(*s, "d STORE 1 +FLAGS.SILENT (\\Seen)\r\n");
  std::string out = run(*s, "e UID STORE 1:* FLAGS (\\Seen)\r\n");
  EXPECT_THAT(out, Not(HasSubstr("* 1 FETCH")));
  EXPECT_THAT(out, HasSubstr("* 2 FETCH (FLAGS (\\Seen \\Recent) UID 2)"));
  out = run(*s, "f STORE 1:* +FLAGS (\\Seen)\r\n");
  EXPECT_THAT(out, Not(HasSubstr("FETCH")));
  EXPECT_THAT(out, HasSubstr("f OK "));
}

// With UNCHANGEDSINCE, .SILENT still brings the FETCH of a changed message
// (RFC 7162 §3.1.3), and Cyrus 3.6 puts the FLAGS in it.
TEST_F(SessionTest, ConditionalSilentStoreCarriesFlags) {
  auto s = login("alice");
  run(*s, append_cmd("a", "INBOX", test::kMessage));
  run(*s, "b SELECT INBOX\r\n");
  run(*s, "c STORE 1 +FLAGS.SILENT (\\Flagged)\r\n");
  std::string out = run(*s, "d STORE 1 (UNCHANGEDSINCE 100) -FLAGS.SILENT (\\Flagged)\r\n");
  EXPECT_THAT(out, HasSubstr("* 1 FETCH (FLAGS (\\Recent) MODSEQ ("));
  out = run(*s, "e STORE 1 (UNCHANGEDSINCE 100) -FLAGS.SILENT (\\Flagged)\r\n");
  EXPECT_THAT(out, Not(HasSubstr("FETCH")));
}

}  // namespace
}  // namespace replimail::imap
