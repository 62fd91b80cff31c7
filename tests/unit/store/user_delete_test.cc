#include "store/user_delete.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "store_test_util.h"

namespace replimail::store {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::StartsWith;
using testing::L;

// The names under DELETED. in mailboxes.db (real mailboxes only).
std::vector<std::string> deleted_names(Instance& inst) {
  std::vector<std::string> out;
  EXPECT_TRUE(inst.mailboxes().list("DELETED.", false, [&](const MailboxEntry& e) {
    if (e.is_real()) out.push_back(e.name);
    return true;
  }));
  return out;
}

// "DELETED.<name>.<8 upper-case hex digits>": the time part of a kept name.
std::string hex_time(const std::string& kept, const std::string& name) {
  std::string head = "DELETED." + name + ".";
  if (!kept.starts_with(head)) return "";
  std::string t = kept.substr(head.size());
  for (char c : t)
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) return "";
  return t.size() == 8 ? t : "";
}

TEST(DeleteUser, RemovesMailboxesUserDataAndQuotaThenLogsUnuser) {
  testing::TempInstance t("delete_mode: immediate\n");
  Instance& inst = t.inst();
  for (const char* name :
       {"user.alice", "user.alice.Sent", "user.alice.Sent.2024", "user.bob", "user.alicexyz"}) {
    ASSERT_TRUE(inst.create_mailbox(name).ok()) << name;
  }
  t.deliver("user.alice", "Subject: a\r\n\r\nx\r\n");
  t.deliver("user.alice.Sent", "Subject: b\r\n\r\ny\r\n");
  ASSERT_TRUE(inst.set_quota("user.alice", 1000, -1).is_ok());
  ASSERT_TRUE(inst.set_quota("user.alice.Sent", 500, -1).is_ok());
  ASSERT_TRUE(inst.set_subscribed("alice", "user.alice.Sent", true).is_ok());
  ASSERT_TRUE(inst.set_subscribed("bob", "user.bob", true).is_ok());
  auto bob = inst.lookup("user.bob");
  ASSERT_TRUE(bob.ok());
  SeenRecord seen;
  seen.uniqueid = bob->uniqueid;
  seen.seenuids = "1";
  ASSERT_TRUE(inst.set_seen("alice", seen).is_ok());
  t.take_log();

  ASSERT_TRUE(delete_user(inst, "alice").is_ok());

  for (const char* gone : {"user.alice", "user.alice.Sent", "user.alice.Sent.2024"}) {
    EXPECT_EQ(inst.lookup(gone).status().code(), Code::kMailboxNonexistent) << gone;
  }
  EXPECT_TRUE(inst.lookup("user.bob").ok());
  EXPECT_TRUE(inst.lookup("user.alicexyz").ok());
  EXPECT_FALSE(inst.quota().get("user.alice").ok());
  EXPECT_FALSE(inst.quota().get("user.alice.Sent").ok());
  auto subs = inst.userdata().subscriptions("alice");
  ASSERT_TRUE(subs.ok());
  EXPECT_THAT(*subs, IsEmpty());
  EXPECT_FALSE(inst.userdata().seen("alice", bob->uniqueid).ok());
  auto bob_subs = inst.userdata().subscriptions("bob");
  ASSERT_TRUE(bob_subs.ok());
  EXPECT_THAT(*bob_subs, ElementsAre("user.bob"));

  auto log = t.take_log();
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.back(), L("UNUSER", {"alice"}));
  EXPECT_THAT(log, Contains(L("UNMAILBOX", {"user.alice.Sent.2024"})));
  EXPECT_THAT(log, Contains(L("UNMAILBOX", {"user.alice"})));
  EXPECT_THAT(log, Contains(L("QUOTA", {"user.alice"})));
  EXPECT_THAT(log, Contains(L("QUOTA", {"user.alice.Sent"})));
}

TEST(DeleteUser, UserWithoutMailboxesStillLogsUnuserAndBadNamesAreRefused) {
  testing::TempInstance t;
  ASSERT_TRUE(t.inst().set_subscribed("ghost", "user.bob", true).is_ok());
  t.take_log();
  ASSERT_TRUE(delete_user(t.inst(), "ghost").is_ok());
  EXPECT_THAT(t.take_log(), ElementsAre(L("UNUSER", {"ghost"})));
  auto subs = t.inst().userdata().subscriptions("ghost");
  ASSERT_TRUE(subs.ok());
  EXPECT_THAT(*subs, IsEmpty());
  EXPECT_EQ(delete_user(t.inst(), "a/b").code(), Code::kInvalidUser);
  EXPECT_THAT(t.take_log(), IsEmpty());
}

