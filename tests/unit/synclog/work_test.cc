#include "synclog/work.h"

#include <gtest/gtest.h>

namespace replimail::synclog {
namespace {

using Names = std::vector<std::string>;
using Pairs = std::vector<std::pair<std::string, std::string>>;

TEST(BuildWork, CyrusChannelLogCollapses) {
  std::vector<Line> lines = {
      {"MAILBOX", {"user.testuser"}},
      {"APPEND", {"user.testuser"}},
      {"MAILBOX", {"user.testuser"}},
      {"MAILBOX", {"user.testuser.Archive"}},
      {"SUB", {"testuser", "user.testuser.Archive"}},
      {"APPEND", {"user.testuser.Archive"}},
      {"DOUBLEMAILBOX", {"user.testuser", "user.testuser.Archive"}},
      {"MAILBOX", {"user.testuser"}},
  };
  SyncWork w = build_work(lines);
  ASSERT_EQ(w.mailbox_groups.size(), 1u);
  EXPECT_EQ(w.mailbox_groups["testuser"], (Names{"user.testuser", "user.testuser.Archive"}));
  EXPECT_EQ(w.sub, (Pairs{{"testuser", "user.testuser.Archive"}}));
  EXPECT_TRUE(w.user.empty());
  EXPECT_FALSE(w.empty());
}

TEST(BuildWork, RenameAcrossUsersGoesIntoBothGroups) {
  SyncWork w = build_work({{"RENAME", {"user.a.x", "user.b.x"}},
                           {"RENAME", {"user.c.x", "user.c.y"}},
                           {"DOUBLEMAILBOX", {"shared.s", "user.d"}}});
  EXPECT_EQ(w.mailbox_groups["a"], (Names{"user.a.x", "user.b.x"}));
  EXPECT_EQ(w.mailbox_groups["b"], (Names{"user.a.x", "user.b.x"}));
  EXPECT_EQ(w.mailbox_groups["c"], (Names{"user.c.x", "user.c.y"}));
  EXPECT_EQ(w.mailbox_groups[""], (Names{"shared.s", "user.d"}));
  EXPECT_EQ(w.mailbox_groups.count("d"), 0u);
}

TEST(BuildWork, ListsAndAliases) {
  SyncWork w = build_work({{"UNMAILBOX", {"user.x.gone"}},
                           {"QUOTA", {"user.x"}},
                           {"QUOTA", {"user.x"}},
                           {"ANNOTATION", {""}},
                           {"SEEN", {"u", "id1"}},
                           {"SEEN", {"u", "id1"}},
                           {"SEEN", {"u", "id2"}},
                           {"UNSUB", {"u", "user.u.a"}},
                           {"SUB", {"u", "user.u.a"}},
                           {"SIEVE", {"v"}},
                           {"FROB", {"x"}},
                           {"SEEN", {"only-one-arg"}}});
  EXPECT_EQ(w.unmailbox, Names{"user.x.gone"});
  EXPECT_EQ(w.quota, Names{"user.x"});
  EXPECT_EQ(w.annotation, Names{""});
  EXPECT_EQ(w.seen, (Pairs{{"u", "id1"}, {"u", "id2"}}));
  EXPECT_EQ(w.sub, (Pairs{{"u", "user.u.a"}}));
  EXPECT_EQ(w.meta, Names{"v"});
  EXPECT_EQ(w.ignored, (Names{"Unknown action type FROB", "SEEN: missing argument"}));
}

TEST(BuildWork, Coalescing) {
  SyncWork w = build_work({
      {"META", {"a"}},
      {"SEEN", {"a", "i"}},
      {"SUB", {"a", "m"}},
      {"USER", {"b"}},
      {"META", {"b"}},
      {"SEEN", {"b", "i"}},
      {"SUB", {"b", "m"}},
      {"UNUSER", {"c"}},
      {"USER", {"c"}},
      {"META", {"c"}},
      {"SEEN", {"c", "i"}},
      {"SUB", {"c", "m"}},
      {"MAILBOX", {"user.c"}},
      {"SEEN", {"d", "i"}},
      {"SUB", {"d", "m"}},
  });
  EXPECT_EQ(w.meta, Names{"a"});
  EXPECT_EQ(w.user, Names{"b"});
  EXPECT_EQ(w.unuser, Names{"c"});
  EXPECT_EQ(w.seen, (Pairs{{"d", "i"}}));
  EXPECT_EQ(w.sub, (Pairs{{"d", "m"}}));
  EXPECT_EQ(w.mailbox_groups["c"], Names{"user.c"});
}

TEST(BuildWork, EmptyInput) { EXPECT_TRUE(build_work({}).empty()); }

}  // namespace
}  // namespace replimail::synclog
