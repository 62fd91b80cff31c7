// SORT, THREAD and ESORT through a session (issue 14): the commands, their
// UID forms, search criteria after the charset, and the errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "imap/session.h"
#include "session_fixture.h"

namespace replimail::imap {
namespace {

using test::SessionTest;
using ::testing::HasSubstr;

std::string message(const char* subject, const char* date, const char* id, const char* refs) {
  std::string m = std::string("From: someone@example.com\r\nSubject: ") + subject +
                  "\r\nDate: " + date + "\r\nMessage-ID: " + id + "\r\n";
  if (*refs) m += std::string("References: ") + refs + "\r\n";
  return m + "\r\nbody\r\n";
}

class SortSessionTest : public SessionTest {
 protected:
  std::unique_ptr<Session> mailbox() {
    auto s = login("alice");
    run(*s, append_cmd("a1", "INBOX",
                       message("Re: beta", "2 Jul 2024 10:00:00 +0000", "<b@x>", "<a@x>")));
    run(*s, append_cmd("a2", "INBOX", message("alpha", "3 Jul 2024 10:00:00 +0000", "<c@x>", "")));
    run(*s, append_cmd("a3", "INBOX", message("beta", "1 Jul 2024 10:00:00 +0000", "<a@x>", "")));
    run(*s, "s SELECT INBOX\r\n");
    return s;
  }
};

TEST_F(SortSessionTest, SortByKeysAndUid) {
  auto s = mailbox();
  EXPECT_THAT(run(*s, "a SORT (SUBJECT) UTF-8 ALL\r\n"), HasSubstr("* SORT 2 1 3\r\na OK"));
  EXPECT_THAT(run(*s, "b SORT (REVERSE DATE) US-ASCII ALL\r\n"), HasSubstr("* SORT 2 1 3\r\nb OK"));
  EXPECT_THAT(run(*s, "c UID SORT (DATE) UTF-8 SUBJECT beta\r\n"), HasSubstr("* SORT 3 1\r\nc OK"));
  EXPECT_THAT(run(*s, "d SORT (ARRIVAL) UTF-8 SUBJECT nomatch\r\n"), HasSubstr("* SORT\r\nd OK"));
}

TEST_F(SortSessionTest, Esort) {
  auto s = mailbox();
  EXPECT_THAT(run(*s, "a SORT RETURN (MIN MAX COUNT ALL) (SUBJECT) UTF-8 ALL\r\n"),
              HasSubstr("* ESEARCH (TAG \"a\") COUNT 3 MIN 2 MAX 3 ALL 2,1,3\r\na OK"));
  EXPECT_THAT(run(*s, "b UID SORT RETURN () (DATE) UTF-8 ALL\r\n"),
              HasSubstr("* ESEARCH (TAG \"b\") UID ALL 3,1:2\r\nb OK"));
}

// OLDER and YOUNGER (RFC 5032) in the criteria of SORT and THREAD count
// from the time of the command, as in SEARCH: SORT and SEARCH share one
// search loop (Session::for_each_match).
TEST_F(SortSessionTest, WithinCriteriaCountFromNow) {
  auto s = mailbox();
  run(*s, append_cmd("old", "INBOX", message("gamma", "1 Jul 2024 10:00:00 +0000", "<d@x>", ""),
                     "() \"01-Jul-2024 10:00:00 +0000\""));
  EXPECT_THAT(run(*s, "a SORT (ARRIVAL) UTF-8 OLDER 86400\r\n"), HasSubstr("* SORT 4\r\na OK"));
  EXPECT_THAT(run(*s, "b SORT (ARRIVAL) UTF-8 YOUNGER 86400\r\n"),
              HasSubstr("* SORT 1 2 3\r\nb OK"));
  EXPECT_THAT(run(*s, "c THREAD REFERENCES UTF-8 OLDER 86400\r\n"),
              HasSubstr("* THREAD (4)\r\nc OK"));
  EXPECT_THAT(run(*s, "d SEARCH OLDER 86400\r\n"), HasSubstr("* SEARCH 4\r\nd OK"));
}

TEST_F(SortSessionTest, Threads) {
  auto s = mailbox();
  EXPECT_THAT(run(*s, "a THREAD REFERENCES UTF-8 ALL\r\n"), HasSubstr("* THREAD (3 1)(2)\r\na OK"));
  EXPECT_THAT(run(*s, "b THREAD ORDEREDSUBJECT UTF-8 ALL\r\n"),
              HasSubstr("* THREAD (3 1)(2)\r\nb OK"));
  EXPECT_THAT(run(*s, "c UID THREAD REFS UTF-8 ALL\r\n"), HasSubstr("* THREAD (2)(3 1)\r\nc OK"));
  EXPECT_THAT(run(*s, "d THREAD REFERENCES UTF-8 SUBJECT nomatch\r\n"),
              HasSubstr("* THREAD\r\nd OK"));
}

TEST_F(SortSessionTest, ErrorsAndCapabilities) {
  auto s = mailbox();
  EXPECT_THAT(run(*s, "a SORT (DATE) KOI9 ALL\r\n"), HasSubstr("a NO [BADCHARSET"));
  EXPECT_THAT(run(*s, "b SORT (NOSUCH) UTF-8 ALL\r\n"), HasSubstr("b BAD"));
  EXPECT_THAT(run(*s, "c SORT (DATE REVERSE) UTF-8 ALL\r\n"), HasSubstr("c BAD"));
  EXPECT_THAT(run(*s, "d SORT (DATE)\r\n"), HasSubstr("d BAD"));
  EXPECT_THAT(run(*s, "e THREAD NOSUCH UTF-8 ALL\r\n"), HasSubstr("e BAD"));
  EXPECT_THAT(run(*s, "f THREAD REFS KOI9 ALL\r\n"), HasSubstr("f NO [BADCHARSET"));
  EXPECT_THAT(run(*s, "g CAPABILITY\r\n"),
              HasSubstr(" SORT SORT=DISPLAY SORT=MODSEQ SORT=UID THREAD=ORDEREDSUBJECT "
                        "THREAD=REFERENCES THREAD=REFS ESORT"));
  auto fresh = login("bob");
  EXPECT_THAT(run(*fresh, "h SORT (DATE) UTF-8 ALL\r\n"), HasSubstr("h BAD Please select"));
}

}  // namespace
}  // namespace replimail::imap
