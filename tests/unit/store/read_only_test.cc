// Read-only mode: the file <configdirectory>/readonly stops every mutation
// of Instance before it changes anything (and logs nothing); reads go on.
#include <gtest/gtest.h>

#include <string>

#include "common/fs.h"
#include "store_test_util.h"

namespace replimail::store {
namespace {

std::string readonly_path(const testing::TempInstance& t) {
  return t.cfg().configdirectory() + "/" + std::string(kReadOnlyFile);
}

TEST(ReadOnly, EveryMutationIsRefusedAndNothingIsLogged) {
  testing::TempInstance t;
  Instance& inst = t.inst();
  ASSERT_TRUE(inst.create_mailbox("user.alice").ok());
  uint32_t uid = t.deliver("user.alice", "Subject: a\r\n\r\nx\r\n");
  ASSERT_NE(uid, 0u);
  auto staged = t.stage("Subject: b\r\n\r\ny\r\n");
  auto alice = inst.lookup("user.alice");
  ASSERT_TRUE(alice.ok());
  t.take_log();

  ASSERT_TRUE(fs::write_file_atomic(readonly_path(t), "fencing\n").is_ok());
  EXPECT_TRUE(inst.read_only());

  auto ro = [](const Status& s) { return s.code() == Code::kReadOnly; };
  EXPECT_TRUE(ro(inst.create_mailbox("user.bob").status()));
  EXPECT_TRUE(ro(inst.delete_mailbox("user.alice")));
  EXPECT_TRUE(ro(inst.rename_mailbox("user.alice", "user.carol")));
  EXPECT_TRUE(ro(inst.set_acl("user.alice", "alice lrswipkxtecdan")));
  EXPECT_TRUE(ro(inst.stage_message().status()));
  AppendRequest req;
  req.mailbox = "user.alice";
  req.message = staged.get();
  auto res = inst.append({req});
  ASSERT_EQ(res.size(), 1u);
  EXPECT_TRUE(ro(res[0].status));
  EXPECT_TRUE(ro(inst.store_flags("user.alice", {uid}, kFlagSeen, {}, true)));
  EXPECT_TRUE(ro(inst.expunge("user.alice", {uid})));
  SeenRecord seen;
  seen.uniqueid = alice->uniqueid;
  seen.seenuids = "1";
  EXPECT_TRUE(ro(inst.set_seen("alice", seen)));
  EXPECT_TRUE(ro(inst.set_subscribed("alice", "user.alice", true)));
  EXPECT_TRUE(ro(inst.set_quota("user.alice", 100, -1)));
  EXPECT_TRUE(ro(inst.remove_quota("user.alice")));
  EXPECT_TRUE(ro(inst.set_annotation("user.alice", "/comment", "", "x")));
  EXPECT_TRUE(ro(inst.delete_user_data("alice")));
  EXPECT_TRUE(ro(inst.put_replicated_entry(*alice, 99)));
  EXPECT_TRUE(ro(inst.put_replicated_annotations("user.alice", {})));
  {
    auto mbox = inst.open_mailbox("user.alice");  // reading goes on
    ASSERT_TRUE(mbox.ok());
    auto txn = (*mbox)->begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE((*txn)->set_flags(uid, kFlagFlagged, {}).is_ok());
    EXPECT_TRUE(ro(inst.commit(**mbox, **txn)));
  }
  EXPECT_TRUE(t.take_log().empty());
  EXPECT_FALSE(inst.lookup("user.bob").ok());
  auto mbox = inst.open_mailbox("user.alice");
  ASSERT_TRUE(mbox.ok());
  auto rec = (*mbox)->record(uid);
  ASSERT_TRUE(rec.ok()) << rec.status().to_string();
  EXPECT_EQ(rec->system_flags, 0u);

  // Turned off at run time: the same Instance writes again.
  ASSERT_TRUE(fs::remove_file(readonly_path(t)).is_ok());
  EXPECT_FALSE(inst.read_only());
  EXPECT_TRUE(inst.create_mailbox("user.bob").ok());
  EXPECT_TRUE(inst.store_flags("user.alice", {uid}, kFlagSeen, {}, true).is_ok());
}

// A user's fence (a move to another slot) refuses every mutation of that
// user's mailboxes, seen state and subscriptions with kMailboxMoved, logs
// nothing, and leaves other users and reads alone.
TEST(UserFence, RefusesTheUsersMutationsOnly) {
  testing::TempInstance t;
  Instance& inst = t.inst();
  ASSERT_TRUE(inst.create_mailbox("user.alice").ok());
  ASSERT_TRUE(inst.create_mailbox("user.alice.Sent").ok());
  ASSERT_TRUE(inst.create_mailbox("user.bob").ok());
  uint32_t uid = t.deliver("user.alice", "Subject: a\r\n\r\nx\r\n");
  ASSERT_NE(uid, 0u);
  auto staged = t.stage("Subject: b\r\n\r\ny\r\n");
  auto alice = inst.lookup("user.alice");
  ASSERT_TRUE(alice.ok());
  t.take_log();

  EXPECT_FALSE(inst.user_fenced("alice"));
  ASSERT_TRUE(inst.set_user_fence("alice", true).is_ok());
  EXPECT_TRUE(inst.user_fenced("alice"));
  EXPECT_FALSE(inst.user_fenced("bob"));
  EXPECT_FALSE(inst.read_only());
  EXPECT_EQ(inst.set_user_fence("a/b", true).code(), Code::kInvalidArgument);

  auto moved = [](const Status& s) { return s.code() == Code::kMailboxMoved; };
  EXPECT_TRUE(moved(inst.create_mailbox("user.alice.Drafts").status()));
  EXPECT_TRUE(moved(inst.delete_mailbox("user.alice.Sent")));
  EXPECT_TRUE(moved(inst.rename_mailbox("user.alice.Sent", "user.bob.Sent")));
  EXPECT_TRUE(moved(inst.rename_mailbox("user.bob", "user.alice.bob")));
  EXPECT_TRUE(moved(inst.set_acl("user.alice", "alice lrswipkxtecdan")));
  AppendRequest req;
  req.mailbox = "user.alice";
  req.message = staged.get();
  auto res = inst.append({req});
  ASSERT_EQ(res.size(), 1u);
  EXPECT_TRUE(moved(res[0].status));
  EXPECT_TRUE(moved(inst.store_flags("user.alice", {uid}, kFlagSeen, {}, true)));
  EXPECT_TRUE(moved(inst.expunge("user.alice", {uid})));
  SeenRecord seen;
  seen.uniqueid = alice->uniqueid;
  seen.seenuids = "1";
  EXPECT_TRUE(moved(inst.set_seen("alice", seen)));
  EXPECT_TRUE(moved(inst.set_subscribed("alice", "user.alice", true)));
  EXPECT_TRUE(moved(inst.set_annotation("user.alice", "/comment", "", "x")));
  EXPECT_TRUE(moved(inst.delete_user_data("alice")));
  EXPECT_TRUE(moved(inst.put_replicated_entry(*alice, 99)));
  {
    auto mbox = inst.open_mailbox("user.alice");  // reading goes on
    ASSERT_TRUE(mbox.ok());
    auto txn = (*mbox)->begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE((*txn)->set_flags(uid, kFlagFlagged, {}).is_ok());
    EXPECT_TRUE(moved(inst.commit(**mbox, **txn)));
  }
  {
    auto logged = t.take_log();
    EXPECT_TRUE(logged.empty()) << ::testing::PrintToString(logged);
  }
  // Another user is not fenced.
  EXPECT_NE(t.deliver("user.bob", "Subject: c\r\n\r\nz\r\n"), 0u);
  EXPECT_TRUE(inst.set_subscribed("bob", "user.bob", true).is_ok());

  ASSERT_TRUE(inst.set_user_fence("alice", false).is_ok());
  EXPECT_FALSE(inst.user_fenced("alice"));
  EXPECT_TRUE(inst.store_flags("user.alice", {uid}, kFlagSeen, {}, true).is_ok());
  EXPECT_TRUE(inst.set_user_fence("alice", false).is_ok());  // lifting twice is fine
}

}  // namespace
}  // namespace replimail::store
