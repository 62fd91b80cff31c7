// SETQUOTA with an empty list, as Cyrus 3.6 answers it (sessions/acl.txt).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "imap/session.h"
#include "session_fixture.h"

namespace replimail::imap {
namespace {

using test::SessionTest;
using ::testing::HasSubstr;
using ::testing::Not;

// SETQUOTA root () leaves a quota root without limits, which GETQUOTA and
// GETQUOTAROOT show as "()"; a mailbox that does not exist is NO.
TEST_F(SessionTest, SetQuotaWithoutLimitsKeepsTheRoot) {
  auto admin = login("admin");
  EXPECT_THAT(run(*admin, "1 CREATE user/carol\r\n"), HasSubstr("1 OK"));
  EXPECT_THAT(run(*admin, "2 SETQUOTA user/carol ()\r\n"), HasSubstr("2 OK"));
  std::string out = run(*admin, "3 GETQUOTA user/carol\r\n");
  EXPECT_THAT(out, HasSubstr("* QUOTA user/carol ()\r\n3 OK"));
  run(*admin, "4 SETQUOTA user/carol (STORAGE 100)\r\n");
  EXPECT_THAT(run(*admin, "5 GETQUOTA user/carol\r\n"), HasSubstr("(STORAGE 0 100)"));
  EXPECT_THAT(run(*admin, "6 SETQUOTA user/carol ()\r\n"), HasSubstr("6 OK"));
  out = run(*admin, "7 GETQUOTAROOT user/carol\r\n");
  EXPECT_THAT(out, HasSubstr("* QUOTAROOT user/carol user/carol\r\n* QUOTA user/carol ()\r\n7 OK"));
  EXPECT_THAT(run(*admin, "8 SETQUOTA user/nosuch ()\r\n"), HasSubstr("8 NO"));
  EXPECT_THAT(run(*admin, "9 GETQUOTA user/nosuch\r\n"), HasSubstr("9 NO"));
}

}  // namespace
}  // namespace replimail::imap
