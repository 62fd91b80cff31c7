#include "store/user_delete.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "store_test_util.h"

namespace replimail::store {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing::L;

TEST(DeleteUser, RemovesMailboxesUserDataAndQuotaThenLogsUnuser) {
  testing::TempInstance t;
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

}  // namespace
}  // namespace replimail::store
