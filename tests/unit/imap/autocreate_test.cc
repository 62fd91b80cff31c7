// INBOX autocreation at IMAP login (imapd.conf autocreate_quota, as Cyrus).
#include <gtest/gtest.h>

#include "session_fixture.h"

namespace replimail::imap::test {
namespace {

class AutocreateLoginTest : public SessionTest {
 protected:
  // Re-opens the instance with `extra` imapd.conf lines.
  void reopen(const std::string& extra) {
    instance_.reset();
    std::string text = "configdirectory: " + dir_ + "/conf\npartition-default: " + dir_ +
                       "/spool\nsync_log: 1\nadmins: admin\n" + extra;
    auto cfg = Config::parse(text, "imapd.conf");
    ASSERT_TRUE(cfg.ok());
    auto inst = store::Instance::open(*cfg);
    ASSERT_TRUE(inst.ok()) << inst.status().to_string();
    instance_ = std::move(*inst);
  }
};

TEST_F(AutocreateLoginTest, LoginCreatesInboxAndFolders) {
  reopen("autocreate_quota: 0\nautocreate_inbox_folders: Drafts|Sent\n"
         "autocreate_subscribe_folders: Sent\n");
  auto s = login("carol");
  std::string out = run(*s, "s SELECT INBOX\r\nl LSUB \"\" *\r\n");
  EXPECT_NE(out.find("s OK"), std::string::npos) << out;
  EXPECT_NE(out.find("* LSUB () \"/\" INBOX"), std::string::npos) << out;
  EXPECT_NE(out.find("* LSUB () \"/\" Sent"), std::string::npos) << out;
  EXPECT_EQ(out.find("Drafts"), std::string::npos) << out;
  EXPECT_TRUE(instance_->lookup("user.carol.Drafts").ok());
  auto q = instance_->quota().find_root("user.carol");
  ASSERT_TRUE(q.ok());
  EXPECT_FALSE(q->has_value()) << "autocreate_quota 0 means unlimited: no quota root";
}

TEST_F(AutocreateLoginTest, DefaultCreatesNothingAndAdminsNever) {
  auto s = login("dora");
  EXPECT_EQ(instance_->lookup("user.dora").status().code(), Code::kMailboxNonexistent);
  reopen("autocreate_quota: 100\n");
  auto a = login("admin");
  EXPECT_EQ(instance_->lookup("user.admin").status().code(), Code::kMailboxNonexistent);
  auto d = login("dora");
  ASSERT_TRUE(instance_->lookup("user.dora").ok());
  auto q = instance_->quota().get("user.dora");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->storage_limit_kib, 100);
}

}  // namespace
}  // namespace replimail::imap::test
