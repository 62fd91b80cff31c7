// Quota, seen state, subscriptions and annotations, and the sync-log lines
// each mutation writes.
#include <gtest/gtest.h>

#include "store/sqlite_db.h"
#include "store_test_util.h"

namespace replimail::store {
namespace {

using testing::L;
using testing::TempInstance;

using Lines = std::vector<synclog::Line>;

TEST(QuotaTest, RootIsLongestCoveringPrefix) {
  EXPECT_TRUE(quota_root_covers("user.alice", "user.alice"));
  EXPECT_TRUE(quota_root_covers("user.alice", "user.alice.Sent"));
  EXPECT_FALSE(quota_root_covers("user.alice", "user.alicex"));
  TempInstance t;
  ASSERT_TRUE(t.inst().set_quota("user.alice", 10, -1).is_ok());
  ASSERT_TRUE(t.inst().set_quota("user.alice.Big", 1000, -1).is_ok());
  EXPECT_EQ(t.take_log(), (Lines{L("QUOTA", {"user.alice"}), L("QUOTA", {"user.alice.Big"})}));
  auto q = t.inst().quota().find_root("user.alice.Big.x");
  ASSERT_TRUE(q.ok() && q->has_value());
  EXPECT_EQ((*q)->root, "user.alice.Big");
  q = t.inst().quota().find_root("user.alice.Sent");
  EXPECT_EQ((*q)->root, "user.alice");
  q = t.inst().quota().find_root("user.alicex");
  EXPECT_FALSE(q->has_value());
}

TEST(QuotaTest, StorageAndMessageLimits) {
  TempInstance t;
  ASSERT_TRUE(t.inst().create_mailbox("user.alice", {.quota_storage_kib = 1}).ok());
  EXPECT_EQ(t.take_log(), (Lines{L("MAILBOX", {"user.alice"}), L("QUOTA", {"user.alice"})}));
  ASSERT_TRUE(t.inst().create_mailbox("user.alice.Sub").ok());
  std::string body(600, 'a');
  EXPECT_TRUE(t.inst().check_quota("user.alice.Sub", 600).is_ok());
  EXPECT_EQ(t.deliver("user.alice.Sub", body), 1u);
  EXPECT_EQ(t.inst().check_quota("user.alice", 600).code(), Code::kQuotaExceeded);
  auto msg = t.stage(body);
  auto res = t.inst().append({{"user.alice", msg.get()}});
  EXPECT_EQ(res[0].status.code(), Code::kQuotaExceeded);
  // Two in one batch: the second one counts the first.
  auto small = t.stage(std::string(300, 'b'));
  res = t.inst().append({{"user.alice", small.get()}, {"user.alice", small.get()}});
  EXPECT_TRUE(res[0].status.is_ok());
  EXPECT_EQ(res[1].status.code(), Code::kQuotaExceeded);
  // Delivery that ignores quota (check_quota = false) still goes in.
  AppendRequest force{"user.alice", msg.get()};
  force.check_quota = false;
  EXPECT_TRUE(t.inst().append({force})[0].status.is_ok());
  auto q = t.inst().quota().get("user.alice");
  EXPECT_EQ(q->storage_used, 1500u);
  EXPECT_EQ(q->message_used, 3u);

  ASSERT_TRUE(t.inst().set_quota("user.alice", -1, 3).is_ok());
  EXPECT_EQ(t.inst().check_quota("user.alice", 1).code(), Code::kQuotaExceeded);
  ASSERT_TRUE(t.inst().expunge("user.alice.Sub", {1}).is_ok());
  EXPECT_TRUE(t.inst().check_quota("user.alice", 1).is_ok());
  EXPECT_EQ(t.inst().quota().get("user.alice")->storage_used, 900u);
  // Setting limits recomputes usage from the mailboxes.
  {
    // Usage made wrong behind the store's back (quota.db's writers are
    // Instance's alone).
    auto db = SqliteDb::open(t.cfg().configdirectory() + "/quota.db");
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->exec("UPDATE quota SET storage_used = 0, message_used = 0"));
  }
  ASSERT_TRUE(t.inst().set_quota("user.alice", 5, 10).is_ok());
  EXPECT_EQ(t.inst().quota().get("user.alice")->storage_used, 900u);
  EXPECT_EQ(t.inst().quota().get("user.alice")->message_used, 2u);
  uint64_t modseq = t.inst().quota().get("user.alice")->modseq;
  ASSERT_TRUE(t.inst().set_quota("user.alice", 6, 10).is_ok());
  EXPECT_GT(t.inst().quota().get("user.alice")->modseq, modseq);
  ASSERT_TRUE(t.inst().set_quota("user.alice", 6, 10, 500).is_ok());
  EXPECT_EQ(t.inst().quota().get("user.alice")->modseq, 500u);
  t.take_log();
  ASSERT_TRUE(t.inst().remove_quota("user.alice").is_ok());
  EXPECT_EQ(t.take_log(), (Lines{L("QUOTA", {"user.alice"})}));
  EXPECT_EQ(t.inst().quota().get("user.alice").status().code(), Code::kNotFound);
  EXPECT_TRUE(t.inst().check_quota("user.alice", 1u << 30).is_ok());
}

TEST(SeenTest, SetAndReadBackLogsSeen) {
  TempInstance t;
  auto e = t.inst().create_mailbox("user.alice");
  ASSERT_TRUE(e.ok());
  t.take_log();
  SeenRecord s{e->uniqueid, 1795554947, 40, 1795554948, "1:40,42"};
  ASSERT_TRUE(t.inst().set_seen("alice", s).is_ok());
  EXPECT_EQ(t.take_log(), (Lines{L("SEEN", {"alice", e->uniqueid})}));
  auto got = t.inst().userdata().seen("alice", e->uniqueid);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, s);
  EXPECT_EQ(t.inst().userdata().seen("bob", e->uniqueid).status().code(), Code::kNotFound);
  s.seenuids = "1:50";
  ASSERT_TRUE(t.inst().set_seen("alice", s).is_ok());
  auto all = t.inst().userdata().all_seen("alice");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].seenuids, "1:50");
  EXPECT_EQ(t.inst().set_seen("bad/user", s).code(), Code::kInvalidUser);
}

