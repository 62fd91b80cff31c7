#include "store/mboxlist.h"

#include <gtest/gtest.h>

#include <regex>

#include "store_test_util.h"

namespace replimail::store {
namespace {

using testing::L;
using testing::TempInstance;

TEST(MboxlistTest, UniqueidIsRandomLowerCaseUuid) {
  std::regex uuid("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::string a = make_uniqueid(), b = make_uniqueid();
  EXPECT_TRUE(std::regex_match(a, uuid)) << a;
  EXPECT_EQ(a.size(), 36u);
  EXPECT_NE(a, b);
}

TEST(MboxlistTest, CreateLookupAndLog) {
  TempInstance t;
  auto e = t.inst().create_mailbox("user.alice");
  ASSERT_TRUE(e.ok()) << e.status().to_string();
  EXPECT_EQ(e->mbtype, "e");
  EXPECT_EQ(e->partition, "default");
  EXPECT_EQ(e->acl, "alice\tlrswipkxtecdan\t");
  EXPECT_GE(e->uidvalidity, 1700000000u);
  EXPECT_GT(e->createdmodseq, 0u);
  auto l = t.inst().lookup("user.alice");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(*l, *e);
  auto byid = t.inst().mailboxes().lookup_uniqueid(e->uniqueid);
  ASSERT_TRUE(byid.ok());
  EXPECT_EQ(byid->name, "user.alice");
  EXPECT_EQ(t.inst().lookup("user.bob").status().code(), Code::kMailboxNonexistent);
  EXPECT_EQ(t.inst().create_mailbox("user.alice").status().code(), Code::kMailboxExists);
  EXPECT_EQ(t.inst().create_mailbox("user.a..b").status().code(), Code::kMailboxBadName);
  EXPECT_EQ(t.inst().create_mailbox("user.alice.x", {.partition = "nope"}).status().code(),
            Code::kConfigError);
  EXPECT_EQ(t.take_log(), (std::vector<synclog::Line>{L("MAILBOX", {"user.alice"})}));
  // Each new mailbox gets a larger UIDVALIDITY.
  auto f = t.inst().create_mailbox("user.alice.Sent", {.partition = "other"});
  ASSERT_TRUE(f.ok());
  EXPECT_GT(f->uidvalidity, e->uidvalidity);
  EXPECT_EQ(f->partition, "other");
}

TEST(MboxlistTest, DeleteLeavesTombstoneAndRecreateRaisesUidvalidity) {
  TempInstance t;
  auto e = t.inst().create_mailbox("user.bob");
  ASSERT_TRUE(e.ok());
  t.deliver("user.bob", "Subject: x\r\n\r\nbody\r\n");
  auto dir = (*t.inst().open_mailbox("user.bob"))->dir();
  t.take_log();
  ASSERT_TRUE(t.inst().delete_mailbox("user.bob").is_ok());
  EXPECT_EQ(t.take_log(), (std::vector<synclog::Line>{L("UNMAILBOX", {"user.bob"})}));
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_EQ(t.inst().lookup("user.bob").status().code(), Code::kMailboxNonexistent);
  auto tomb = t.inst().mailboxes().lookup("user.bob");
  ASSERT_TRUE(tomb.ok());
  EXPECT_TRUE(tomb->is_tombstone());
  EXPECT_EQ(tomb->mbtype, "ed");
  EXPECT_EQ(tomb->uniqueid, e->uniqueid);
  EXPECT_GT(tomb->foldermodseq, e->foldermodseq);
  EXPECT_EQ(t.inst().delete_mailbox("user.bob").code(), Code::kMailboxNonexistent);
  // Recreating over the tombstone: a new uniqueid, a larger UIDVALIDITY.
  auto again = t.inst().create_mailbox("user.bob", {.uidvalidity = 0});
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->uniqueid, e->uniqueid);
  EXPECT_GT(again->uidvalidity, tomb->uidvalidity);
}

TEST(MboxlistTest, DeleteWithChildrenLeavesIntermediateWhoseUniqueidIsReused) {
  TempInstance t;
  auto parent = t.inst().create_mailbox("shared.top");
  ASSERT_TRUE(parent.ok());
  ASSERT_TRUE(t.inst().create_mailbox("shared.top.child").ok());
  ASSERT_TRUE(t.inst().delete_mailbox("shared.top").is_ok());
  auto mid = t.inst().mailboxes().lookup("shared.top");
  ASSERT_TRUE(mid.ok());
  EXPECT_TRUE(mid->is_intermediate());
  EXPECT_FALSE(mid->is_tombstone());
  auto again = t.inst().create_mailbox("shared.top");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->uniqueid, parent->uniqueid);
}

TEST(MboxlistTest, RenameMovesTreeKeepsUniqueidsAndHistory) {
  TempInstance t;
  auto a = t.inst().create_mailbox("user.alice.Old");
  auto b = t.inst().create_mailbox("user.alice.Old.Sub");
  ASSERT_TRUE(a.ok() && b.ok());
  uint32_t uid = t.deliver("user.alice.Old.Sub", "Subject: y\r\n\r\nz\r\n");
  ASSERT_TRUE(t.inst().set_annotation("user.alice.Old", "/comment", "", "hello").is_ok());
  t.take_log();
  ASSERT_TRUE(t.inst().rename_mailbox("user.alice.Old", "user.alice.New").is_ok());
  EXPECT_EQ(t.take_log(), (std::vector<synclog::Line>{
                              L("RENAME", {"user.alice.Old", "user.alice.New"}),
                              L("MAILBOX", {"user.alice.Old"}),
                              L("MAILBOX", {"user.alice.New"}),
                              L("RENAME", {"user.alice.Old.Sub", "user.alice.New.Sub"}),
                              L("MAILBOX", {"user.alice.Old.Sub"}),
                              L("MAILBOX", {"user.alice.New.Sub"}),
                          }));
  auto n = t.inst().lookup("user.alice.New");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->uniqueid, a->uniqueid);
  auto old = t.inst().mailboxes().lookup("user.alice.Old");
  ASSERT_TRUE(old.ok());
  EXPECT_TRUE(old->is_tombstone());
  EXPECT_EQ(old->uniqueid, a->uniqueid);
  auto byid = t.inst().mailboxes().lookup_uniqueid(a->uniqueid);
  ASSERT_TRUE(byid.ok());
  EXPECT_EQ(byid->name, "user.alice.New");
  auto hist = t.inst().mailboxes().history(a->uniqueid);
  ASSERT_TRUE(hist.ok());
  ASSERT_EQ(hist->size(), 1u);
  EXPECT_EQ((*hist)[0].name, "user.alice.Old");
  // Messages and annotations follow (uuid-based storage needs no move).
  auto mbox = t.inst().open_mailbox("user.alice.New.Sub");
  ASSERT_TRUE(mbox.ok());
  EXPECT_TRUE((*mbox)->record(uid).ok());
  EXPECT_TRUE(t.inst().annotations().get("user.alice.New", "/comment", "").ok());
  // Renaming again onto a live name fails; into itself is refused.
  ASSERT_TRUE(t.inst().create_mailbox("user.alice.Other").ok());
  EXPECT_EQ(t.inst().rename_mailbox("user.alice.Other", "user.alice.New").code(),
            Code::kMailboxExists);
  EXPECT_EQ(t.inst().rename_mailbox("user.alice.New", "user.alice.New.x").code(),
            Code::kMailboxBadName);
  // And back: the old tombstone name can be reused; history grows.
  ASSERT_TRUE(t.inst().rename_mailbox("user.alice.New", "user.alice.Old").is_ok());
  hist = t.inst().mailboxes().history(a->uniqueid);
  ASSERT_TRUE(hist.ok());
  EXPECT_EQ(hist->size(), 2u);
}

