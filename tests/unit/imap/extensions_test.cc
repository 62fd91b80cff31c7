// The message extensions Cyrus 3.6 advertises (issue 14): WITHIN (RFC 5032),
// SAVEDATE (RFC 8514), OBJECTID (RFC 8474), PREVIEW (RFC 8970), as
// transcripts of a Session.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ctime>

#include "imap/format.h"
#include "imap/parser.h"
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

TEST(ObjectIdTest, EmailIdIsMAndTheGuidsFirst24Digits) {
  EXPECT_EQ(email_id("a2152e82c2a790ca45e9fc9e0123456789abcdef"), "Ma2152e82c2a790ca45e9fc9e");
}

// MAILBOXID is the mailbox's uniqueid in CREATE's OK, SELECT and STATUS;
// EMAILID comes from the GUID; THREADID is Cyrus's (NIL) without
// conversations.
TEST_F(SessionTest, ObjectIds) {
  auto s = login("alice");
  std::string created = run(*s, "a CREATE Projects\r\n");
  auto e = instance_->lookup("user.alice.Projects");
  ASSERT_TRUE(e.ok());
  EXPECT_THAT(created, HasSubstr("a OK [MAILBOXID (" + e->uniqueid + ")] Completed"));
  EXPECT_THAT(run(*s, "b STATUS Projects (MESSAGES MAILBOXID)\r\n"),
              HasSubstr("* STATUS Projects (MESSAGES 0 MAILBOXID (" + e->uniqueid + "))"));
  run(*s, append_cmd("c", "INBOX", kMessage));
  auto inbox = instance_->lookup("user.alice");
  ASSERT_TRUE(inbox.ok());
  EXPECT_THAT(run(*s, "d SELECT INBOX\r\n"),
              HasSubstr("* OK [MAILBOXID (" + inbox->uniqueid + ")] Ok"));
  auto mbox = instance_->open_mailbox("user.alice");
  ASSERT_TRUE(mbox.ok());
  auto rec = (*mbox)->record(1);
  ASSERT_TRUE(rec.ok());
  std::string id = "M" + rec->guid.substr(0, 24);
  EXPECT_THAT(run(*s, "e FETCH 1 (EMAILID THREADID)\r\n"),
              HasSubstr("* 1 FETCH (EMAILID (" + id + ") THREADID (NIL))"));
  EXPECT_THAT(run(*s, "f SEARCH EMAILID " + id + "\r\n"), HasSubstr("* SEARCH 1\r\nf OK"));
  EXPECT_THAT(run(*s, "g SEARCH EMAILID M0\r\n"), HasSubstr("* SEARCH\r\ng OK"));
  EXPECT_THAT(run(*s, "h SEARCH THREADID T0000000000000000\r\n"),
              HasSubstr("* SEARCH\r\nh OK"));
  EXPECT_THAT(run(*s, "i SEARCH THREADID T1\r\n"), HasSubstr("* SEARCH\r\ni OK"));
  EXPECT_THAT(run(*s, "j CAPABILITY\r\n"), HasSubstr(" OBJECTID"));
}

// SAVEDATE is when the message came into the mailbox; a record without one
// (older data) shows its internal date, as in Cyrus.
TEST_F(SessionTest, SaveDate) {
  auto s = login("alice");
  run(*s, append_cmd("a", "INBOX", kMessage, "\"01-Jul-2003 10:52:37 +0200\""));
  run(*s, append_cmd("b", "INBOX", kMessage, "\"02-Jul-2003 10:52:37 +0200\""));
  {
    // The second message as a record written before save dates existed.
    auto mbox = instance_->open_mailbox("user.alice");
    ASSERT_TRUE(mbox.ok());
    auto rec = (*mbox)->record(2);
    ASSERT_TRUE(rec.ok());
    rec->savedate = 0;
    auto txn = (*mbox)->begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE((*txn)->put_record(*rec, "").is_ok());
    ASSERT_TRUE(instance_->commit(**mbox, **txn).is_ok());
  }
  run(*s, "c SELECT INBOX\r\n");
  std::string today = format_date_time(std::time(nullptr)).substr(0, 11);
  if (today[0] == ' ') today.erase(0, 1);
  std::string out = run(*s, "d FETCH 1:2 (SAVEDATE)\r\n");
  EXPECT_THAT(out, HasSubstr("* 1 FETCH (SAVEDATE \"" +
                             format_date_time(std::time(nullptr)).substr(0, 12)));
  EXPECT_THAT(out, HasSubstr("* 2 FETCH (SAVEDATE \" 2-Jul-2003 08:52:37 +0000\")"));
  EXPECT_THAT(run(*s, "e SEARCH SAVEDON " + today + "\r\n"), HasSubstr("* SEARCH 1\r\ne OK"));
  EXPECT_THAT(run(*s, "f SEARCH SAVEDSINCE 2-Jul-2003\r\n"), HasSubstr("* SEARCH 1 2\r\nf OK"));
  EXPECT_THAT(run(*s, "g SEARCH SAVEDBEFORE " + today + "\r\n"),
              HasSubstr("* SEARCH 2\r\ng OK"));
  EXPECT_THAT(run(*s, "h SEARCH SAVEDON 2-Jul-2003\r\n"), HasSubstr("* SEARCH 2\r\nh OK"));
  EXPECT_THAT(run(*s, "i SEARCH ON " + today + "\r\n"), HasSubstr("* SEARCH\r\ni OK"));
  EXPECT_THAT(run(*s, "j SEARCH SAVEDATESUPPORTED\r\n"), HasSubstr("* SEARCH 1 2\r\nj OK"));
  EXPECT_THAT(run(*s, "l CAPABILITY\r\n"), HasSubstr(" SAVEDATE"));
}

