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

// Keywords compare case-insensitively in STORE, APPEND and SEARCH; the
// mailbox keeps the first spelling it saw (as Cyrus's flag slots do).
TEST_F(SessionTest, KeywordsAreCaseInsensitive) {
  auto s = login("alice");
  run(*s, append_cmd("a", "INBOX", kMessage, "($Junk)"));
  run(*s, append_cmd("b", "INBOX", kMessage, "($JUNK $junk)"));
  run(*s, "c SELECT INBOX\r\n");
  std::string out = run(*s, "d FETCH 1:2 (FLAGS MODSEQ)\r\n");
  EXPECT_THAT(out, HasSubstr("* 1 FETCH (FLAGS (\\Recent $Junk) MODSEQ ("));
  EXPECT_THAT(out, HasSubstr("* 2 FETCH (FLAGS (\\Recent $Junk) MODSEQ ("));
  EXPECT_THAT(run(*s, "e SEARCH KEYWORD $jUnK\r\n"), HasSubstr("* SEARCH 1 2\r\n"));
  // Adding a keyword the message has, in other case, changes nothing.
  out = run(*s, "f STORE 1 +FLAGS.SILENT ($JUNK)\r\ng FETCH 1 (FLAGS MODSEQ)\r\n");
  std::string before = first_line(run(*s, "g0 FETCH 1 (MODSEQ)\r\n"));
  EXPECT_THAT(out, HasSubstr("* 1 FETCH (FLAGS (\\Recent $Junk) MODSEQ ("));
  EXPECT_THAT(run(*s, "h STORE 1 +FLAGS ($jUNK)\r\n"), HasSubstr("h OK"));
  EXPECT_EQ(first_line(run(*s, "h0 FETCH 1 (MODSEQ)\r\n")), before);
  out = run(*s, "i STORE 1:2 -FLAGS ($junk)\r\n");
  EXPECT_THAT(out, HasSubstr("* 1 FETCH (FLAGS (\\Recent) MODSEQ ("));
  EXPECT_THAT(out, HasSubstr("* 2 FETCH (FLAGS (\\Recent) MODSEQ ("));
  EXPECT_THAT(run(*s, "j SEARCH KEYWORD $Junk\r\n"), HasSubstr("* SEARCH\r\n"));
  out = run(*s, "k STORE 1 FLAGS ($junk $JUNK \\Seen)\r\n");
  EXPECT_THAT(out, HasSubstr("* 1 FETCH (FLAGS (\\Seen \\Recent $Junk) MODSEQ ("));
}

// The MODSEQ n of "* n FETCH (MODSEQ (m))", as text.
std::string modseq_of(const std::string& fetch) {
  size_t p = fetch.find("MODSEQ (");
  if (p == std::string::npos) return "?";
  p += 8;
  return fetch.substr(p, fetch.find(')', p) - p);
}