TEST(MboxlistTest, ListByPrefixAndUsers) {
  TempInstance t;
  for (const char* n : {"user.alice", "user.alice.Sent", "user.alicex", "user.bob", "shared.x"})
    ASSERT_TRUE(t.inst().create_mailbox(n).ok()) << n;
  ASSERT_TRUE(t.inst().delete_mailbox("user.bob").is_ok());
  std::vector<std::string> names;
  ASSERT_TRUE(t.inst()
                  .mailboxes()
                  .list("user.alice.", false,
                        [&](const MailboxEntry& e) {
                          names.push_back(e.name);
                          return true;
                        })
                  .is_ok());
  EXPECT_EQ(names, (std::vector<std::string>{"user.alice.Sent"}));
  auto tree = t.inst().mailboxes().list_tree("user.alice");
  ASSERT_TRUE(tree.ok());
  EXPECT_EQ(tree->size(), 2u);
  size_t all = 0, live = 0;
  ASSERT_TRUE(t.inst()
                  .mailboxes()
                  .list("", true,
                        [&](const MailboxEntry&) {
                          all++;
                          return true;
                        })
                  .is_ok());
  ASSERT_TRUE(t.inst()
                  .mailboxes()
                  .list("", false,
                        [&](const MailboxEntry&) {
                          live++;
                          return true;
                        })
                  .is_ok());
  EXPECT_EQ(all, 5u);
  EXPECT_EQ(live, 4u);
  auto users = t.inst().mailboxes().users();
  ASSERT_TRUE(users.ok());
  EXPECT_EQ(*users, (std::vector<std::string>{"alice", "alicex"}));
}

TEST(MboxlistTest, ReplicaCreateKeepsGivenIdentity) {
  TempInstance t;
  CreateOptions o;
  o.uniqueid = "3r9i6hy0d91xjwt84nugqovc";
  o.uidvalidity = 1795554950;
  o.createdmodseq = 77;
  o.acl = "testuser\tlrswipkxtecdan\t";
  auto e = t.inst().create_mailbox("user.testuser.Archive", o);
  ASSERT_TRUE(e.ok()) << e.status().to_string();
  EXPECT_EQ(e->uniqueid, o.uniqueid);
  EXPECT_EQ(e->uidvalidity, o.uidvalidity);
  EXPECT_EQ(e->createdmodseq, 77u);
  auto c = (*t.inst().open_mailbox("user.testuser.Archive"))->counters();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->uidvalidity, 1795554950u);
  EXPECT_EQ(c->highestmodseq, 77u);
  // The instance counter now issues modseqs above the adopted one.
  auto fresh = t.inst().create_mailbox("user.testuser.Fresh");
  ASSERT_TRUE(fresh.ok()) << fresh.status().to_string();
  EXPECT_GT(fresh->createdmodseq, 77u);
  // The same uniqueid under another name is a move.
  EXPECT_EQ(t.inst().create_mailbox("user.testuser.Other", o).status().code(), Code::kMailboxMoved);
}

}  // namespace
}  // namespace replimail::store
