#include "store/digest.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "store_test_util.h"

namespace replimail::store {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

std::vector<std::string> lines(Instance& inst, const DigestScope& scope = {}) {
  auto l = digest_lines(inst, scope);
  EXPECT_TRUE(l.ok()) << l.status().to_string();
  return l.ok() ? *l : std::vector<std::string>{};
}

bool any_line(const std::vector<std::string>& ls, std::string_view prefix, std::string_view part) {
  return std::any_of(ls.begin(), ls.end(), [&](const std::string& l) {
    return l.starts_with(prefix) && l.find(part) != std::string::npos;
  });
}

TEST(Digest, SortedAndCoversEveryReplicatedKind) {
  testing::TempInstance t;
  Instance& inst = t.inst();
  ASSERT_TRUE(inst.create_mailbox("user.alice").ok());
  ASSERT_TRUE(inst.create_mailbox("user.bob").ok());
  t.deliver("user.alice", "Subject: a\r\n\r\nx\r\n");
  ASSERT_TRUE(inst.store_flags("user.alice", {1}, kFlagFlagged, {"$Label1"}, true));
  ASSERT_TRUE(inst.set_annotation("user.alice", "/comment", "", "hello world"));
  ASSERT_TRUE(inst.set_subscribed("alice", "user.bob", true));
  ASSERT_TRUE(inst.set_quota("user.alice", 1000, -1));
  auto alice = inst.lookup("user.alice");
  ASSERT_TRUE(alice.ok());
  SeenRecord seen;
  seen.uniqueid = alice->uniqueid;
  seen.lastuid = 1;
  seen.seenuids = "1";
  // An administrator's seen state on another user's mailbox counts too.
  ASSERT_TRUE(inst.set_seen("admin", seen));

  auto ls = lines(inst);
  EXPECT_TRUE(std::is_sorted(ls.begin(), ls.end()));
  EXPECT_TRUE(any_line(ls, "mailbox user.alice ", "uniqueid=" + alice->uniqueid));
  EXPECT_TRUE(any_line(ls, "acl user.alice alice ", "lrswipkxtecdan"));
  EXPECT_TRUE(any_line(ls, "counters user.alice ", "last_uid=1 "));
  EXPECT_TRUE(any_line(ls, "record user.alice 0000000001 ", "flags=($Label1,\\x5cFlagged)"));
  EXPECT_TRUE(any_line(ls, "annot user.alice /comment \"\" ", "value=hello\\x20world"));
  EXPECT_TRUE(any_line(ls, "seen admin user.alice ", "seenuids=1"));
  EXPECT_TRUE(any_line(ls, "sub alice user.bob", ""));
  EXPECT_TRUE(any_line(ls, "quota user.alice ", "storage_limit_kib=1000 "));

  // Scopes: bob's digest holds neither alice's mailbox nor her quota; the
  // mailbox scope holds every user's seen state on it but no subscriptions.
  auto bob = lines(inst, {.user = "bob", .mailbox = ""});
  EXPECT_FALSE(any_line(bob, "mailbox user.alice", ""));
  EXPECT_FALSE(any_line(bob, "quota", ""));
  EXPECT_TRUE(any_line(bob, "mailbox user.bob ", ""));
  auto box = lines(inst, {.user = "", .mailbox = "user.alice"});
  EXPECT_TRUE(any_line(box, "seen admin user.alice ", ""));
  EXPECT_FALSE(any_line(box, "sub ", ""));
  EXPECT_FALSE(any_line(box, "mailbox user.bob", ""));
}

TEST(Digest, EqualStateGivesEqualDigestAndAnyChangeShows) {
  testing::TempInstance a, b;
  for (auto* t : {&a, &b}) {
    ASSERT_TRUE(
        t->inst()
            .create_mailbox("user.carol", {.partition = "",
                                           .acl = "",
                                           .uniqueid = "00000000-0000-4000-8000-000000000001",
                                           .uidvalidity = 1700000000,
                                           .createdmodseq = 5})
            .ok());
  }
  auto da = lines(a.inst()), db = lines(b.inst());
  ASSERT_FALSE(da.empty());
  EXPECT_EQ(da, db);
  EXPECT_EQ(digest_hash_line(da), digest_hash_line(db));
  EXPECT_THAT(digest_hash_line(da), HasSubstr("hash "));

  ASSERT_TRUE(b.inst().set_acl("user.carol", "carol\tlrs\t"));
  auto changed = lines(b.inst());
  EXPECT_NE(da, changed);
  EXPECT_NE(digest_hash_line(da), digest_hash_line(changed));
}

}  // namespace
}  // namespace replimail::store
