#include "common/mboxname_owner.h"

#include <gtest/gtest.h>

namespace replimail {
namespace {

TEST(MboxnameOwner, UserMailboxes) {
  EXPECT_EQ(mboxname_owner("user.bob"), "bob");
  EXPECT_EQ(mboxname_owner("user.bob.Sent.2024"), "bob");
  EXPECT_EQ(mboxname_owner("user.john^doe.Sent"), "john.doe");
}

TEST(MboxnameOwner, SharedMailboxes) {
  EXPECT_EQ(mboxname_owner("shared.folder"), "");
  EXPECT_EQ(mboxname_owner("username.x"), "");
  EXPECT_EQ(mboxname_owner("user"), "");
  EXPECT_EQ(mboxname_owner("user."), "");
  EXPECT_EQ(mboxname_owner("DELETED"), "");
  EXPECT_EQ(mboxname_owner("DELETED.shared.x.5F1A2B3C"), "");
}

// The cases where store's mboxname_owner and synclog's mboxname_userid
// differed. A deleted mailbox is its user's (store said shared, so
// sync_client's shared pass had to ask both).
TEST(MboxnameOwner, DeletedMailboxesKeepTheirOwner) {
  EXPECT_EQ(mboxname_owner("DELETED.user.bob.x.5F1A2B3C"), "bob");
  EXPECT_EQ(mboxname_owner("DELETED.user.bob^smith.5F1A2B3C"), "bob.smith");
  EXPECT_EQ(mboxname_owner("DELETEDuser.bob"), "");
  EXPECT_EQ(mboxname_owner("Trash.user.bob.x.5F1A2B3C", "Trash"), "bob");
  EXPECT_EQ(mboxname_owner("DELETED.user.bob.x.5F1A2B3C", "Trash"), "");
  EXPECT_EQ(mboxname_owner("DELETED.user.bob.x.5F1A2B3C", ""), "");
}

// With virtdomains off (all replimail accepts) Cyrus does not split a name
// at '!' (synclog's copy did, naming an owner "bob@example.com" that no
// USER line or user listing would).
TEST(MboxnameOwner, BangIsNoDomainSeparator) {
  EXPECT_EQ(mboxname_owner("example.com!user.bob.x"), "");
  EXPECT_EQ(mboxname_owner("example.com!shared"), "");
  EXPECT_EQ(mboxname_owner("user.bob!x.y"), "bob!x");
}

}  // namespace
}  // namespace replimail
