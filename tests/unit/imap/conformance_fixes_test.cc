// Differences from Cyrus 3.6 that the IMAP conformance suite
// (tests/conformance/) found, each pinned here as its own unit test.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "imap/session.h"
#include "session_fixture.h"

namespace replimail::imap {
namespace {

using test::SessionTest;
using ::testing::HasSubstr;
using ::testing::Not;

// A SELECT or EXAMINE that closes the selected mailbox says so with
// [CLOSED] first, QRESYNC enabled or not, and even when it then fails
// (sessions/select.txt).
TEST_F(SessionTest, ImplicitCloseSendsClosedWithoutQresync) {
  auto s = login("alice");
  std::string first = run(*s, "a SELECT INBOX\r\n");
  EXPECT_THAT(first, Not(HasSubstr("[CLOSED]")));
  std::string out = run(*s, "b EXAMINE INBOX\r\n");
  EXPECT_EQ(out.rfind("* OK [CLOSED]", 0), 0u) << out;
  out = run(*s, "c SELECT nosuchmailbox\r\n");
  EXPECT_EQ(out.rfind("* OK [CLOSED]", 0), 0u) << out;
  EXPECT_THAT(out, HasSubstr("c NO"));
  EXPECT_THAT(run(*s, "d SELECT INBOX\r\n"), Not(HasSubstr("[CLOSED]")));
}

// The answer names a HEADER.FIELDS section with the field names as the
// client wrote them (sessions/fetch.txt).
TEST_F(SessionTest, HeaderFieldsAnswerKeepsTheClientsNames) {
  auto s = login("alice");
  run(*s, append_cmd("a", "INBOX", test::kMessage));
  run(*s, "b SELECT INBOX\r\n");
  std::string out = run(*s, "c FETCH 1 BODY.PEEK[HEADER.FIELDS.NOT (Subject fRoM)]\r\n");
  EXPECT_THAT(out, HasSubstr("* 1 FETCH (BODY[HEADER.FIELDS.NOT (Subject fRoM)] {"));
  EXPECT_THAT(out, Not(HasSubstr("Subject: hello there")));
}

// With CONDSTORE enabled, EXPUNGE and UID EXPUNGE end with the mailbox's
// HIGHESTMODSEQ after the expunge; without it, or when nothing was
// expunged, they do not (sessions/copymove.txt).
TEST_F(SessionTest, ExpungeTellsHighestModseqOnceCondstoreIsEnabled) {
  auto s = login("alice");
  run(*s, append_cmd("a", "INBOX", test::kMessage));
  run(*s, append_cmd("b", "INBOX", test::kMessage));
  run(*s, "c SELECT INBOX\r\n");
  run(*s, "d STORE 1 +FLAGS.SILENT (\\Deleted)\r\n");
  EXPECT_THAT(run(*s, "e EXPUNGE\r\n"), HasSubstr("e OK Completed"));
  run(*s, "f ENABLE CONDSTORE\r\n");
  EXPECT_THAT(run(*s, "f2 EXPUNGE\r\n"), HasSubstr("f2 OK Completed"));
  run(*s, "g STORE 1 +FLAGS.SILENT (\\Deleted)\r\n");
  std::string out = run(*s, "h UID EXPUNGE 1:*\r\n");
  EXPECT_THAT(out, HasSubstr("* 1 EXPUNGE\r\nh OK [HIGHESTMODSEQ "));
  std::string modseq = out.substr(out.find("[HIGHESTMODSEQ ") + 15);
  modseq = modseq.substr(0, modseq.find(']'));
  EXPECT_THAT(run(*s, "i EXAMINE INBOX\r\n"), HasSubstr("[HIGHESTMODSEQ " + modseq + "]"));
}

// A command that takes no arguments refuses extra ones with BAD, in every
// state (sessions/errors.txt).
TEST_F(SessionTest, ExtraArgumentsToArgumentlessCommandsAreBad) {
  auto s = session();
  EXPECT_THAT(run(*s, "a NOOP extra\r\n"), HasSubstr("a BAD"));
  std::string out = run(*s, "b CAPABILITY extra\r\n");
  EXPECT_THAT(out, HasSubstr("b BAD"));
  EXPECT_THAT(out, Not(HasSubstr("* CAPABILITY")));
  s = login("alice");
  EXPECT_THAT(run(*s, "c NAMESPACE x\r\n"), HasSubstr("c BAD"));
  run(*s, "d SELECT INBOX\r\n");
  EXPECT_THAT(run(*s, "e CHECK x\r\n"), HasSubstr("e BAD"));
  EXPECT_THAT(run(*s, "f UNSELECT x\r\n"), HasSubstr("f BAD"));
  out = run(*s, "g LOGOUT x\r\n");
  EXPECT_THAT(out, HasSubstr("g BAD"));
  EXPECT_THAT(out, Not(HasSubstr("* BYE")));
  EXPECT_THAT(run(*s, "h NOOP\r\n"), HasSubstr("h OK"));
}

// PERMANENTFLAGS names only the flags the user's rights let it change:
// \Seen with 's', \Deleted with 't', the others, keywords and \* with 'w'
// (sessions/acl.txt).
TEST_F(SessionTest, PermanentFlagsFollowTheRights) {
  auto alice = login("alice");
  EXPECT_THAT(run(*alice, "a CREATE Shared\r\n"), HasSubstr("a OK"));
  EXPECT_THAT(run(*alice, "b SETACL Shared bob lrw\r\n"), HasSubstr("b OK"));
  auto bob = login("bob");
  std::string out = run(*bob, "c SELECT \"Other Users/alice/Shared\"\r\n");
  EXPECT_THAT(out, HasSubstr("* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Draft \\*)]"));
  EXPECT_THAT(out, HasSubstr("c OK [READ-WRITE]"));
  EXPECT_THAT(run(*alice, "d SETACL Shared bob lrst\r\n"), HasSubstr("d OK"));
  out = run(*bob, "e SELECT \"Other Users/alice/Shared\"\r\n");
  EXPECT_THAT(out, HasSubstr("* OK [PERMANENTFLAGS (\\Deleted \\Seen)]"));
  out = run(*alice, "f SELECT Shared\r\n");
  EXPECT_THAT(out,
              HasSubstr("[PERMANENTFLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen \\*)]"));
}

// Once QRESYNC is enabled, STORE's and the unsolicited FETCH answers carry
// the UID, and with CONDSTORE the unsolicited ones the MODSEQ; a FETCH's
// own answers carry what was asked (RFC 7162; sessions/qresync.txt).
TEST_F(SessionTest, QresyncPutsTheUidInStoreAndUnsolicitedFetch) {
  auto s = login("alice");
  run(*s, append_cmd("a", "INBOX", test::kMessage));
  auto other = login("alice");
  EXPECT_THAT(run(*s, "b ENABLE QRESYNC\r\n"), HasSubstr("* ENABLED QRESYNC"));
  run(*s, "c SELECT INBOX\r\n");
  EXPECT_THAT(run(*s, "d STORE 1 +FLAGS (\\Flagged)\r\n"),
              HasSubstr("* 1 FETCH (FLAGS (\\Flagged \\Recent) UID 1 MODSEQ ("));
  EXPECT_THAT(run(*s, "e FETCH 1 FLAGS\r\n"), Not(HasSubstr("UID 1")));
  run(*other, "f SELECT INBOX\r\n");
  run(*other, "g STORE 1 +FLAGS (\\Answered)\r\n");
  std::string out = run(*s, "h NOOP\r\n");
  EXPECT_THAT(out, HasSubstr("* 1 FETCH (UID 1 FLAGS ("));
  EXPECT_THAT(out, HasSubstr(") MODSEQ ("));
}

}  // namespace
}  // namespace replimail::imap
