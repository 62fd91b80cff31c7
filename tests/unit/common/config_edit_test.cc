#include "common/config_edit.h"

#include <gtest/gtest.h>

#include "common/config.h"

namespace replimail::config_edit {
namespace {

TEST(ConfigEdit, SetReplacesEveryLineOfTheKeyAndKeepsTheRest) {
  const std::string text =
      "# a replica\n"
      "configdirectory: /var/lib/replimail\n"
      "sync_log: 0\n"
      "  sync_log_channels: a \\\n"
      "    b\n"
      "sync_log_channels_x: keep\n";
  std::string out = set_option(text, "sync_log_channels", "squatter old");
  EXPECT_EQ(out,
            "# a replica\n"
            "configdirectory: /var/lib/replimail\n"
            "sync_log: 0\n"
            "sync_log_channels: squatter old\n"
            "sync_log_channels_x: keep\n");
  out = set_option(out, "sync_log", "1");
  auto cfg = Config::parse(out, "t");
  ASSERT_TRUE(cfg.ok());
  EXPECT_TRUE(cfg->get_bool("sync_log"));
  EXPECT_EQ(cfg->get("sync_log_channels_x"), "keep");
}

TEST(ConfigEdit, SetAppendsAMissingKeyAfterItsReason) {
  EXPECT_EQ(set_option("a: 1", "old_sync_host", "h:2005", "set by cyr_promote"),
            "a: 1\n# set by cyr_promote\nold_sync_host: h:2005\n");
  EXPECT_EQ(set_option("", "k", "v"), "k: v\n");
  // A comment that mentions the key is not a setting.
  EXPECT_EQ(set_option("# sync_log: 1\n", "sync_log", "0"), "# sync_log: 1\nsync_log: 0\n");
}

TEST(ConfigEdit, RemoveCommentsOutTheSettingAndItsContinuation) {
  EXPECT_EQ(remove_option("x: 1\nsync_log_channels: a \\\n b\ny: 2\n", "sync_log_channels", "gone"),
            "x: 1\n# gone: sync_log_channels: a \\\n# gone:  b\ny: 2\n");
}

}  // namespace
}  // namespace replimail::config_edit
