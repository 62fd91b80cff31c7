#include "imap/namespace.h"

#include <gtest/gtest.h>

namespace replimail::imap {
namespace {

std::string internal(const Namespace& ns, std::string_view ext) {
  auto r = ns.to_internal(ext);
  return r.ok() ? *r : "ERR";
}

TEST(NamespaceTest, AltNamespaceUnixSep) {
  Namespace ns(NamespaceOptions{}, "alice", false);
  EXPECT_EQ(ns.separator(), '/');
  EXPECT_EQ(internal(ns, "INBOX"), "user.alice");
  EXPECT_EQ(internal(ns, "inbox"), "user.alice");
  EXPECT_EQ(internal(ns, "Sent"), "user.alice.Sent");
  EXPECT_EQ(internal(ns, "Work/2024.q1"), "user.alice.Work.2024^q1");
  EXPECT_EQ(internal(ns, "Other Users/bob"), "user.bob");
  EXPECT_EQ(internal(ns, "Other Users/john.doe/Sent"), "user.john^doe.Sent");
  EXPECT_EQ(internal(ns, "Shared Folders/news/tech"), "news.tech");
  EXPECT_EQ(internal(ns, "Other Users"), "ERR");
  EXPECT_EQ(internal(ns, "Shared Folders/user/x"), "ERR");
  EXPECT_EQ(internal(ns, "a//b"), "ERR");
  EXPECT_EQ(internal(ns, "a/"), "ERR");
  EXPECT_EQ(internal(ns, "a^b"), "ERR");
  EXPECT_EQ(internal(ns, "bad&Jjo"), "ERR");

  EXPECT_EQ(ns.to_external("user.alice"), "INBOX");
  EXPECT_EQ(ns.to_external("user.alice.Work.2024^q1"), "Work/2024.q1");
  EXPECT_EQ(ns.to_external("user.bob.Sent"), "Other Users/bob/Sent");
  EXPECT_EQ(ns.to_external("user.john^doe"), "Other Users/john.doe");
  EXPECT_EQ(ns.to_external("news.tech"), "Shared Folders/news/tech");
  EXPECT_FALSE(ns.to_external("user"));
  EXPECT_EQ(ns.namespace_response(),
            "((\"\" \"/\")) ((\"Other Users/\" \"/\")) ((\"Shared Folders/\" \"/\"))");
}

TEST(NamespaceTest, StandardNamespaceDotSep) {
  NamespaceOptions o;
  o.altnamespace = false;
  o.unixhierarchysep = false;
  Namespace ns(o, "alice", false);
  EXPECT_EQ(ns.separator(), '.');
  EXPECT_EQ(internal(ns, "INBOX"), "user.alice");
  EXPECT_EQ(internal(ns, "INBOX.Sent"), "user.alice.Sent");
  EXPECT_EQ(internal(ns, "user.bob.Sent"), "user.bob.Sent");
  EXPECT_EQ(internal(ns, "shared.x"), "shared.x");
  EXPECT_EQ(internal(ns, "a/b"), "ERR");
  EXPECT_EQ(ns.to_external("user.alice.Sent"), "INBOX.Sent");
  EXPECT_EQ(ns.to_external("user.bob"), "user.bob");
  EXPECT_EQ(ns.to_external("shared.x"), "shared.x");
  EXPECT_EQ(ns.namespace_response(), "((\"INBOX.\" \".\")) ((\"user.\" \".\")) ((\"\" \".\"))");
}

TEST(NamespaceTest, AdminsGetStandardNamespace) {
  Namespace ns(NamespaceOptions{}, "admin", true);
  EXPECT_FALSE(ns.alternate());
  EXPECT_EQ(internal(ns, "user/alice"), "user.alice");
  EXPECT_EQ(internal(ns, "user/alice/Sent"), "user.alice.Sent");
  EXPECT_EQ(internal(ns, "shared"), "shared");
  EXPECT_EQ(ns.to_external("user.alice.Sent"), "user/alice/Sent");
}

TEST(NamespaceTest, NoPersonalNamespaceBeforeLogin) {
  Namespace ns(NamespaceOptions{}, "", false);
  EXPECT_EQ(internal(ns, "Sent"), "ERR");
}

TEST(Mutf7Test, Validation) {
  EXPECT_TRUE(valid_mutf7("Sent"));
  EXPECT_TRUE(valid_mutf7("a&-b"));
  EXPECT_TRUE(valid_mutf7("&AOQ-"));  // ä
  EXPECT_TRUE(valid_mutf7("~peter/mail/&U,BTFw-/&ZeVnLIqe-"));
  EXPECT_FALSE(valid_mutf7("&AOQ"));   // unterminated
  EXPECT_FALSE(valid_mutf7("&AGE-"));  // 'a' encoded
  EXPECT_FALSE(valid_mutf7("&A-"));    // partial code unit
  EXPECT_FALSE(valid_mutf7("&2D0-"));  // lone surrogate
  EXPECT_FALSE(valid_mutf7("&AO/-"));  // '/' is not modified base64
  EXPECT_FALSE(valid_mutf7("tab\there"));
  EXPECT_FALSE(valid_mutf7("\xc3\xa4"));  // raw 8-bit
}

TEST(Mutf7Test, RoundTrip) {
  for (std::string s : {"Entwürfe", "日本語", "a&b", "plain", "mix ä & ö", "😀"}) {
    std::string enc = utf8_to_mutf7(s);
    EXPECT_TRUE(valid_mutf7(enc)) << enc;
    EXPECT_EQ(mutf7_to_utf8(enc), s);
  }
  EXPECT_EQ(utf8_to_mutf7("Entwürfe"), "Entw&APw-rfe");
  EXPECT_EQ(utf8_to_mutf7("&"), "&-");
}

}  // namespace
}  // namespace replimail::imap