// delete_mode: delayed (Cyrus's default): each mailbox is renamed under
// DELETED. with its messages, children first, logged as RENAMEs; then the
// user's data goes and UNUSER is logged, as with immediate.
TEST(DeleteUser, DelayedKeepsEachMailboxUnderDeletedprefix) {
  testing::TempInstance t;
  Instance& inst = t.inst();
  for (const char* name : {"user.alice", "user.alice.Sent", "user.alice.Sent.2024", "user.bob"})
    ASSERT_TRUE(inst.create_mailbox(name).ok()) << name;
  t.deliver("user.alice.Sent", "Subject: b\r\n\r\ny\r\n");
  ASSERT_TRUE(inst.set_quota("user.alice", 1000, -1).is_ok());
  t.take_log();

  ASSERT_TRUE(delete_user(inst, "alice").is_ok());
  for (const char* gone : {"user.alice", "user.alice.Sent", "user.alice.Sent.2024"})
    EXPECT_EQ(inst.lookup(gone).status().code(), Code::kMailboxNonexistent) << gone;
  auto kept = deleted_names(inst);
  ASSERT_EQ(kept.size(), 3u) << ::testing::PrintToString(kept);
  // Name order: DELETED.user.alice.<t>, .Sent.2024.<t>, .Sent.<t>.
  EXPECT_NE(hex_time(kept[0], "user.alice"), "") << kept[0];
  EXPECT_NE(hex_time(kept[1], "user.alice.Sent.2024"), "") << kept[1];
  EXPECT_NE(hex_time(kept[2], "user.alice.Sent"), "") << kept[2];
  auto sent = inst.open_mailbox(kept[2]);
  ASSERT_TRUE(sent.ok());
  auto c = (*sent)->counters();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->exists, 1u);
  EXPECT_FALSE(inst.quota().get("user.alice").ok());
  EXPECT_TRUE(inst.lookup("user.bob").ok());

  auto log = t.take_log();
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.back(), L("UNUSER", {"alice"}));
  EXPECT_THAT(log, Contains(L("RENAME", {"user.alice.Sent", kept[2]})));
  EXPECT_THAT(log, Contains(L("RENAME", {"user.alice", kept[0]})));
  for (const auto& l : log) EXPECT_NE(l.keyword, "UNMAILBOX") << l.args[0];
}

TEST(RemoveMailbox, FollowsDeleteModeAndNeverReusesAKeptName) {
  testing::TempInstance t;
  Instance& inst = t.inst();
  ASSERT_TRUE(inst.create_mailbox("user.bob").ok());
  // Deleted, made again and deleted again within one second: two names.
  for (int i = 0; i < 2; i++) {
    ASSERT_TRUE(inst.create_mailbox("user.bob.Old").ok());
    ASSERT_TRUE(remove_mailbox(inst, "user.bob.Old").is_ok()) << i;
  }
  auto kept = deleted_names(inst);
  ASSERT_EQ(kept.size(), 2u) << ::testing::PrintToString(kept);
  EXPECT_NE(kept[0], kept[1]);
  for (const auto& k : kept) EXPECT_THAT(k, StartsWith("DELETED.user.bob.Old."));
  // A kept mailbox goes at once; so does any under immediate.
  t.take_log();
  ASSERT_TRUE(remove_mailbox(inst, kept[0]).is_ok());
  EXPECT_THAT(t.take_log(), Contains(L("UNMAILBOX", {kept[0]})));
  EXPECT_EQ(deleted_names(inst).size(), 1u);

  testing::TempInstance now("delete_mode: immediate\n");
  ASSERT_TRUE(now.inst().create_mailbox("user.bob").ok());
  ASSERT_TRUE(now.inst().create_mailbox("user.bob.Old").ok());
  now.take_log();
  ASSERT_TRUE(remove_mailbox(now.inst(), "user.bob.Old").is_ok());
  EXPECT_THAT(now.take_log(), Contains(L("UNMAILBOX", {"user.bob.Old"})));
  EXPECT_TRUE(deleted_names(now.inst()).empty());
}

}  // namespace
}  // namespace replimail::store
