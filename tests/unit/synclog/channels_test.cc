#include "synclog/channels.h"

#include <gtest/gtest.h>

namespace replimail::synclog {
namespace {

std::vector<std::string> check(const std::string& text) {
  auto cfg = Config::parse("configdirectory: /tmp/unused\n" + text, "test.conf");
  EXPECT_TRUE(cfg.ok()) << cfg.status().to_string();
  return check_channels(*cfg);
}

TEST(CheckChannels, SyncLogOffSaysNothing) {
  EXPECT_TRUE(check("sync_log: 0\nsync_log_channels: squatter\n").empty());
}

TEST(CheckChannels, OnlySquatterWarnsThatReplicationIsOff) {
  auto w = check("sync_log: 1\nsync_log_channels: squatter\n");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("only squatter"), std::string::npos) << w[0];
}

TEST(CheckChannels, ConsistentChannelsSayNothing) {
  EXPECT_TRUE(check("sync_log: 1\nsync_log_channels: replica squatter\n"
                    "replica_sync_host: 127.0.0.1\n")
                  .empty());
  EXPECT_TRUE(check("sync_log: 1\nsync_host: 127.0.0.1\n").empty());
  // sync_host is every channel's fallback host.
  EXPECT_TRUE(check("sync_log: 1\nsync_log_channels: a b\nsync_host: replica.example\n").empty());
}

TEST(CheckChannels, ChannelWithoutHostIsNamed) {
  auto w = check("sync_log: 1\nsync_log_channels: replica1 replica2 squatter\n"
                 "replica1_sync_host: 127.0.0.1\n");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("\"replica2\""), std::string::npos) << w[0];
  EXPECT_NE(w[0].find("replica2_sync_host"), std::string::npos) << w[0];
  auto d = check("sync_log: 1\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_NE(d[0].find("default channel"), std::string::npos) << d[0];
}

}  // namespace
}  // namespace replimail::synclog
