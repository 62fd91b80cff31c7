// A change that cannot be logged to every channel is refused and not made:
// nothing may be acknowledged that no replica will ever hear of. Each
// mutation is tried while the channel's log path is a directory, then again
// once it can be written.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "store/instance.h"
#include "store_test_util.h"

namespace replimail::store {
namespace {

using testing::TempInstance;

// Replaces the channel's log by a directory: opening it for append fails.
void break_log(TempInstance& t) {
  std::filesystem::remove(t.log_path());
  ASSERT_TRUE(std::filesystem::create_directory(t.log_path()));
}

void mend_log(TempInstance& t) { ASSERT_TRUE(std::filesystem::remove(t.log_path())); }

uint32_t exists(TempInstance& t, const std::string& name) {
  auto m = t.inst().open_mailbox(name);
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  if (!m.ok()) return 0;
  auto c = (*m)->counters();
  EXPECT_TRUE(c.ok());
  return c.ok() ? c->exists : 0;
}

// Message files ("<uid>.") in the mailbox directories under `dir`.
size_t files_in(const std::string& dir) {
  size_t n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (e.is_regular_file() && name.size() > 1 && name.back() == '.' &&
        name.find_first_not_of("0123456789") == name.size() - 1)
      ++n;
  }
  return n;
}

TEST(SyncLogFailure, AppendIsRefusedAndLeavesNoTrace) {
  TempInstance t;
  ASSERT_TRUE(t.inst().create_mailbox("user.bob", {}).ok());
  ASSERT_NE(t.deliver("user.bob", "Subject: one\r\n\r\nfirst\r\n"), 0u);
  size_t files = files_in(t.root() + "/part");
  ASSERT_EQ(files, 1u);
  break_log(t);

  auto msg = t.stage("Subject: two\r\n\r\nsecond\r\n");
  AppendRequest req;
  req.mailbox = "user.bob";
  req.message = msg.get();
  auto res = t.inst().append({req});
  EXPECT_EQ(res[0].status.code(), Code::kIoError) << res[0].status.to_string();
  EXPECT_EQ(exists(t, "user.bob"), 1u);
  EXPECT_EQ(files_in(t.root() + "/part"), files);

  mend_log(t);
  auto again = t.inst().append({req});
  ASSERT_TRUE(again[0].status.is_ok()) << again[0].status.to_string();
  EXPECT_EQ(again[0].uid, 2u);  // the refused append used no UID
  EXPECT_EQ(exists(t, "user.bob"), 2u);
  auto lines = t.take_log();
  EXPECT_NE(std::find(lines.begin(), lines.end(), testing::L("APPEND", {"user.bob"})),
            lines.end());
}

TEST(SyncLogFailure, FlagsAndExpungeAreRefusedAndUnchanged) {
  TempInstance t;
  ASSERT_TRUE(t.inst().create_mailbox("user.bob", {}).ok());
  uint32_t uid = t.deliver("user.bob", "Subject: one\r\n\r\nfirst\r\n");
  ASSERT_NE(uid, 0u);
  break_log(t);
  EXPECT_EQ(t.inst().store_flags("user.bob", {uid}, kFlagSeen, {"$Junk"}, true).code(),
            Code::kIoError);
  EXPECT_EQ(t.inst().expunge("user.bob", {uid}).code(), Code::kIoError);
  auto m = t.inst().open_mailbox("user.bob");
  ASSERT_TRUE(m.ok());
  auto rec = (*m)->record(uid);
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->system_flags & (kFlagSeen | kFlagExpunged), 0u);
  EXPECT_TRUE(rec->user_flags.empty());
  EXPECT_EQ(exists(t, "user.bob"), 1u);
  mend_log(t);
  EXPECT_TRUE(t.inst().store_flags("user.bob", {uid}, kFlagSeen, {}, true).is_ok());
}

