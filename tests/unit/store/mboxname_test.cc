#include "store/mboxname.h"

#include <gtest/gtest.h>

#include "store/acl.h"

namespace replimail::store {
namespace {

TEST(MboxnameTest, AcceptsOrdinaryNames) {
  for (const char* n : {"user.alice", "user.alice.Sent", "user.john^doe.Drafts", "shared.folder",
                        "user.alice.My Folder", "user.alice.&AOQ-pfel", "user.alice.a&-b",
                        "INBOX-like", "user.alice.x_y-z"})
    EXPECT_TRUE(validate_mboxname(n).is_ok()) << n;
}

TEST(MboxnameTest, RejectsBadNames) {
  for (const char* n :
       {"", ".user", "user.", "user..alice", "user.alice..x", "user.alice/../x", "user/alice",
        "user.alice.\x01", "user.alice.\x7f", "user.al\xc3\xa4", "user.alice.%", "user.alice.*",
        "user.alice.&Jjo", "user.alice.&", "user", "user.", "user.al ice", "user.alice^"}) {
    Status s = validate_mboxname(n);
    EXPECT_FALSE(s.is_ok()) << n;
    EXPECT_EQ(s.code(), Code::kMailboxBadName) << n;
  }
  EXPECT_FALSE(validate_mboxname(std::string(491, 'a')).is_ok());
  EXPECT_FALSE(validate_mboxname(std::string("user.a\0b", 8)).is_ok());
}

TEST(MboxnameTest, Userids) {
  EXPECT_TRUE(validate_userid("alice").is_ok());
  EXPECT_TRUE(validate_userid("john.doe").is_ok());
  EXPECT_TRUE(validate_userid("bob@example.com").is_ok());
  for (const char* u : {"", ".", "..", "a/b", "a^b", "a b", ".a", "a.", "a..b", "a\tb", "\xc3\xa4"})
    EXPECT_EQ(validate_userid(u).code(), Code::kInvalidUser) << u;
}

TEST(MboxnameTest, InboxAndOwner) {
  EXPECT_EQ(user_inbox("alice"), "user.alice");
  EXPECT_EQ(user_inbox("john.doe"), "user.john^doe");
  EXPECT_EQ(mboxname_owner("user.john^doe.Sent"), "john.doe");
  EXPECT_EQ(mboxname_owner("user.alice"), "alice");
  EXPECT_EQ(mboxname_owner("shared.folder"), "");
  EXPECT_EQ(mboxname_owner("username.x"), "");
  EXPECT_TRUE(mboxname_is_inbox("user.alice"));
  EXPECT_FALSE(mboxname_is_inbox("user.alice.Sent"));
  EXPECT_FALSE(mboxname_is_inbox("shared"));
  EXPECT_FALSE(mboxname_is_inbox("user."));
  EXPECT_EQ(component_to_userid(userid_to_component("a.b.c")), "a.b.c");
}

TEST(MboxnameTest, Hierarchy) {
  EXPECT_TRUE(mboxname_is_child("user.a", "user.a.b"));
  EXPECT_TRUE(mboxname_is_child("user.a", "user.a.b.c"));
  EXPECT_FALSE(mboxname_is_child("user.a", "user.ab"));
  EXPECT_FALSE(mboxname_is_child("user.a", "user.a"));
  EXPECT_FALSE(mboxname_is_child("user.a", "user.a."));
  EXPECT_EQ(mboxname_parent("user.a.b"), "user.a");
  EXPECT_EQ(mboxname_parent("user"), "");
}

TEST(AclTest, ParseFormatAndRights) {
  auto acl = parse_acl("alice\tlrswipkxtecdan\tanyone\tp\t");
  ASSERT_EQ(acl.size(), 2u);
  EXPECT_EQ(acl["alice"], "lrswipkxtecdan");
  EXPECT_EQ(format_acl(acl), "alice\tlrswipkxtecdan\tanyone\tp\t");
  EXPECT_TRUE(acl_has_right("alice\tlrs\tanyone\tp\t", "bob", 'p'));
  EXPECT_FALSE(acl_has_right("alice\tlrs\t", "bob", 'p'));
  EXPECT_TRUE(acl_has_right("alice\tlrs\t", "alice", 'l'));
  EXPECT_EQ(default_acl("user.john^doe.x"), "john.doe\tlrswipkxtecdan\t");
  EXPECT_EQ(default_acl("shared.x"), "anyone\tlrs\t");
  EXPECT_TRUE(parse_acl("dangling").empty());
}

}  // namespace
}  // namespace replimail::store
