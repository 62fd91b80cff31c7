#include "master/cyrus_conf_edit.h"

#include <gtest/gtest.h>

namespace replimail::master {
namespace {

Entry entry(std::vector<std::string> argv) {
  Entry e;
  e.argv = std::move(argv);
  return e;
}

TEST(CyrusConfEdit, RollingChannelOfSyncClientEntries) {
  EXPECT_EQ(rolling_channel(entry({"sync_client", "-r", "-n", "replica1"})), "replica1");
  EXPECT_EQ(rolling_channel(
                entry({"/usr/lib/replimail/sync_client", "-C", "/etc/x.conf", "-R", "-nrep2"})),
            "rep2");
  EXPECT_EQ(rolling_channel(entry({"sync_client", "-rv"})), "");
  EXPECT_EQ(rolling_channel(entry({"sync_client", "-u", "alice"})), std::nullopt);
  EXPECT_EQ(rolling_channel(entry({"sync_client", "-C", "-r.conf", "-A"})), std::nullopt);
  EXPECT_EQ(rolling_channel(entry({"squatter", "-R"})), std::nullopt);
}

TEST(CyrusConfEdit, AddDaemonGoesIntoTheDaemonSectionOrANewOne) {
  const std::string text =
      "SERVICES {\n  lmtp cmd=\"lmtpd\" listen=\"lmtp\"\n}\n"
      "daemon {  # the long-running ones\n  synclog cmd=\"sync_logd\"\n}\n";
  std::string out = add_daemon(text, "syncold", "sync_client -r -n old");
  EXPECT_EQ(out,
            "SERVICES {\n  lmtp cmd=\"lmtpd\" listen=\"lmtp\"\n}\n"
            "daemon {  # the long-running ones\n  synclog cmd=\"sync_logd\"\n"
            "  syncold cmd=\"sync_client -r -n old\"\n}\n");
  auto parsed = parse_cyrus_conf(out, "t");
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(parsed->daemons.size(), 2u);
  EXPECT_EQ(rolling_channel(parsed->daemons[1]), "old");

  std::string fresh = add_daemon("SERVICES {\n}\n", "s", "sync_client -r");
  auto p2 = parse_cyrus_conf(fresh, "t");
  ASSERT_TRUE(p2.ok());
  ASSERT_EQ(p2->daemons.size(), 1u);
}

TEST(CyrusConfEdit, CommentOutLinesLeavesTheSectionParsable) {
  const std::string text =
      "DAEMON {\n  a cmd=\"sync_client -r -n x\"\n  b cmd=\"squatter -R\"\n}\n";
  auto parsed = parse_cyrus_conf(text, "t");
  ASSERT_TRUE(parsed.ok());
  std::string out = comment_out_lines(text, {parsed->daemons[0].line}, "rejoin");
  auto again = parse_cyrus_conf(out, "t");
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->daemons.size(), 1u);
  EXPECT_EQ(again->daemons[0].name, "b");
  EXPECT_NE(out.find("# rejoin:   a cmd="), std::string::npos);
}

}  // namespace
}  // namespace replimail::master