// A first FETCH MODSEQ enables CONDSTORE and tells the HIGHESTMODSEQ of the
// selected mailbox (RFC 7162 section 3.1); an ESEARCH MIN or MAX tells the
// MODSEQ of the message it returns (section 3.1.5).
TEST_F(SessionTest, CondstoreEnabledByFetchAndEsearchModseq) {
  auto s = login("alice");
  for (const char* t : {"a1", "a2", "a3"}) run(*s, append_cmd(t, "INBOX", kMessage));
  run(*s, "b SELECT INBOX\r\n");
  run(*s, "c STORE 2 +FLAGS.SILENT (\\Flagged)\r\n");
  std::string out = run(*s, "d FETCH 1 (MODSEQ)\r\n");
  std::string m1 = modseq_of(out);
  std::string m2 = modseq_of(run(*s, "e FETCH 2 (MODSEQ)\r\n"));
  std::string m3 = modseq_of(run(*s, "e FETCH 3 (MODSEQ)\r\n"));
  EXPECT_THAT(out, HasSubstr("* OK [HIGHESTMODSEQ " + m2 + "]"));
  EXPECT_LT(out.find("* OK [HIGHESTMODSEQ"), out.find("* 1 FETCH"));
  EXPECT_THAT(run(*s, "f FETCH 1 (MODSEQ)\r\n"), Not(HasSubstr("HIGHESTMODSEQ")));
  ASSERT_LT(std::stoull(m1), std::stoull(m2));
  ASSERT_LT(std::stoull(m3), std::stoull(m2));
  EXPECT_THAT(run(*s, "g SEARCH RETURN (MIN) MODSEQ 1\r\n"),
              HasSubstr("* ESEARCH (TAG \"g\") MIN 1 MODSEQ " + m1 + "\r\n"));
  EXPECT_THAT(run(*s, "h SEARCH RETURN (MAX) MODSEQ 1\r\n"),
              HasSubstr("* ESEARCH (TAG \"h\") MAX 3 MODSEQ " + m3 + "\r\n"));
  EXPECT_THAT(run(*s, "i UID SEARCH RETURN (MIN MAX) MODSEQ 1\r\n"),
              HasSubstr("* ESEARCH (TAG \"i\") UID MIN 1 MAX 3 MODSEQ " + m3 + "\r\n"));
  EXPECT_THAT(run(*s, "j SEARCH RETURN (COUNT) MODSEQ 1\r\n"),
              HasSubstr("* ESEARCH (TAG \"j\") COUNT 3 MODSEQ " + m2 + "\r\n"));
  EXPECT_THAT(run(*s, "k SEARCH RETURN (MIN ALL) MODSEQ 1\r\n"),
              HasSubstr("MODSEQ " + m2 + "\r\n"));
  // CHANGEDSINCE and UNCHANGEDSINCE enable it too; SEARCH MODSEQ answers
  // the highest MODSEQ itself and enables nothing (as Cyrus 3.6).
  auto t = login("alice");
  run(*t, "a EXAMINE INBOX\r\n");
  out = run(*t, "b FETCH 1:* (FLAGS) (CHANGEDSINCE 1)\r\n");
  EXPECT_THAT(out, HasSubstr("* OK [HIGHESTMODSEQ " + m2 + "] CONDSTORE enabled by MODSEQ fetch\r\n"
                             "* 1 FETCH (FLAGS () MODSEQ (" + m1 + "))\r\n"));
  auto u = login("alice");
  run(*u, "a EXAMINE INBOX\r\n");
  EXPECT_EQ(run(*u, "b SEARCH MODSEQ 1\r\n"),
            "* SEARCH 1 2 3 (MODSEQ " + m2 + ")\r\nb OK Completed\r\n");
  EXPECT_THAT(run(*u, "c FETCH 1 (MODSEQ)\r\n"), HasSubstr("* OK [HIGHESTMODSEQ " + m2 + "]"));
  auto v = login("alice");
  run(*v, "a SELECT INBOX\r\n");
  out = run(*v, "b STORE 1 (UNCHANGEDSINCE " + m2 + ") +FLAGS.SILENT (\\Seen)\r\n");
  EXPECT_THAT(out, HasSubstr("* OK [HIGHESTMODSEQ " + m2 + "] CONDSTORE enabled by UNCHANGEDSINCE\r\n"));
}

// LSUB with '%' lists the unsubscribed parents of subscribed mailboxes as
// \Noselect (RFC 3501 section 6.3.9), as Cyrus 3.6 does.
TEST_F(SessionTest, LsubListsParentsOfSubscribedChildren) {
  auto s = login("alice");
  run(*s, "a CREATE foo\r\nb CREATE foo/bar\r\nc CREATE foo/bar/baz\r\n");
  EXPECT_THAT(run(*s, "d SUBSCRIBE foo/bar/baz\r\n"), HasSubstr("d OK"));
  EXPECT_EQ(run(*s, "e LSUB \"\" foo/%\r\n"),
            "* LSUB (\\Noselect \\HasChildren) \"/\" foo/bar\r\ne OK Completed\r\n");
  EXPECT_EQ(run(*s, "f LSUB \"\" %\r\n"),
            "* LSUB (\\Noselect \\HasChildren) \"/\" foo\r\nf OK Completed\r\n");
  EXPECT_EQ(run(*s, "g LSUB \"\" *\r\n"), "* LSUB () \"/\" foo/bar/baz\r\ng OK Completed\r\n");
  run(*s, "h SUBSCRIBE foo\r\n");
  std::string out = run(*s, "i LSUB \"\" %\r\n");
  EXPECT_THAT(out, HasSubstr("\"/\" foo\r\n"));
  EXPECT_THAT(out, Not(HasSubstr("Noselect")));
}