TEST(SyncLogFailure, MailboxListChangesAreRefusedAndUnchanged) {
  TempInstance t;
  ASSERT_TRUE(t.inst().create_mailbox("user.bob", {}).ok());
  ASSERT_TRUE(t.inst().create_mailbox("user.bob.old", {}).ok());
  auto before = t.inst().lookup("user.bob.old");
  ASSERT_TRUE(before.ok());
  break_log(t);

  EXPECT_EQ(t.inst().create_mailbox("user.bob.new", {}).status().code(), Code::kIoError);
  EXPECT_EQ(t.inst().lookup("user.bob.new").status().code(), Code::kMailboxNonexistent);
  EXPECT_EQ(t.inst().rename_mailbox("user.bob.old", "user.bob.renamed").code(), Code::kIoError);
  EXPECT_TRUE(t.inst().lookup("user.bob.old").ok());
  EXPECT_EQ(t.inst().lookup("user.bob.renamed").status().code(), Code::kMailboxNonexistent);
  EXPECT_EQ(t.inst().set_acl("user.bob.old", "bob\tlrs\t").code(), Code::kIoError);
  EXPECT_EQ(t.inst().lookup("user.bob.old")->acl, before->acl);
  EXPECT_EQ(t.inst().delete_mailbox("user.bob.old").code(), Code::kIoError);
  EXPECT_TRUE(t.inst().lookup("user.bob.old").ok());
  EXPECT_EQ(exists(t, "user.bob.old"), 0u);  // still opens: its index is intact

  mend_log(t);
  EXPECT_TRUE(t.inst().rename_mailbox("user.bob.old", "user.bob.renamed").is_ok());
  EXPECT_TRUE(t.inst().lookup("user.bob.renamed").ok());
}

TEST(SyncLogFailure, UserStateQuotaAndAnnotationsAreRefusedAndUnchanged) {
  TempInstance t;
  ASSERT_TRUE(t.inst().create_mailbox("user.bob", {}).ok());
  auto e = t.inst().lookup("user.bob");
  ASSERT_TRUE(e.ok());
  break_log(t);

  SeenRecord seen;
  seen.uniqueid = e->uniqueid;
  seen.seenuids = "1";
  EXPECT_EQ(t.inst().set_seen("bob", seen).code(), Code::kIoError);
  EXPECT_EQ(t.inst().userdata().seen("bob", e->uniqueid).status().code(), Code::kNotFound);
  EXPECT_EQ(t.inst().set_subscribed("bob", "user.bob", true).code(), Code::kIoError);
  auto subs = t.inst().userdata().subscriptions("bob");
  ASSERT_TRUE(subs.ok());
  EXPECT_TRUE(subs->empty());
  EXPECT_EQ(t.inst().set_quota("user.bob", 100, -1).code(), Code::kIoError);
  EXPECT_FALSE(t.inst().quota().get("user.bob").ok());
  EXPECT_EQ(t.inst().set_annotation("user.bob", "/comment", "", "hi").code(), Code::kIoError);
  EXPECT_EQ(t.inst().annotations().get("user.bob", "/comment", "").status().code(),
            Code::kNotFound);
  EXPECT_EQ(t.inst().set_annotation("", "/motd", "", "hi").code(), Code::kIoError);
  EXPECT_EQ(t.inst().annotations().get("", "/motd", "").status().code(), Code::kNotFound);

  mend_log(t);
  EXPECT_TRUE(t.inst().set_seen("bob", seen).is_ok());
  EXPECT_TRUE(t.inst().set_subscribed("bob", "user.bob", true).is_ok());
  EXPECT_TRUE(t.inst().set_quota("user.bob", 100, -1).is_ok());
  EXPECT_TRUE(t.inst().set_annotation("user.bob", "/comment", "", "hi").is_ok());
  auto lines = t.take_log();
  EXPECT_NE(std::find(lines.begin(), lines.end(), testing::L("SEEN", {"bob", e->uniqueid})),
            lines.end());
  EXPECT_NE(std::find(lines.begin(), lines.end(), testing::L("QUOTA", {"user.bob"})), lines.end());
}

}  // namespace
}  // namespace replimail::store