// Cyrus 3.6's PREVIEW is the shared message annotation jmap_preview_annot
// names, cut to 256 bytes; NIL when the option is not set.
TEST_F(SessionTest, PreviewIsTheConfiguredAnnotation) {
  auto s = login("alice");
  run(*s, append_cmd("a", "INBOX", kMessage));
  run(*s, append_cmd("b", "INBOX", kMessage));
  run(*s, "c SELECT INBOX\r\n");
  EXPECT_THAT(run(*s, "d FETCH 1 (PREVIEW)\r\n"), HasSubstr("* 1 FETCH (PREVIEW NIL)\r\nd OK"));
  EXPECT_THAT(run(*s, "e FETCH 1 (UID PREVIEW (LAZY))\r\n"),
              HasSubstr("* 1 FETCH (UID 1 PREVIEW NIL)\r\ne OK"));
  EXPECT_THAT(run(*s, "f FETCH 1 PREVIEW (lazy)\r\n"), HasSubstr("* 1 FETCH (PREVIEW NIL)"));
  EXPECT_THAT(run(*s, "g FETCH 1 (PREVIEW (FUZZY))\r\n"),
              HasSubstr("g BAD FETCH contains invalid preview modifier (FUZZY)"));
  EXPECT_THAT(run(*s, "h FETCH 1 (PREVIEW ())\r\n"), HasSubstr("h BAD"));
  EXPECT_THAT(run(*s, "i FETCH 1 (FLAGS (LAZY))\r\n"), HasSubstr("i BAD"));
  s.reset();

  instance_.reset();
  auto cfg = Config::parse("configdirectory: " + dir_ + "/conf\npartition-default: " + dir_ +
                               "/spool\nsync_log: 1\njmap_preview_annot: /shared/vendor/x/preview\n",
                           "imapd.conf");
  ASSERT_TRUE(cfg.ok());
  auto inst = store::Instance::open(*cfg);
  ASSERT_TRUE(inst.ok());
  instance_ = std::move(*inst);
  {
    auto mbox = instance_->open_mailbox("user.alice");
    ASSERT_TRUE(mbox.ok());
    auto txn = (*mbox)->begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE((*txn)->set_annotation(1, "/vendor/x/preview", "", std::string(300, 'p')).is_ok());
    ASSERT_TRUE((*txn)->set_annotation(2, "/vendor/x/preview", "alice", "private").is_ok());
    ASSERT_TRUE(instance_->commit(**mbox, **txn).is_ok());
  }
  s = login("alice");
  run(*s, "j SELECT INBOX\r\n");
  std::string out = run(*s, "k FETCH 1:2 (PREVIEW)\r\n");
  EXPECT_THAT(out, HasSubstr("* 1 FETCH (PREVIEW \"" + std::string(256, 'p') + "\")"));
  EXPECT_THAT(out, HasSubstr("* 2 FETCH (PREVIEW \"\")"));
  EXPECT_THAT(run(*s, "l CAPABILITY\r\n"), HasSubstr(" PREVIEW"));
}

}  // namespace
}  // namespace replimail::imap
