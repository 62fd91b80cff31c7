// CATENATE (RFC 4469): APPEND of a message built from TEXT literals and
// URLs of messages (or their sections) in the user's own mailboxes, stored
// as an APPEND of the concatenated bytes would be; errors as Cyrus 3.6.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "session_fixture.h"

namespace replimail::imap {
namespace {

using test::kMessage;
using test::SessionTest;
using ::testing::HasSubstr;

// The literal a FETCH answer ends with.
std::string fetched_literal(const std::string& out) {
  size_t open = out.find('{');
  size_t close = out.find("}\r\n", open);
  if (open == std::string::npos || close == std::string::npos) return "<no literal in " + out + ">";
  size_t n = std::stoul(out.substr(open + 1, close - open - 1));
  return out.substr(close + 3, n);
}

class CatenateTest : public SessionTest {
 protected:
  // alice's INBOX holds kMessage as UID 1.
  std::unique_ptr<Session> alice_with_message() {
    auto s = login("alice");
    EXPECT_THAT(run(*s, append_cmd("p", "INBOX", kMessage)), HasSubstr("p OK [APPENDUID "));
    return s;
  }
  std::string uidvalidity(Session& s) {
    std::string out = run(s, "v STATUS INBOX (UIDVALIDITY)\r\n");
    size_t at = out.find("UIDVALIDITY ");
    return out.substr(at + 12, out.find(')', at) - at - 12);
  }
};

TEST_F(CatenateTest, IsAdvertisedAfterLogin) {
  auto s = login("alice");
  EXPECT_THAT(run(*s, "c CAPABILITY\r\n"), HasSubstr(" CATENATE"));
}

TEST_F(CatenateTest, MessageIsTheConcatenationOfItsParts) {
  auto s = alice_with_message();
  std::string v = uidvalidity(*s);
  std::string head = "Subject: wrapped\r\nX-Part: 1\r\n\r\n";
  std::string tail = "\r\n-- end\r\n";
  std::string out = run(
      *s, "a APPEND INBOX (\\Flagged) CATENATE (TEXT {" + std::to_string(head.size()) + "+}\r\n" +
              head + " URL \"/INBOX;UIDVALIDITY=" + v + "/;UID=1/;SECTION=TEXT\" TEXT {" +
              std::to_string(tail.size()) + "+}\r\n" + tail + ")\r\n");
  EXPECT_THAT(out, HasSubstr("a OK [APPENDUID " + v + " 2] "));
  out = run(*s, "b SELECT INBOX\r\nc UID FETCH 2 (FLAGS BODY.PEEK[])\r\n");
  EXPECT_THAT(out, HasSubstr("FLAGS (\\Flagged \\Recent)"));
  EXPECT_EQ(fetched_literal(out.substr(out.find("* 2 FETCH"))),
            head + "The body mentions zebras.\r\n" + tail);
}

TEST_F(CatenateTest, WholeMessagePartialAndMultiappend) {
  auto s = alice_with_message();
  // A URL alone, with a PARTIAL of the whole message, and a second message
  // in the same command (MULTIAPPEND), the first a binary TEXT literal.
  std::string out =
      run(*s,
          "a APPEND INBOX CATENATE (URL \"/INBOX/;UID=1\") "
          "CATENATE (TEXT ~{12+}\r\nSubject: p\r\n URL \"/INBOX/;UID=1/;PARTIAL=5.6\" "
          "TEXT {7+}\r\n\r\n\r\nx\r\n)\r\n");
  EXPECT_THAT(out, HasSubstr(" 2:3] "));
  out = run(*s, "b SELECT INBOX\r\nc UID FETCH 2 BODY.PEEK[]\r\n");
  EXPECT_EQ(fetched_literal(out.substr(out.find("* 2 FETCH"))), kMessage);
  out = run(*s, "d UID FETCH 3 BODY.PEEK[]\r\n");
  EXPECT_EQ(fetched_literal(out), "Subject: p\r\n Alice\r\n\r\nx\r\n");
  // Selected: a URL without a mailbox (or without the leading "/") is
  // the selected mailbox's.
  EXPECT_THAT(run(*s, "e APPEND INBOX CATENATE (URL \"/;UID=3\" URL \"INBOX/;UID=3\")\r\n"),
              HasSubstr("e OK [APPENDUID "));
}

TEST_F(CatenateTest, UrlErrorsAnswerBadurlAsCyrus) {
  auto s = alice_with_message();
  std::string v = uidvalidity(*s);
  std::string other = std::to_string(std::stoul(v) + 1);
  auto append = [&](const std::string& url) {
    return run(*s, "a APPEND INBOX CATENATE (URL \"" + url + "\")\r\n");
  };
  EXPECT_THAT(append("/INBOX/;UID=7"),
              HasSubstr("a NO [BADURL \"/INBOX/;UID=7\"] No such message in mailbox"));
  EXPECT_THAT(append("/INBOX;UIDVALIDITY=" + other + "/;UID=1"),
              HasSubstr("] Uidvalidity of mailbox has changed"));
  EXPECT_THAT(append("/nosuch/;UID=1"),
              HasSubstr("a NO [BADURL \"/nosuch/;UID=1\"] Mailbox does not exist"));
  EXPECT_THAT(append("imap://alice@localhost/INBOX/;UID=1"),
              HasSubstr("] Only relative URLs are supported"));
  // bob's INBOX, not shared with alice, is as good as missing.
  EXPECT_THAT(append("/Other Users/bob/;UID=1"), HasSubstr("] Mailbox does not exist"));
  EXPECT_THAT(append("/INBOX/;UID=1/;FOO=1"), HasSubstr("] Improperly specified URL"));
  // No mailbox in the URL: the selected one.
  EXPECT_THAT(append("/;UID=1"),
              HasSubstr("a NO [BADURL \"/;UID=1\"] No mailbox is selected or specified"));
  // A section that is not there, or one Cyrus does not take in a URL.
  EXPECT_THAT(append("/INBOX/;UID=1/;SECTION=9"), HasSubstr("a NO Syntax error in parameters"));
  EXPECT_THAT(append("/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20(Subject)"),
              HasSubstr("a NO Syntax error in parameters"));
  // Nothing was appended by any of them.
  EXPECT_THAT(run(*s, "b STATUS INBOX (MESSAGES)\r\n"), HasSubstr("(MESSAGES 1)"));
}

TEST_F(CatenateTest, SyntaxErrorsAndLimits) {
  auto s = alice_with_message();
  EXPECT_THAT(run(*s, "a APPEND INBOX CATENATE ()\r\n"),
              HasSubstr("a BAD Missing message part data in Append command"));
  EXPECT_THAT(run(*s, "b APPEND INBOX CATENATE (FOO \"x\")\r\n"),
              HasSubstr("b BAD Invalid message part type in Append command"));
  EXPECT_THAT(run(*s, "b APPEND INBOX CATENATE (TEXT \"x\")\r\n"),
              HasSubstr("b BAD Missing required argument to Append command"));
  // Each part within the limit (1000 in these tests), the whole over it.
  std::string big = "Subject: big\r\n\r\n" + std::string(600, 'x');
  std::string lit = "{" + std::to_string(big.size()) + "+}\r\n" + big;
  EXPECT_THAT(run(*s, "c APPEND INBOX CATENATE (TEXT " + lit + " TEXT " + lit + ")\r\n"),
              HasSubstr("c NO [TOOBIG]"));
  // The whole message is checked, not each part: a part with no header is
  // fine after one that has it, and a bad header is refused.
  EXPECT_THAT(run(*s, "d APPEND INBOX CATENATE (TEXT {3+}\r\nbad)\r\n"),
              HasSubstr("d NO Message contains invalid header"));
  EXPECT_THAT(run(*s, "e STATUS INBOX (MESSAGES)\r\n"), HasSubstr("(MESSAGES 1)"));
  EXPECT_THAT(run(*s, "f NOOP\r\n"), HasSubstr("f OK"));
}

}  // namespace
}  // namespace replimail::imap
