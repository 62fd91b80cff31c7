// APPEND streamed to staging files, MULTIAPPEND (all or nothing), and
// \Recent given to exactly one session.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "session_fixture.h"

namespace replimail::imap {
namespace {

using test::kMessage;
using test::SessionTest;
using ::testing::HasSubstr;
using ::testing::Not;

// Sizes of the files in the partition's staging directory.
std::vector<uintmax_t> staged_sizes(const std::string& dir) {
  std::vector<uintmax_t> out;
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator(dir + "/spool/stage.", ec)) {
    out.push_back(f.file_size());
  }
  return out;
}

TEST_F(SessionTest, AppendMessageIsStreamedToAStagingFile) {
  auto s = login("alice");
  std::string msg(900, 'x');
  msg.replace(0, 16, "Subject: big\r\n\r\n");
  EXPECT_EQ(run(*s, "a APPEND INBOX (\\Seen) {900}\r\n"), "+ go ahead\r\n");
  EXPECT_EQ(run(*s, msg.substr(0, 400)), "");
  // Half the literal is already on disk, not in the command buffer.
  EXPECT_THAT(staged_sizes(dir_), ::testing::ElementsAre(400u));
  EXPECT_EQ(run(*s, msg.substr(400)), "");
  std::string out = run(*s, "\r\n");
  EXPECT_THAT(out, HasSubstr("a OK [APPENDUID "));
  EXPECT_THAT(staged_sizes(dir_), ::testing::IsEmpty());
  out = run(*s, "b SELECT INBOX\r\nc FETCH 1 (FLAGS RFC822.SIZE BODY.PEEK[HEADER])\r\n");
  EXPECT_THAT(out, HasSubstr("FLAGS (\\Seen \\Recent) RFC822.SIZE 900"));
  EXPECT_THAT(out, HasSubstr("Subject: big\r\n"));
}

TEST_F(SessionTest, AppendBeforeLoginStagesNothing) {
  auto s = session();
  EXPECT_EQ(run(*s, "a APPEND INBOX {10+}\r\n0123456"), "");
  EXPECT_THAT(staged_sizes(dir_), ::testing::IsEmpty());
  EXPECT_THAT(run(*s, "789\r\n"), HasSubstr("a BAD Please login first"));
  EXPECT_THAT(run(*s, "b NOOP\r\n"), HasSubstr("b OK"));
}

TEST_F(SessionTest, AppendOfAMailboxGivenAsLiteral) {
  auto s = login("alice");
  std::string out = run(*s, "a APPEND {5+}\r\nINBOX {6+}\r\na: b\r\n\r\n");
  EXPECT_THAT(out, HasSubstr("a OK [APPENDUID "));
  EXPECT_THAT(run(*s, "b STATUS INBOX (MESSAGES)\r\n"), HasSubstr("(MESSAGES 1)"));
}

TEST_F(SessionTest, MultiappendAddsEveryMessageInOneCommand) {
  auto s = login("alice");
  EXPECT_THAT(run(*s, "c CAPABILITY\r\n"), HasSubstr(" MULTIAPPEND"));
  std::string m1 = "Subject: one\r\n\r\n1\r\n", m2 = "Subject: two\r\n\r\n2\r\n";
  std::string out = run(*s, "a APPEND INBOX (\\Flagged) \"01-Feb-2024 10:00:00 +0000\" {" +
                                std::to_string(m1.size()) + "+}\r\n" + m1 + " {" +
                                std::to_string(m2.size()) + "}\r\n");
  EXPECT_EQ(out, "+ go ahead\r\n");
  out = run(*s, m2 + "\r\n");
  EXPECT_THAT(out, HasSubstr("a OK [APPENDUID "));
  EXPECT_THAT(out, HasSubstr(" 1:2] Completed"));
  out = run(*s, "b SELECT INBOX\r\nd FETCH 1:2 (FLAGS INTERNALDATE BODY.PEEK[HEADER])\r\n");
  EXPECT_THAT(out, HasSubstr("* 2 EXISTS"));
  EXPECT_THAT(out, HasSubstr("* 1 FETCH (FLAGS (\\Flagged \\Recent) INTERNALDATE "
                             "\" 1-Feb-2024 10:00:00 +0000\""));
  EXPECT_THAT(out, HasSubstr("Subject: two"));
  EXPECT_THAT(out, HasSubstr("* 2 FETCH (FLAGS (\\Recent)"));
}

TEST_F(SessionTest, MultiappendIsAllOrNothing) {
  auto admin = login("admin");
  EXPECT_THAT(run(*admin, "q SETQUOTA user/alice (STORAGE 1)\r\n"), HasSubstr("q OK"));
  auto s = login("alice");
  std::string small = "Subject: s\r\n\r\nx\r\n";
  std::string big(700, 'y');
  big.replace(0, 14, "Subject: y\r\n\r\n");
  // Each fits the 1 KiB quota; both do not.
  std::string out = run(*s, "a APPEND INBOX {700+}\r\n" + big + " {700+}\r\n" + big + "\r\n");
  EXPECT_THAT(out, HasSubstr("a NO [OVERQUOTA]"));
  EXPECT_THAT(run(*s, "b STATUS INBOX (MESSAGES)\r\n"), HasSubstr("(MESSAGES 0)"));
  // A message over maxmessagesize (1000 here) after a good one: nothing goes
  // in, the rest of the command is skipped and the connection carries on.
  out = run(*s, "c APPEND INBOX {" + std::to_string(small.size()) + "+}\r\n" + small +
                    " (\\Seen) {2000+}\r\n" + std::string(2000, 'z') + " {3+}\r\nabc\r\n");
  EXPECT_THAT(out, HasSubstr("c NO [TOOBIG]"));
  EXPECT_THAT(out, Not(HasSubstr("c OK")));
  EXPECT_THAT(run(*s, "d STATUS INBOX (MESSAGES)\r\n"), HasSubstr("(MESSAGES 0)"));
  EXPECT_THAT(staged_sizes(dir_), ::testing::IsEmpty());
  // A bad second group refuses the whole command.
  out = run(*s, "e APPEND INBOX {3+}\r\nabc (\\Bogus) {3+}\r\ndef\r\n");
  EXPECT_THAT(out, HasSubstr("e BAD"));
  EXPECT_THAT(run(*s, "f STATUS INBOX (MESSAGES)\r\n"), HasSubstr("(MESSAGES 0)"));
}

TEST_F(SessionTest, RecentGoesToOneSessionAndExamineLeavesIt) {
  auto writer = login("alice");
  run(*writer, append_cmd("a", "INBOX", kMessage));
  run(*writer, append_cmd("b", "INBOX", kMessage));
  auto examiner = login("alice");
  std::string out = run(*examiner, "e EXAMINE INBOX\r\n");
  EXPECT_THAT(out, HasSubstr("* 2 RECENT"));
  EXPECT_THAT(out, HasSubstr("e OK [READ-ONLY]"));
  auto first = login("alice");
  out = run(*first, "s SELECT INBOX\r\n");
  EXPECT_THAT(out, HasSubstr("* 2 RECENT"));
  EXPECT_THAT(run(*first, "f FETCH 1 FLAGS\r\n"), HasSubstr("FLAGS (\\Recent)"));
  auto second = login("alice");
  EXPECT_THAT(run(*second, "s SELECT INBOX\r\n"), HasSubstr("* 0 RECENT"));
  EXPECT_THAT(run(*second, "f FETCH 1 FLAGS\r\n"), HasSubstr("FLAGS ()"));
  EXPECT_THAT(run(*writer, "t STATUS INBOX (RECENT)\r\n"), HasSubstr("(RECENT 0)"));

  // A new message: the first session to be told about it gets \Recent.
  run(*writer, append_cmd("c", "INBOX", kMessage));
  out = run(*second, "n NOOP\r\n");
  EXPECT_THAT(out, HasSubstr("* 3 EXISTS"));
  EXPECT_THAT(out, HasSubstr("* 1 RECENT"));
  out = run(*first, "n NOOP\r\n");
  EXPECT_THAT(out, HasSubstr("* 3 EXISTS"));
  EXPECT_THAT(out, HasSubstr("* 2 RECENT"));
  EXPECT_THAT(run(*first, "f FETCH 3 FLAGS\r\n"), HasSubstr("* 3 FETCH (FLAGS ())"));
  EXPECT_THAT(run(*second, "f FETCH 3 FLAGS\r\n"), HasSubstr("* 3 FETCH (FLAGS (\\Recent))"));
  // The examiner keeps its view; a new SELECT finds nothing recent.
  EXPECT_THAT(run(*examiner, "f FETCH 1 FLAGS\r\n"), HasSubstr("FLAGS (\\Recent)"));
  EXPECT_THAT(run(*writer, "s SELECT INBOX\r\n"), HasSubstr("* 0 RECENT"));
}

TEST_F(SessionTest, AppendRefusesWhatCyrusRefuses) {
  auto s = login("alice");
  // A header section cut off at the end of the message.
  EXPECT_THAT(run(*s, "a APPEND INBOX {22+}\r\nTo: b\r\nSubject: no end\r\n"),
              HasSubstr("a NO Message contains invalid header"));
  EXPECT_THAT(run(*s, "b APPEND INBOX {13+}\r\nSubject: x\n\nb\r\n"),
              HasSubstr("b NO Message contains bare newlines"));
  EXPECT_THAT(run(*s, std::string("c APPEND INBOX {15+}\r\nSubject: x\r\n\r\n\0\r\n", 39)),
              HasSubstr("c NO Message contains NUL characters"));
  // In MULTIAPPEND one bad message refuses them all.
  EXPECT_THAT(run(*s, "d APPEND INBOX {6+}\r\na: b\r\n {9+}\r\nnot valid\r\n"),
              HasSubstr("d NO Message contains invalid header"));
  EXPECT_THAT(run(*s, "e STATUS INBOX (MESSAGES)\r\n"), HasSubstr("(MESSAGES 0)"));
  // A header section with no body after it is fine.
  EXPECT_THAT(run(*s, "f APPEND INBOX {12+}\r\nSubject: x\r\n\r\n"), HasSubstr("f OK"));
}

}  // namespace
}  // namespace replimail::imap
