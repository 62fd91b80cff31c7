#include "common/config.h"

#include <gtest/gtest.h>

namespace replimail {
namespace {

TEST(ConfigTest, ParsesKeysCommentsAndDefaults) {
  auto cfg = Config::parse(
      "# a comment\n"
      "configdirectory: /var/lib/imap\n"
      "\n"
      "partition-default: /var/spool/imap\n"
      "sync_log: yes\n"
      "sync_log_channels: replica squatter\n"
      "replica_sync_host: 127.0.0.1\n"
      "admins: admin, cyrus\n",
      "imapd.conf");
  ASSERT_TRUE(cfg.ok()) << cfg.status().to_string();
  EXPECT_EQ(cfg->configdirectory(), "/var/lib/imap");
  EXPECT_EQ(cfg->partition_path("default").value(), "/var/spool/imap");
  EXPECT_FALSE(cfg->partition_path("other").has_value());
  EXPECT_TRUE(cfg->get_bool("sync_log"));
  EXPECT_EQ(cfg->defaultpartition(), "default");
  EXPECT_EQ(cfg->get_duration("sync_repeat_interval").count(), 1);
  EXPECT_EQ(cfg->get_duration("sync_timeout").count(), 1800);
  EXPECT_EQ(cfg->channel_get("replica", "sync_host"), "127.0.0.1");
  EXPECT_EQ(cfg->channel_get("other", "sync_host"), "");
  EXPECT_TRUE(cfg->is_admin("cyrus"));
  EXPECT_FALSE(cfg->is_admin("alice"));
  EXPECT_TRUE(cfg->warnings().empty());
}

TEST(ConfigTest, BrokenLineNamesFileAndLine) {
  auto cfg = Config::parse("configdirectory: /x\nthis line has no colon\n", "/etc/imapd.conf");
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.status().code(), Code::kConfigError);
  EXPECT_NE(cfg.status().message().find("/etc/imapd.conf:2"), std::string::npos);
}

TEST(ConfigTest, BadValueForKnownOptionIsAnError) {
  auto cfg = Config::parse("sync_log: maybe\n", "c");
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.status().message().find("c:1"), std::string::npos);
  EXPECT_FALSE(Config::parse("sync_batchsize: lots\n", "c").ok());
  EXPECT_FALSE(Config::parse("sync_timeout: 5x\n", "c").ok());
}

TEST(ConfigTest, UnknownOptionIsAWarning) {
  auto cfg = Config::parse("frobnicate: 1\nreplica_sync_port: 2005\n", "c");
  ASSERT_TRUE(cfg.ok());
  ASSERT_EQ(cfg->warnings().size(), 1u);
  EXPECT_NE(cfg->warnings()[0].find("frobnicate"), std::string::npos);
  EXPECT_EQ(cfg->raw("frobnicate").value(), "1");
}

TEST(ConfigTest, Durations) {
  EXPECT_EQ(parse_duration("1h30m")->count(), 5400);
  EXPECT_EQ(parse_duration("45")->count(), 45);
  EXPECT_EQ(parse_duration("2", 'm')->count(), 120);
  EXPECT_FALSE(parse_duration("").has_value());
  EXPECT_FALSE(parse_duration("m").has_value());
  EXPECT_FALSE(parse_duration("3q").has_value());
}

TEST(ConfigTest, Switches) {
  EXPECT_TRUE(*parse_switch("On"));
  EXPECT_TRUE(*parse_switch("yes"));
  EXPECT_FALSE(*parse_switch("0"));
  EXPECT_FALSE(*parse_switch("false"));
  EXPECT_FALSE(parse_switch("maybe").has_value());
}

}  // namespace
}  // namespace replimail
