// METADATA replicates (issue 14): SETMETADATA through the primary's imapd
// writes the sync log like every change, so replaying that log with
// sync_client -f carries mailbox and server entries, shared and private,
// to the replica, where GETMETADATA through its imapd shows them.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "digest_check.h"
#include "harness.h"

namespace replimail::testing {
namespace {

TEST(MetadataSync, SetmetadataOnThePrimaryShowsOnTheReplica) {
  Instance::Options ro = replica_options();
  ro.services["imap"] = "imapd";
  ro.users = {{"admin", "adminpw"}, {"alice", "alicepw"}};
  Instance replica(ro);
  ASSERT_EQ(replica.start(), "");
  Instance::Options po = primary_options(replica.port("csync"));
  po.services["imap"] = "imapd";
  po.users = {{"admin", "adminpw"}, {"alice", "alicepw"}};
  po.imapd_extra.push_back("failedloginpause: 0");
  Instance primary(po);
  ASSERT_EQ(primary.start(), "");
  ASSERT_TRUE(primary.tool("cyr_mbox", {"create", "user.alice"}).ok());
  std::string target = "127.0.0.1:" + std::to_string(replica.port("csync"));
  auto all = primary.tool("sync_client", {"-v", "-S", target, "-A"});
  ASSERT_TRUE(all.ok()) << all.describe();
  // Only what SETMETADATA logs from here on reaches the replica.
  ASSERT_TRUE(primary.tool("sync_client", {"-v", "-S", target, "-f",
                                           primary.channel_log_path("replica")}).ok());

  auto set = imap_script(primary, "alice:alicepw",
                  {"SETMETADATA INBOX (/shared/comment \"for everyone\" /private/comment "
                   "\"alice's own\" /shared/vendor/cmu/cyrus-imapd/expire \"30\")",
                   "SETMETADATA \"\" (/private/comment \"alice on the server\")"});
  ASSERT_TRUE(set.ok()) << set.describe();
  EXPECT_EQ(set.out, "t1 OK Completed\nt2 OK Completed\n");
  auto admin_set = imap_script(primary, "admin:adminpw",
                        {"SETMETADATA \"\" (/shared/comment \"the server\")"});
  ASSERT_TRUE(admin_set.ok()) << admin_set.describe();
  EXPECT_EQ(admin_set.out, "t1 OK Completed\n");
  EXPECT_NE(primary.channel_log("replica").find("MAILBOX user.alice"), std::string::npos)
      << primary.channel_log("replica");

  auto f = primary.tool("sync_client",
                        {"-v", "-S", target, "-f", primary.channel_log_path("replica")});
  ASSERT_TRUE(f.ok()) << f.describe();

  std::vector<std::string> gets = {
      "GETMETADATA INBOX (/shared/comment /private/comment /shared/vendor/cmu/cyrus-imapd/expire)",
      "GETMETADATA \"\" (/shared/comment /private/comment)"};
  auto on_primary = imap_script(primary, "alice:alicepw", gets);
  auto on_replica = imap_script(replica, "alice:alicepw", gets);
  ASSERT_TRUE(on_primary.ok()) << on_primary.describe();
  ASSERT_TRUE(on_replica.ok()) << on_replica.describe();
  EXPECT_NE(on_replica.out.find("\"/shared/comment\" \"for everyone\""), std::string::npos)
      << on_replica.out;
  EXPECT_NE(on_replica.out.find("\"/private/comment\" \"alice's own\""), std::string::npos)
      << on_replica.out;
  EXPECT_NE(on_replica.out.find("\"/shared/vendor/cmu/cyrus-imapd/expire\" \"30\""),
            std::string::npos)
      << on_replica.out;
  EXPECT_NE(on_replica.out.find("\"/shared/comment\" \"the server\""), std::string::npos)
      << on_replica.out;
  EXPECT_NE(on_replica.out.find("\"/private/comment\" \"alice on the server\""), std::string::npos)
      << on_replica.out;
  EXPECT_EQ(on_replica.out, on_primary.out);

  // A deletion (NIL) replicates too.
  auto del = imap_script(primary, "alice:alicepw", {"SETMETADATA INBOX (/shared/comment NIL)"});
  ASSERT_TRUE(del.ok()) << del.describe();
  auto f2 = primary.tool("sync_client",
                         {"-v", "-S", target, "-f", primary.channel_log_path("replica")});
  ASSERT_TRUE(f2.ok()) << f2.describe();
  auto after = imap_script(replica, "alice:alicepw", {"GETMETADATA INBOX /shared/comment"});
  ASSERT_TRUE(after.ok()) << after.describe();
  EXPECT_EQ(after.out, "* METADATA INBOX (\"/shared/comment\" NIL)\nt1 OK Completed\n");
  EXPECT_SAME_DIGEST(primary, replica);
}

}  // namespace
}  // namespace replimail::testing
