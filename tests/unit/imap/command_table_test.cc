// The state checks dispatch() makes from the command table
// (session_commands.cc), command by command, in Cyrus 3.6's wording.
#include "session_fixture.h"

namespace replimail::imap::test {
namespace {

// Every command that needs a login; the last eleven need a selected mailbox.
const char* const kNeedLogin[] = {
    "ENABLE",      "COMPRESS",    "UNAUTHENTICATE", "SELECT",      "EXAMINE",      "CREATE",
    "DELETE",      "RENAME",      "SUBSCRIBE",      "UNSUBSCRIBE", "LIST",         "LSUB",
    "STATUS",      "APPEND",      "NAMESPACE",      "IDLE",        "GETACL",       "SETACL",
    "DELETEACL",   "MYRIGHTS",    "LISTRIGHTS",     "GETQUOTA",    "GETQUOTAROOT", "SETQUOTA",
    "GETMETADATA", "SETMETADATA", "CHECK",          "CLOSE",       "UNSELECT",     "EXPUNGE",
    "SEARCH",      "FETCH",       "STORE",          "COPY",        "MOVE",         "SORT",
    "THREAD"};
const char* const kNeedSelected[] = {"CHECK", "CLOSE", "UNSELECT", "EXPUNGE", "SEARCH", "FETCH",
                                     "STORE", "COPY",  "MOVE",     "SORT",    "THREAD"};
const char* const kUid[] = {"FETCH", "STORE",   "SEARCH", "COPY",
                            "MOVE",  "EXPUNGE", "SORT",   "THREAD"};
const char* const kNoArguments[] = {"CAPABILITY", "NOOP",     "LOGOUT",  "NAMESPACE",
                                    "CHECK",      "UNSELECT", "STARTTLS"};

using CommandTableTest = SessionTest;

TEST_F(CommandTableTest, BeforeLoginOnlyTheConnectionCommandsRun) {
  auto s = session();
  for (const char* name : kNeedLogin) {
    EXPECT_EQ(run(*s, std::string("t ") + name + "\r\n"), "t BAD Please login first\r\n") << name;
  }
  for (const char* name : kUid) {
    EXPECT_EQ(run(*s, std::string("t UID ") + name + "\r\n"), "t BAD Please login first\r\n")
        << name;
  }
  EXPECT_EQ(run(*s, "t FROB\r\n"), "t BAD Unrecognized command\r\n");
  EXPECT_EQ(run(*s, "t UID FROB\r\n"), "t BAD Unrecognized UID subcommand\r\n");
  EXPECT_EQ(run(*s, "t UID LIST \"\" *\r\n"), "t BAD Unrecognized UID subcommand\r\n");
  EXPECT_EQ(run(*s, "t NOOP\r\n"), "t OK Completed\r\n");
  EXPECT_THAT(run(*s, "t ID NIL\r\n"), ::testing::EndsWith("t OK Completed\r\n"));
  EXPECT_THAT(run(*s, "t CAPABILITY\r\n"), ::testing::EndsWith("t OK Completed\r\n"));
  EXPECT_EQ(run(*s, "t LOGIN alice wrong\r\n"),
            "t NO [AUTHENTICATIONFAILED] Login failed: authentication failure\r\n");
}

TEST_F(CommandTableTest, ExtraArgumentsAreRefusedInEveryState) {
  auto pre = session();
  auto s = login("alice");
  for (const char* name : kNoArguments) {
    std::string want = std::string("t BAD Unexpected extra arguments to ") + name + "\r\n";
    EXPECT_EQ(run(*pre, std::string("t ") + name + " x\r\n"), want) << name;
    EXPECT_EQ(run(*s, std::string("t ") + name + " x\r\n"), want) << name;
  }
  EXPECT_EQ(run(*s, "t UID NOOP x\r\n"), "t BAD Unrecognized UID subcommand\r\n");
}

TEST_F(CommandTableTest, AfterLoginTheSelectedCommandsWaitForASelect) {
  auto s = login("alice");
  for (const char* name : kNeedSelected) {
    std::string want = "t BAD Please select a mailbox first\r\n";
    EXPECT_EQ(run(*s, std::string("t ") + name + "\r\n"), want) << name;
  }
  for (const char* name : kUid) {
    EXPECT_EQ(run(*s, std::string("t UID ") + name + "\r\n"),
              "t BAD Please select a mailbox first\r\n")
        << name;
  }
  for (const char* name : {"LOGIN", "AUTHENTICATE", "STARTTLS"}) {
    EXPECT_EQ(run(*s, std::string("t ") + name + "\r\n"), "t BAD Already authenticated\r\n")
        << name;
  }
  EXPECT_EQ(run(*s, "t FROB\r\n"), "t BAD Unrecognized command\r\n");
  EXPECT_EQ(run(*s, "t UID CAPABILITY\r\n"), "t BAD Unrecognized UID subcommand\r\n");
  EXPECT_THAT(run(*s, "t SELECT INBOX\r\n"), ::testing::HasSubstr("t OK [READ-WRITE]"));
  EXPECT_EQ(run(*s, "t CHECK\r\n"), "t OK Completed\r\n");
  EXPECT_EQ(run(*s, "t UID SEARCH ALL\r\n"), "* SEARCH\r\nt OK Completed\r\n");
  EXPECT_EQ(run(*s, "t LOGOUT\r\n"), "* BYE LOGOUT received\r\nt OK Completed\r\n");
  EXPECT_TRUE(s->closed());
}

}  // namespace
}  // namespace replimail::imap::test