// LIST-EXTENDED (RFC 5258): options we do not know are BAD, RECURSIVEMATCH
// needs another selection option, and with SUBSCRIBED it returns the
// parents of subscribed mailboxes with CHILDINFO ("SUBSCRIBED").
TEST_F(SessionTest, ListExtendedOptions) {
  auto s = login("alice");
  run(*s, "a CREATE foo\r\nb CREATE foo/bar\r\nc CREATE foo/bar/baz\r\n");
  run(*s, "d SUBSCRIBE foo/bar/baz\r\n");
  EXPECT_THAT(run(*s, "e LIST (FOO) \"\" %\r\n"), HasSubstr("e BAD"));
  EXPECT_THAT(run(*s, "f LIST \"\" % RETURN (FOO)\r\n"), HasSubstr("f BAD"));
  EXPECT_THAT(run(*s, "g LIST (RECURSIVEMATCH) \"\" %\r\n"), HasSubstr("g BAD"));
  EXPECT_THAT(run(*s, "h LIST () \"\" foo RETURN ()\r\n"),
              HasSubstr("* LIST (\\HasChildren) \"/\" foo\r\nh OK"));
  EXPECT_EQ(run(*s, "i LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %\r\n"),
            "* LIST (\\HasChildren) \"/\" foo (CHILDINFO (\"SUBSCRIBED\"))\r\ni OK Completed\r\n");
  EXPECT_EQ(run(*s, "j LIST (SUBSCRIBED RECURSIVEMATCH) \"\" foo/%\r\n"),
            "* LIST (\\HasChildren) \"/\" foo/bar (CHILDINFO (\"SUBSCRIBED\"))\r\n"
            "j OK Completed\r\n");
  EXPECT_EQ(run(*s, "k LIST (SUBSCRIBED) \"\" %\r\n"), "k OK Completed\r\n");
  run(*s, "l SUBSCRIBE foo\r\n");
  EXPECT_EQ(run(*s, "m LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %\r\n"),
            "* LIST (\\HasChildren \\Subscribed) \"/\" foo (CHILDINFO (\"SUBSCRIBED\"))\r\n"
            "m OK Completed\r\n");
  EXPECT_THAT(run(*s, "n LIST (SUBSCRIBED) \"\" * RETURN (CHILDREN SPECIAL-USE)\r\n"),
              HasSubstr("n OK"));
  // With '*' alone the subscribed children are listed themselves: no CHILDINFO.
  EXPECT_EQ(run(*s, "o LIST (SUBSCRIBED RECURSIVEMATCH) \"\" *\r\n"),
            "* LIST (\\HasChildren \\Subscribed) \"/\" foo\r\n"
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" foo/bar/baz\r\no OK Completed\r\n");
  EXPECT_EQ(run(*s, "p LIST (VENDOR.X-FOO) \"\" %\r\n"),
            "p BAD Invalid List selection option \"vendor.x-foo\"\r\n");
  EXPECT_EQ(run(*s, "q LIST \"\" % RETURN (Foo)\r\n"), "q BAD Invalid List return option \"foo\"\r\n");
}

// LIST-MYRIGHTS (RFC 8440) and STATUS=SIZE (RFC 8438) are advertised and
// answered as Cyrus 3.6 answers them: STATUS before MYRIGHTS, SIZE the sum
// of the sizes of the messages not expunged.
TEST_F(SessionTest, ListMyrightsAndStatusSize) {
  auto s = login("alice");
  std::string caps = run(*s, "a CAPABILITY\r\n");
  EXPECT_THAT(caps, HasSubstr(" LIST-MYRIGHTS"));
  EXPECT_THAT(caps, HasSubstr(" STATUS=SIZE"));
  run(*s, "b CREATE sz\r\n");
  run(*s, append_cmd("c1", "sz", kMessage));
  run(*s, append_cmd("c2", "sz", kMessage));
  const std::string one = std::to_string(sizeof(kMessage) - 1);
  const std::string two = std::to_string(2 * (sizeof(kMessage) - 1));
  EXPECT_EQ(run(*s, "d STATUS sz (MESSAGES SIZE)\r\n"),
            "* STATUS sz (MESSAGES 2 SIZE " + two + ")\r\nd OK Completed\r\n");
  EXPECT_EQ(run(*s, "e LIST \"\" sz RETURN (MYRIGHTS STATUS (SIZE))\r\n"),
            "* LIST (\\HasNoChildren) \"/\" sz\r\n* STATUS sz (SIZE " + two +
                ")\r\n* MYRIGHTS sz lrswipkxtecdan\r\ne OK Completed\r\n");
  EXPECT_EQ(run(*s, "f LIST \"\" nosuch RETURN (MYRIGHTS)\r\n"), "f OK Completed\r\n");
  run(*s, "g SELECT sz\r\nh STORE 1 +FLAGS.SILENT (\\Deleted)\r\ni EXPUNGE\r\nj CLOSE\r\n");
  EXPECT_EQ(run(*s, "k STATUS sz (SIZE)\r\n"), "* STATUS sz (SIZE " + one + ")\r\nk OK Completed\r\n");
}

