#include "sync/reconcile.h"

#include <gtest/gtest.h>

namespace replimail::sync {
namespace {

MailboxState mbox(const std::string& name, const std::string& uniqueid) {
  MailboxState m;
  m.mboxname = name;
  m.uniqueid = uniqueid;
  m.partition = "default";
  m.acl = "alice\tlrswipkxtecdan\t";
  m.options = "P";
  m.uidvalidity = 100;
  m.last_uid = 5;
  m.highestmodseq = 20;
  m.sync_crc = 1234;
  m.sync_crc_annot = 5678;
  return m;
}

store::IndexRecord rec(uint32_t uid, uint64_t modseq, const std::string& guid_char,
                       uint32_t flags = 0) {
  store::IndexRecord r;
  r.uid = uid;
  r.modseq = modseq;
  r.last_updated = 1000 + modseq;
  r.internaldate = 900;
  r.system_flags = flags;
  r.size = 10;
  r.guid = std::string(40, guid_char[0]);
  return r;
}

auto no_tombstones = [](const MailboxState&) { return false; };

TEST(Reconcile, MatchesByUniqueidAndPlansRenames) {
  std::vector<MailboxState> master = {mbox("user.a", "u1"), mbox("user.a.New", "u2"),
                                      mbox("user.a.Fresh", "u3")};
  std::vector<MailboxState> replica = {mbox("user.a", "u1"), mbox("user.a.Old", "u2")};
  auto plan = plan_folders(master, replica, true, no_tombstones);
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->renames.size(), 1u);
  EXPECT_EQ(plan->renames[0].oldname, "user.a.Old");
  EXPECT_EQ(plan->renames[0].newname, "user.a.New");
  EXPECT_EQ(plan->renames[0].uidvalidity, 100u);
  ASSERT_TRUE(plan->updates.at("user.a").has_value());
  EXPECT_EQ(plan->updates.at("user.a.New")->mboxname, "user.a.New");
  EXPECT_FALSE(plan->updates.at("user.a.Fresh").has_value());
  EXPECT_TRUE(plan->unmailbox.empty());
  EXPECT_TRUE(plan->orphans.empty());
}

TEST(Reconcile, DeletesOnlyWithTombstoneAndOnlyInUserSync) {
  std::vector<MailboxState> master = {mbox("user.a", "u1")};
  std::vector<MailboxState> replica = {mbox("user.a", "u1"), mbox("user.a.Gone", "u9"),
                                       mbox("user.a.Stray", "u8")};
  // The master deleted uniqueid u9; "user.a.Reused" has a name the master
  // deleted too, but its uniqueid u7 is not the deleted one.
  replica.push_back(mbox("user.a.Reused", "u7"));
  auto tomb = [](const MailboxState& r) { return r.uniqueid == "u9"; };
  auto plan = plan_folders(master, replica, true, tomb);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->unmailbox, std::vector<std::string>{"user.a.Gone"});
  EXPECT_EQ(plan->orphans, (std::vector<std::string>{"user.a.Stray", "user.a.Reused"}));
  auto logdriven = plan_folders(master, replica, false, tomb);
  ASSERT_TRUE(logdriven.ok());
  EXPECT_TRUE(logdriven->unmailbox.empty());
}

TEST(Reconcile, RenameChainsAreOrderedAndCyclesRefused) {
  std::vector<RenameRequest> chain = {{"user.a.B", "user.a.C", "default", 0},
                                      {"user.a.A", "user.a.B", "default", 0}};
  auto ordered = order_renames(chain);
  ASSERT_TRUE(ordered.ok());
  EXPECT_EQ((*ordered)[0].oldname, "user.a.B");
  EXPECT_EQ((*ordered)[1].oldname, "user.a.A");
  std::vector<RenameRequest> cycle = {{"user.a.X", "user.a.Y", "default", 0},
                                      {"user.a.Y", "user.a.X", "default", 0}};
  EXPECT_EQ(order_renames(cycle).status().code(), Code::kAgain);
}

TEST(Reconcile, UnchangedComparesCountersAclAndCrcs) {
  MailboxState m = mbox("user.a", "u1");
  MailboxState r = m;
  EXPECT_TRUE(mailbox_unchanged(m, r));
  r.sync_crc = 0;  // "don't check"
  EXPECT_TRUE(mailbox_unchanged(m, r));
  r.sync_crc = 999;
  EXPECT_FALSE(mailbox_unchanged(m, r));
  r = m;
  r.highestmodseq = 19;
  EXPECT_FALSE(mailbox_unchanged(m, r));
  r = m;
  r.acl = "alice\tlr\t";
  EXPECT_FALSE(mailbox_unchanged(m, r));
  r = m;
  r.annotations.push_back({"/comment", "", 3, "x"});
  EXPECT_FALSE(mailbox_unchanged(m, r));
}

TEST(Reconcile, FullUpdateSplitBrainRenumbersAndCopiesBack) {
  using K = MergeAction::Kind;
  std::vector<store::IndexRecord> master = {rec(1, 2, "a"), rec(2, 3, "b"), rec(3, 6, "c")};
  std::vector<store::IndexRecord> replica = {rec(1, 2, "a"), rec(2, 3, "b"), rec(3, 5, "z")};
  auto actions = plan_full_update(master, replica, 5, 3);
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_EQ(actions[0].kind, K::kRenumber);
  EXPECT_EQ(actions[0].uid, 3u);
  EXPECT_EQ(actions[1].kind, K::kCopyback);
  EXPECT_EQ(actions[1].uid, 3u);
  EXPECT_EQ(actions[1].record.guid, std::string(40, 'z'));
}

TEST(Reconcile, FullUpdateReplicaOnlyAndNewerFlags) {
  using K = MergeAction::Kind;
  std::vector<store::IndexRecord> master = {rec(1, 2, "a"), rec(2, 3, "b")};
  store::IndexRecord newer = rec(2, 9, "b", store::kFlagSeen);
  std::vector<store::IndexRecord> replica = {rec(1, 2, "a"), newer, rec(3, 10, "q")};
  auto actions = plan_full_update(master, replica, 10, 3);
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_EQ(actions[0].kind, K::kRewrite);
  EXPECT_EQ(actions[0].uid, 2u);
  EXPECT_EQ(actions[0].record.system_flags, store::kFlagSeen);
  EXPECT_EQ(actions[1].kind, K::kCopyback);
  EXPECT_EQ(actions[1].uid, 3u);
}

TEST(Reconcile, FullUpdateIdenticalListsNeedNothing) {
  std::vector<store::IndexRecord> both = {rec(1, 2, "a"), rec(2, 3, "b", store::kFlagExpunged)};
  EXPECT_TRUE(plan_full_update(both, both, 3, 2).empty());
  // A master record the replica lacks below its LAST_UID must move.
  std::vector<store::IndexRecord> replica = {rec(1, 2, "a"), rec(3, 4, "c")};
  std::vector<store::IndexRecord> master = {rec(1, 2, "a"), rec(2, 3, "b")};
  auto actions = plan_full_update(master, replica, 4, 3);
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_EQ(actions[0].kind, MergeAction::Kind::kRenumber);
  EXPECT_EQ(actions[0].uid, 2u);
  EXPECT_EQ(actions[1].kind, MergeAction::Kind::kCopyback);
}

}  // namespace
}  // namespace replimail::sync
