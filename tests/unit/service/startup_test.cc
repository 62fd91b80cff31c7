#include "service/startup.h"

#include <gtest/gtest.h>

namespace replimail::service {
namespace {

const std::vector<Flag> kFlags = {{"-s", ""}, {"-p", "ssf"}};

TEST(ParseFlags, NoneGiven) {
  auto flags = parse_flags({"imapd"}, kFlags);
  ASSERT_TRUE(flags.ok());
  EXPECT_TRUE(flags->empty());
}

TEST(ParseFlags, FlagsWithAndWithoutValues) {
  auto flags = parse_flags({"prog", "-p", "256", "-s"}, kFlags);
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(flags->size(), 2u);
  EXPECT_EQ(flags->at("-p"), "256");
  EXPECT_EQ(flags->at("-s"), "");
}

TEST(ParseFlags, UnknownFlagIsNamed) {
  auto flags = parse_flags({"prog", "-s", "-z"}, kFlags);
  ASSERT_FALSE(flags.ok());
  EXPECT_EQ(flags.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(flags.status().message(), "unknown option -z");
}

TEST(ParseFlags, MissingValueIsAnError) {
  auto flags = parse_flags({"prog", "-p"}, kFlags);
  ASSERT_FALSE(flags.ok());
  EXPECT_EQ(flags.status().message(), "option -p needs ssf");
}

TEST(ParseFlags, ValueIsNotReadAsAFlag) {
  auto flags = parse_flags({"prog", "-p", "-s"}, kFlags);
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(flags->at("-p"), "-s");
  EXPECT_EQ(flags->count("-s"), 0u);
}

TEST(UsageLine, ListsGenericThenOwnFlags) {
  Spec spec{"sync_server", kFlags, "", false, ""};
  EXPECT_EQ(usage_line(spec),
            "usage: sync_server [-C imapd.conf] [-U uses] [-T timeout] [-X] [-D] [-s] [-p ssf]");
}

TEST(Fail, UsageAndConfigExitCodes) {
  EXPECT_EQ(fail(Status(Code::kInvalidArgument, "unknown option -z")), kExitUsage);
  EXPECT_EQ(fail(Status(Code::kConfigError, "imapd.conf:3: bad line")), kExitConfig);
  EXPECT_EQ(fail(Status(Code::kIoError, "cannot open the mail store")), kExitConfig);
}

}  // namespace
}  // namespace replimail::service
