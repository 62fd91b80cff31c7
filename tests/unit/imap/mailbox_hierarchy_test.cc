// Mailbox hierarchy commands answered as Cyrus 3.6 answers them (issue 14):
// CREATE makes the missing parents real mailboxes, DELETE refuses a mailbox
// that has children.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "imap/session.h"
#include "session_fixture.h"

namespace replimail::imap {
namespace {

using test::SessionTest;
using ::testing::HasSubstr;
using ::testing::Not;

// Cyrus 3.6: "CREATE Archive/2026/Q4" makes Archive and Archive/2026 too;
// LIST shows them (\HasChildren), selectable, and they stay when the leaf
// is deleted.
TEST_F(SessionTest, CreateMakesMissingParents) {
  auto s = login("alice");
  EXPECT_THAT(run(*s, "a CREATE Archive/2026/Q4\r\n"), HasSubstr("a OK"));
  std::string list = run(*s, "b LIST \"\" *\r\n");
  EXPECT_THAT(list, HasSubstr("* LIST (\\HasChildren) \"/\" Archive\r\n"));
  EXPECT_THAT(list, HasSubstr("* LIST (\\HasChildren) \"/\" Archive/2026\r\n"));
  EXPECT_THAT(list, HasSubstr("* LIST (\\HasNoChildren) \"/\" Archive/2026/Q4\r\n"));
  list = run(*s, "c LIST \"\" %\r\n");
  EXPECT_THAT(list, HasSubstr("* LIST (\\HasChildren) \"/\" Archive\r\n"));
  EXPECT_THAT(list, Not(HasSubstr("Noselect")));
  EXPECT_THAT(run(*s, "d STATUS Archive (MESSAGES)\r\n"), HasSubstr("* STATUS Archive (MESSAGES 0)"));
  EXPECT_THAT(run(*s, "e SELECT Archive/2026\r\n"), HasSubstr("e OK [READ-WRITE]"));
  EXPECT_THAT(run(*s, "f DELETE Archive/2026/Q4\r\n"), HasSubstr("f OK"));
  EXPECT_THAT(run(*s, "g LIST \"\" Archive*\r\n"),
              HasSubstr("* LIST (\\HasChildren) \"/\" Archive\r\n* LIST (\\HasNoChildren) \"/\" Archive/2026\r\n"));
  // An LSUB of a subscribed leaf still shows unsubscribed parents \Noselect.
  run(*s, "h CREATE X/Y/Z\r\ni SUBSCRIBE X/Y/Z\r\n");
  EXPECT_THAT(run(*s, "j LSUB \"\" %\r\n"), HasSubstr("* LSUB (\\Noselect \\HasChildren) \"/\" X\r\n"));
}

// Cyrus 3.6 refuses to DELETE a mailbox with children, NO [HASCHILDREN],
// and deletes nothing.
TEST_F(SessionTest, DeleteRefusesAMailboxWithChildren) {
  auto s = login("alice");
  run(*s, "a CREATE Work\r\nb CREATE Work/Projects\r\n");
  EXPECT_THAT(run(*s, "c DELETE Work\r\n"), HasSubstr("c NO [HASCHILDREN]"));
  std::string list = run(*s, "d LIST \"\" Work*\r\n");
  EXPECT_THAT(list, HasSubstr("* LIST (\\HasChildren) \"/\" Work\r\n"));
  EXPECT_THAT(list, HasSubstr("Work/Projects"));
  EXPECT_THAT(run(*s, "e DELETE Work/Projects\r\n"), HasSubstr("e OK"));
  EXPECT_THAT(run(*s, "f DELETE Work\r\n"), HasSubstr("f OK"));
}

// RFC 3501 §6.3.5 and Cyrus 3.6: RENAME INBOX moves its messages (flags
// kept) to a new mailbox; INBOX stays, empty, with its UIDNEXT.
TEST_F(SessionTest, RenameInboxMovesItsMessages) {
  auto s = login("alice");
  run(*s, append_cmd("a", "INBOX", test::kMessage, "(\\Seen $Work)"));
  run(*s, append_cmd("b", "INBOX", "Subject: two\r\n\r\nbody\r\n"));
  run(*s, "c CREATE Sub\r\n");
  EXPECT_THAT(run(*s, "d RENAME INBOX Old-Inbox\r\n"), HasSubstr("d OK"));
  EXPECT_THAT(run(*s, "e STATUS INBOX (MESSAGES UIDNEXT)\r\n"),
              HasSubstr("* STATUS INBOX (MESSAGES 0 UIDNEXT 3)"));
  EXPECT_THAT(run(*s, "f STATUS Old-Inbox (MESSAGES UIDNEXT)\r\n"),
              HasSubstr("* STATUS Old-Inbox (MESSAGES 2 UIDNEXT 3)"));
  run(*s, "g SELECT Old-Inbox\r\n");
  std::string out = run(*s, "h FETCH 1 (FLAGS)\r\n");
  EXPECT_THAT(out, HasSubstr("\\Seen"));
  EXPECT_THAT(out, HasSubstr("$Work"));
  EXPECT_THAT(run(*s, "i LIST \"\" *\r\n"), HasSubstr("\"/\" Sub\r\n"));
  EXPECT_THAT(run(*s, "j RENAME INBOX Old-Inbox\r\n"), HasSubstr("j NO"));
}

}  // namespace
}  // namespace replimail::imap
