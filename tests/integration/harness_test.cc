// The harness itself: process running, output capture, ports, configs.
#include "harness.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "../support/temp_dir.h"
#include "digest_check.h"

namespace replimail::testing {
namespace {

TEST(Harness, RunCapturesOutputAndExitCode) {
  auto r = run({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
}

TEST(Harness, RunFeedsStdin) {
  std::string big(200000, 'x');
  auto r = run({"/bin/cat"}, big);
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out, big);
}

TEST(Harness, RunKillsAChildPastItsTimeout) {
  auto r = run({"/bin/sleep", "30"}, "", std::chrono::seconds(1));
  EXPECT_EQ(r.exit_code, 128 + 9);
}

TEST(Harness, FreePortIsBindableAndNotListening) {
  int port = free_port();
  ASSERT_GT(port, 0);
  EXPECT_FALSE(wait_for_port(port, std::chrono::milliseconds(50)));
}

TEST(Harness, PythonHelperDeliversNothingToAClosedPort) {
  Instance inst;
  auto r = inst.python("lmtp_deliver.py", {"--port", std::to_string(free_port()), "-n", "1"});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_NE(r.out.find("\"errors\": [\"conn 0"), std::string::npos) << r.out;
}

TEST(Harness, WritesCyrusFormatConfigs) {
  Instance::Options o;
  o.channels = {"replica", "squatter"};
  o.imapd_extra = {"maxmessagesize: 1000"};
  Instance inst(o);
  auto imapd = slurp(inst.imapd_conf());
  EXPECT_NE(imapd.find("configdirectory: " + inst.config_dir() + "\n"), std::string::npos);
  EXPECT_NE(imapd.find("sync_log_channels: replica squatter\n"), std::string::npos);
  EXPECT_NE(imapd.find("maxmessagesize: 1000\n"), std::string::npos);
  auto cyrus = slurp(inst.cyrus_conf());
  EXPECT_NE(cyrus.find("lmtp cmd=\"lmtpd -C " + inst.imapd_conf() +
                       " -a\" listen=\"127.0.0.1:" + std::to_string(inst.lmtp_port()) + "\""),
            std::string::npos)
      << cyrus;
  EXPECT_EQ(inst.channel_log_path("replica"), inst.config_dir() + "/sync/replica/log");
  EXPECT_EQ(inst.channel_log_path(""), inst.config_dir() + "/sync/log");
}

TEST(Harness, TempDirIsRemoved) {
  std::string path;
  {
    TempDir d;
    path = d.path();
    ASSERT_TRUE(std::filesystem::is_directory(path));
    // Under $TMPDIR, else under the working directory: never a fixed /tmp.
    EXPECT_EQ(path.rfind(temp_base() + "/replimail-it-", 0), 0u) << path;
    spit(path + "/f", "x");
  }
  if (getenv("REPLIMAIL_KEEP_STATE") == nullptr) {
    EXPECT_FALSE(std::filesystem::exists(path));
  }
}

TEST(Harness, SameDigestPassesForEqualStoresAndShowsTheDifference) {
  Instance a, b;
  a.write_configs();
  b.write_configs();
  EXPECT_TRUE(same_digest(a, b));
  ASSERT_TRUE(a.tool("cyr_mbox", {"create", "user.zed"}).ok());
  auto r = same_digest(a, b);
  ASSERT_FALSE(r);
  std::string why = r.message();
  EXPECT_NE(why.find("- mailbox user.zed "), std::string::npos) << why;
  EXPECT_EQ(why.find("+ "), std::string::npos) << why;
}

// The file half of same_mailbox(): a live record whose file is gone or
// altered, and a message file no live record names, are each reported.
TEST(Harness, FilesMatchRecordsFindsMissingAlteredAndStrayFiles) {
  Instance inst;
  ASSERT_EQ(inst.start(), "");
  ASSERT_TRUE(inst.tool("cyr_mbox", {"create", "user.zed"}).ok());
  ASSERT_EQ(deliver(inst, "zed", 3), "");
  EXPECT_TRUE(files_match_records(inst, "user.zed"));
  EXPECT_TRUE(same_mailbox(inst, inst, "user.zed"));
  const std::string dir = inst.snapshot("user.zed").dir;
  ASSERT_TRUE(spit(dir + "/1.", "altered"));
  std::filesystem::remove(dir + "/2.");
  ASSERT_TRUE(spit(dir + "/9.", "stray"));
  auto r = files_match_records(inst, "user.zed");
  ASSERT_FALSE(r);
  std::string why = r.message();
  EXPECT_NE(why.find("UID 1: file SHA-1 "), std::string::npos) << why;
  EXPECT_NE(why.find("UID 2: file missing"), std::string::npos) << why;
  EXPECT_NE(why.find("message file 9. without a live record"), std::string::npos) << why;
  EXPECT_FALSE(same_mailbox(inst, inst, "user.zed"));
}

}  // namespace
}  // namespace replimail::testing