// SEARCH FROM/TO/CC/BCC compare addresses after RFC 5322 comments and
// folding whitespace are taken out of them.
TEST_F(SessionTest, SearchAddressIgnoresCommentsAndFolding) {
  auto s = login("alice");
  const std::string msg =
      "From: <user-from (comment)@ (comment) domain.org>\r\n"
      "To: Bob (the builder) <bob\r\n @example.com>\r\n"
      "Cc: \"Carol Q. Public\" <carol@example.net>, undisclosed:;, (only comment) dave@(x)example.org\r\n"
      "Subject: addresses\r\n"
      "\r\n"
      "body\r\n";
  run(*s, append_cmd("a", "INBOX", msg));
  run(*s, append_cmd("b", "INBOX", kMessage));
  run(*s, "c SELECT INBOX\r\n");
  EXPECT_THAT(run(*s, "d SEARCH FROM user-from@domain.org\r\n"), HasSubstr("* SEARCH 1\r\n"));
  EXPECT_THAT(run(*s, "e SEARCH FROM USER-FROM@DOMAIN\r\n"), HasSubstr("* SEARCH 1\r\n"));
  EXPECT_THAT(run(*s, "f SEARCH TO bob@example.com\r\n"), HasSubstr("* SEARCH 1 2\r\n"));
  EXPECT_THAT(run(*s, "g SEARCH FROM comment\r\n"), HasSubstr("* SEARCH\r\n"));
  EXPECT_THAT(run(*s, "g2 SEARCH TO \"Bob <bob@\"\r\n"), HasSubstr("* SEARCH 1\r\n"));
  EXPECT_THAT(run(*s, "h SEARCH FROM alice@example.com\r\n"), HasSubstr("* SEARCH 2\r\n"));
  EXPECT_THAT(run(*s, "i SEARCH FROM nobody@domain.org\r\n"), HasSubstr("* SEARCH\r\n"));
  // The text matched is Cyrus's: each address as `name <mailbox@domain>` or
  // `<mailbox@domain>`, a name quoted when it is not all atext, groups as
  // `name:` ... `;`, joined by commas; comments are not part of it.
  EXPECT_THAT(run(*s, "j SEARCH TO builder\r\n"), HasSubstr("* SEARCH\r\n"));
  EXPECT_THAT(run(*s, "k SEARCH TO Bob\r\n"), HasSubstr("* SEARCH 1 2\r\n"));
  EXPECT_THAT(run(*s, "l SEARCH TO \"<\"\r\n"), HasSubstr("* SEARCH 1 2\r\n"));
  EXPECT_THAT(run(*s, "m SEARCH TO \" \"\r\n"), HasSubstr("* SEARCH 1\r\n"));
  EXPECT_THAT(run(*s, "n SEARCH FROM \"<user-from@domain.org>\"\r\n"), HasSubstr("* SEARCH 1\r\n"));
  EXPECT_THAT(run(*s, "o SEARCH CC \"\\\"Carol\"\r\n"), HasSubstr("* SEARCH 1\r\n"));
  EXPECT_THAT(run(*s, "p SEARCH CC \"Carol Q. Public <carol\"\r\n"), HasSubstr("* SEARCH\r\n"));
  EXPECT_THAT(run(*s, "q SEARCH CC \"public\\\" <carol@example.net>,undisclosed:;,<dave@\"\r\n"),
              HasSubstr("* SEARCH 1\r\n"));
  EXPECT_THAT(run(*s, "r SEARCH CC \"only comment\"\r\n"), HasSubstr("* SEARCH\r\n"));
}

}  // namespace
}  // namespace replimail::imap
