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

}  // namespace
}  // namespace replimail::store
