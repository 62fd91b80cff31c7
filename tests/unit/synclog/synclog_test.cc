#include "synclog/synclog.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "common/fs.h"
#include "test_dir.h"

namespace replimail::synclog {
namespace {

Config make_config(const std::string& confdir, const std::string& extra) {
  auto c = Config::parse("configdirectory: " + confdir + "\n" + extra, "test.conf");
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return *c;
}

std::string slurp(const std::string& path) {
  auto r = fs::read_file(path);
  return r.ok() ? *r : "<missing>";
}

TEST(LogPath, DefaultAndNamed) {
  EXPECT_EQ(log_path("/var/lib/imap", ""), "/var/lib/imap/sync/log");
  EXPECT_EQ(log_path("/var/lib/imap", "replica"), "/var/lib/imap/sync/replica/log");
}

TEST(ParseChannelList, Tokens) {
  EXPECT_EQ(parse_channel_list(""), std::vector<std::string>{});
  EXPECT_EQ(parse_channel_list("a \"\"  b a"), (std::vector<std::string>{"a", "", "b"}));
}

TEST(SyncLog, OffWritesNothing) {
  TestDir d;
  SyncLog log(make_config(d.path(), ""));
  EXPECT_TRUE(log.channels().empty());
  EXPECT_TRUE(log.mailbox("user.bob"));
  EXPECT_FALSE(fs::exists(d.path() + "/sync"));
}

TEST(SyncLog, DefaultChannelWithDirsAndModes) {
  TestDir d;
  SyncLog log(make_config(d.path(), "sync_log: on\n"));
  EXPECT_EQ(log.channels(), std::vector<std::string>{""});
  EXPECT_TRUE(log.user("bob"));
  EXPECT_TRUE(log.rename("user.bob.a", "user.bob.b c"));
  EXPECT_TRUE(log.seen("bob", "0fa1-uid"));
  EXPECT_TRUE(log.annotation(""));
  const std::string path = d.path() + "/sync/log";
  EXPECT_EQ(slurp(path),
            "USER bob\nRENAME user.bob.a \"user.bob.b c\"\nMAILBOX user.bob.a\n"
            "MAILBOX \"user.bob.b c\"\nSEEN bob 0fa1-uid\nANNOTATION \"\"\n");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777 & ~0022, 0640u & ~0022u);
  ASSERT_EQ(::stat((d.path() + "/sync").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
}

TEST(SyncLog, EveryHelperWritesItsKeyword) {
  TestDir d;
  SyncLog log(make_config(d.path(), "sync_log: 1\n"));
  EXPECT_TRUE(log.unuser("u"));
  EXPECT_TRUE(log.meta("u"));
  EXPECT_TRUE(log.mailbox("m"));
  EXPECT_TRUE(log.append("m"));
  EXPECT_TRUE(log.doublemailbox("a", "b"));
  EXPECT_TRUE(log.unmailbox("m"));
  EXPECT_TRUE(log.quota("user.u"));
  EXPECT_TRUE(log.sub("u", "user.u.x"));
  EXPECT_EQ(slurp(d.path() + "/sync/log"),
            "UNUSER u\nMETA u\nMAILBOX m\nAPPEND m\nDOUBLEMAILBOX a b\nUNMAILBOX m\n"
            "QUOTA user.u\nSUB u user.u.x\n");
}

TEST(SyncLog, NamedChannelsOnlyUnlessDefaultListed) {
  TestDir d;
  SyncLog log(make_config(d.path(), "sync_log: 1\nsync_log_channels: replica squatter\n"));
  EXPECT_TRUE(log.append("user.bob"));
  EXPECT_EQ(slurp(d.path() + "/sync/replica/log"), "APPEND user.bob\n");
  EXPECT_EQ(slurp(d.path() + "/sync/squatter/log"), "APPEND user.bob\n");
  EXPECT_FALSE(fs::exists(d.path() + "/sync/log"));

  TestDir d2;
  SyncLog both(make_config(d2.path(), "sync_log: 1\nsync_log_channels: \"\" squatter\n"));
  EXPECT_TRUE(both.append("user.bob"));
  EXPECT_EQ(slurp(d2.path() + "/sync/log"), "APPEND user.bob\n");
  EXPECT_EQ(slurp(d2.path() + "/sync/squatter/log"), "APPEND user.bob\n");
}

TEST(SyncLog, SuppressKeepsUnsuppressableChannels) {
  TestDir d;
  SyncLog log(make_config(d.path(), "sync_log: 1\nsync_log_channels: replica squatter\n"));
  log.suppress();
  EXPECT_TRUE(log.suppressed());
  EXPECT_EQ(log.channels(), std::vector<std::string>{"squatter"});
  EXPECT_TRUE(log.mailbox("user.bob"));
  EXPECT_FALSE(fs::exists(d.path() + "/sync/replica/log"));
  EXPECT_EQ(slurp(d.path() + "/sync/squatter/log"), "MAILBOX user.bob\n");
}

TEST(SyncLog, ChainIgnoresSuppress) {
  TestDir d;
  SyncLog log(make_config(d.path(),
                          "sync_log: 1\nsync_log_chain: 1\nsync_log_channels: c2\n"
                          "sync_log_unsuppressable_channels: \n"));
  log.suppress();
  EXPECT_FALSE(log.suppressed());
  EXPECT_TRUE(log.mailbox("user.bob"));
  EXPECT_EQ(slurp(d.path() + "/sync/c2/log"), "MAILBOX user.bob\n");
}

// A batch with a line that cannot be written is refused whole: the change
// it announces must not be made, so none of it is logged.
TEST(SyncLog, BadLineRefusesTheBatch) {
  TestDir d;
  SyncLog log(make_config(d.path(), "sync_log: 1\n"));
  EXPECT_EQ(log.write({{"MAILBOX", {"a\nUSER evil"}}, {"MAILBOX", {"b"}}}).code(),
            Code::kInvalidArgument);
  EXPECT_EQ(log.write({{"MAILBOX", {"c"}}, {"USER", {"\r"}}}).code(), Code::kInvalidArgument);
  EXPECT_EQ(slurp(d.path() + "/sync/log"), "<missing>");
  EXPECT_TRUE(log.mailbox("d"));
  EXPECT_EQ(slurp(d.path() + "/sync/log"), "MAILBOX d\n");
}

TEST(SyncLog, RawLines) {
  TestDir d;
  SyncLog log(make_config(d.path(), "sync_log: 1\n"));
  EXPECT_TRUE(log.log_raw("MAILBOX user.x"));
  EXPECT_FALSE(log.log_raw("MAILBOX a\nUSER b"));
  EXPECT_FALSE(log.log_raw(""));
  EXPECT_EQ(slurp(d.path() + "/sync/log"), "MAILBOX user.x\n");
}

TEST(SyncLog, UnwritableChannelIsReportedNotFatal) {
  TestDir d;
  ASSERT_TRUE(fs::write_file_atomic(d.path() + "/sync", "a file, not a directory"));
  SyncLog log(make_config(d.path(), "sync_log: 1\nsync_log_channels: c\n"));
  EXPECT_FALSE(log.mailbox("user.bob"));
  EXPECT_EQ(log.write({{"MAILBOX", {"user.bob"}}}).code(), Code::kIoError);
  EXPECT_EQ(log.log_raw("MAILBOX x").code(), Code::kIoError);
  EXPECT_FALSE(append_lines(log_path(d.path(), "c"), "MAILBOX x\n"));
}

TEST(SyncLog, LogTakenOverOrRemovedBetweenAppendsGetsANewFile) {
  TestDir d;
  SyncLog log(make_config(d.path(), "sync_log: 1\nsync_log_channels: c\n"));
  std::string path = log_path(d.path(), "c");
  EXPECT_TRUE(log.mailbox("user.a"));
  ASSERT_EQ(::rename(path.c_str(), (path + "-run").c_str()), 0);
  EXPECT_TRUE(log.mailbox("user.b"));
  EXPECT_EQ(slurp(path + "-run"), "MAILBOX user.a\n");
  EXPECT_EQ(slurp(path), "MAILBOX user.b\n");
  ASSERT_EQ(::unlink(path.c_str()), 0);
  EXPECT_TRUE(log.mailbox("user.c"));
  EXPECT_EQ(slurp(path), "MAILBOX user.c\n");
  EXPECT_TRUE(log.mailbox("user.d"));
  EXPECT_EQ(slurp(path), "MAILBOX user.c\nMAILBOX user.d\n");
}

}  // namespace
}  // namespace replimail::synclog