TEST(SubsTest, SubscribeAndUnsubscribeBothLogSub) {
  TempInstance t;
  ASSERT_TRUE(t.inst().set_subscribed("alice", "user.alice.Sent", true).is_ok());
  ASSERT_TRUE(t.inst().set_subscribed("alice", "user.alice.Drafts", true).is_ok());
  ASSERT_TRUE(t.inst().set_subscribed("alice", "user.alice.Sent", true).is_ok());
  auto subs = t.inst().userdata().subscriptions("alice");
  ASSERT_TRUE(subs.ok());
  EXPECT_EQ(*subs, (std::vector<std::string>{"user.alice.Drafts", "user.alice.Sent"}));
  ASSERT_TRUE(t.inst().set_subscribed("alice", "user.alice.Sent", false).is_ok());
  EXPECT_EQ(*t.inst().userdata().subscriptions("alice"),
            (std::vector<std::string>{"user.alice.Drafts"}));
  EXPECT_EQ(
      t.take_log(),
      (Lines{L("SUB", {"alice", "user.alice.Sent"}), L("SUB", {"alice", "user.alice.Drafts"}),
             L("SUB", {"alice", "user.alice.Sent"}), L("SUB", {"alice", "user.alice.Sent"})}));
  EXPECT_EQ(t.inst().set_subscribed("alice", "user..x", true).code(), Code::kMailboxBadName);
  ASSERT_TRUE(t.inst().delete_user_data("alice").is_ok());
  EXPECT_TRUE(t.inst().userdata().subscriptions("alice")->empty());
  EXPECT_EQ(t.take_log(), (Lines{L("UNUSER", {"alice"})}));
}

TEST(AnnotationTest, ServerAndMailboxAnnotations) {
  TempInstance t;
  ASSERT_TRUE(t.inst().create_mailbox("user.alice").ok());
  auto m = t.inst().open_mailbox("user.alice");
  uint64_t hms = (*m)->counters()->highestmodseq;
  t.take_log();
  ASSERT_TRUE(t.inst().set_annotation("", "/motd", "", "hello").is_ok());
  EXPECT_EQ(t.take_log(), (Lines{L("ANNOTATION", {""})}));
  ASSERT_TRUE(t.inst().set_annotation("user.alice", "/comment", "", "box").is_ok());
  ASSERT_TRUE(t.inst().set_annotation("user.alice", "/comment", "alice", "mine").is_ok());
  EXPECT_EQ(t.take_log(), (Lines{L("MAILBOX", {"user.alice"}), L("MAILBOX", {"user.alice"})}));
  auto list = t.inst().annotations().list("user.alice");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].userid, "");
  EXPECT_EQ((*list)[0].value, "box");
  EXPECT_EQ((*list)[0].modseq, hms + 1);
  EXPECT_EQ((*list)[1].modseq, hms + 2);
  EXPECT_EQ((*m)->counters()->highestmodseq, hms + 2);
  EXPECT_EQ(t.inst().annotations().get("", "/motd", "")->value, "hello");
  ASSERT_TRUE(t.inst().set_annotation("user.alice", "/comment", "", "").is_ok());
  EXPECT_EQ(t.inst().annotations().list("user.alice")->size(), 1u);
  EXPECT_EQ(t.inst().set_annotation("user.nobody", "/comment", "", "x").code(),
            Code::kMailboxNonexistent);
  EXPECT_EQ(t.inst().set_annotation("", "comment", "", "x").code(), Code::kInvalidArgument);
  ASSERT_TRUE(t.inst().delete_mailbox("user.alice").is_ok());
  EXPECT_TRUE(t.inst().annotations().list("user.alice")->empty());
}

TEST(SyncLogTest, NothingIsLoggedWhenSyncLogIsOff) {
  TempInstance t;
  Config cfg = t.cfg();
  cfg.set("sync_log", "0");
  auto inst = Instance::open(cfg);
  ASSERT_TRUE(inst.ok());
  ASSERT_TRUE((*inst)->create_mailbox("user.zed").ok());
  EXPECT_TRUE(t.take_log().empty());
}

}  // namespace
}  // namespace replimail::store
