// METADATA (RFC 5464) as Cyrus 3.6 answers it: entry names, values, the
// GETMETADATA walk (metadata.h), and Session transcripts whose expected
// answers are the ones Cyrus 3.6 gave to the same commands.
#include "imap/metadata.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "imap/session.h"
#include "session_fixture.h"

namespace replimail::imap {
namespace {

using test::SessionTest;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(MetadataTest, NamesMustBeginWithSharedOrPrivateAndAreLowerCased) {
  auto n = parse_metadata_name("/shared/Comment");
  ASSERT_TRUE(n);
  EXPECT_TRUE(n->shared);
  EXPECT_EQ(n->entry, "/comment");
  n = parse_metadata_name("/PRIVATE");
  ASSERT_TRUE(n);
  EXPECT_FALSE(n->shared);
  EXPECT_EQ(n->entry, "");
  EXPECT_FALSE(parse_metadata_name("/sharedx/comment"));
  EXPECT_FALSE(parse_metadata_name("/comment"));
  EXPECT_FALSE(parse_metadata_name(""));
}

TEST(MetadataTest, ValuesOfTypedEntries) {
  EXPECT_EQ(canon_metadata_value(MetaType::kBoolean, "TRUE"), "true");
  EXPECT_EQ(canon_metadata_value(MetaType::kBoolean, "False"), "false");
  EXPECT_FALSE(canon_metadata_value(MetaType::kBoolean, "yes"));
  EXPECT_EQ(canon_metadata_value(MetaType::kUint, "15"), "15");
  EXPECT_FALSE(canon_metadata_value(MetaType::kUint, "-1"));
  EXPECT_FALSE(canon_metadata_value(MetaType::kUint, "1x"));
  EXPECT_FALSE(canon_metadata_value(MetaType::kUint, "18446744073709551616"));
  EXPECT_EQ(canon_metadata_value(MetaType::kString, "any thing"), "any thing");
  EXPECT_EQ(canon_specialuse("junk \\sent"), "\\Junk \\Sent");
  EXPECT_FALSE(canon_specialuse("\\Bogus"));
  EXPECT_FALSE(canon_specialuse("\\All"));  // Cyrus 3.6 has no virtual folders
}

TEST(MetadataTest, Glob) {
  EXPECT_TRUE(metadata_glob("/%", "/comment"));
  EXPECT_FALSE(metadata_glob("/%", "/vendor/cmu/cyrus-imapd/size"));
  EXPECT_TRUE(metadata_glob("/*", "/vendor/cmu/cyrus-imapd/size"));
  EXPECT_TRUE(metadata_glob("/vendor/%/x", "/vendor/a/x"));
  EXPECT_FALSE(metadata_glob("/vendor/%/x", "/vendor/a/b/x"));
  EXPECT_FALSE(metadata_glob("", "/comment"));
  EXPECT_TRUE(metadata_glob("/comment", "/comment"));
}

// Cyrus walks its entry table backwards and adds NILs for named entries;
// this is the order it answered for the server with one stored value.
TEST(MetadataTest, ServerDepthOneInCyrusOrder) {
  MetaFetch f;
  f.scope = MetaScope::kServer;
  f.names = {{true, ""}};
  f.depth = 1;
  f.userid = "admin";
  f.stored = {{"/comment", "", "server comment"}, {"/comment", "bob", "not shown"}};
  std::vector<std::pair<std::string, std::string>> want = {{"/shared/comment", "server comment"},
                                                           {"/shared/motd", ""},
                                                           {"/shared/admin", ""},
                                                           {"/shared", ""}};
  EXPECT_EQ(fetch_metadata(f), want);
  // Explicit entries: NIL for private and shared of each, last named first.
  f.names = {{true, "/comment"}, {false, "/comment"}, {true, "/admin"},
             {true, "/vendor/cmu/cyrus-imapd/size"}};
  f.depth = 0;
  f.stored.clear();
  want = {{"/private/vendor/cmu/cyrus-imapd/size", ""}, {"/shared/vendor/cmu/cyrus-imapd/size", ""},
          {"/private/admin", ""},  {"/shared/admin", ""},
          {"/private/comment", ""}, {"/shared/comment", ""}};
  EXPECT_EQ(fetch_metadata(f), want);
}

TEST(MetadataTest, MailboxRightsHideEverythingButThePartition) {
  MetaFetch f;
  f.names = {{true, "/comment"}, {true, "/vendor/cmu/cyrus-imapd/partition"}};
  f.stored = {{"/comment", "", "c"}};
  f.computed = [](std::string_view) { return std::string("default"); };
  f.may_read = false;
  std::vector<std::pair<std::string, std::string>> want = {
      {"/shared/vendor/cmu/cyrus-imapd/partition", "default"}};
  EXPECT_EQ(fetch_metadata(f), want);
  f.may_lookup = false;
  EXPECT_TRUE(fetch_metadata(f).empty());
}

// The transcript Cyrus 3.6 gave (admin, server and user.alice).
TEST_F(SessionTest, MetadataAnswersAsCyrus) {
  auto s = login("admin");
  EXPECT_EQ(run(*s, "a GETMETADATA \"\" /shared/comment\r\n"),
            "* METADATA \"\" (\"/shared/comment\" NIL)\r\na OK Completed\r\n");
  EXPECT_EQ(run(*s, "b SETMETADATA \"\" (/shared/comment \"server comment\")\r\n"),
            "b OK Completed\r\n");
  EXPECT_EQ(run(*s, "c GETMETADATA (DEPTH 1) \"\" /shared\r\n"),
            "* METADATA \"\" (\"/shared/comment\" \"server comment\" \"/shared/motd\" NIL "
            "\"/shared/admin\" NIL \"/shared\" NIL)\r\nc OK Completed\r\n");
  EXPECT_EQ(run(*s, "d SETMETADATA user/alice (/shared/comment \"alice box\")\r\n"),
            "d OK Completed\r\n");
  EXPECT_EQ(run(*s, "e SETMETADATA user/alice (/shared/vendor/foo \"bar\")\r\n"),
            "e NO Permission denied\r\n");
  EXPECT_EQ(run(*s, "f SETMETADATA user/alice (/private/comment \"priv\")\r\n"),
            "f OK Completed\r\n");
  EXPECT_EQ(run(*s, "g GETMETADATA (DEPTH infinity) user/alice /private\r\n"),
            "* METADATA user/alice (\"/private/comment\" \"priv\" "
            "\"/private/vendor/cmu/cyrus-imapd/squat\" NIL "
            "\"/private/vendor/cmu/cyrus-imapd/sortorder\" NIL "
            "\"/private/vendor/cmu/cyrus-imapd/sieve\" NIL "
            "\"/private/vendor/cmu/cyrus-imapd/search-fuzzy-always\" NIL "
            "\"/private/vendor/cmu/cyrus-imapd/news2mail\" NIL "
            "\"/private/vendor/cmu/cyrus-imapd/expire\" NIL "
            "\"/private/vendor/cmu/cyrus-imapd/delete\" NIL "
            "\"/private/vendor/cmu/cyrus-imapd/archive\" NIL \"/private/thread\" NIL "
            "\"/private/specialuse\" NIL \"/private/sort\" NIL \"/private/checkperiod\" NIL "
            "\"/private/check\" NIL \"/private\" NIL)\r\ng OK Completed\r\n");
  EXPECT_EQ(run(*s, "h GETMETADATA (MAXSIZE 3) user/alice /shared/comment\r\n"),
            "h OK [METADATA LONGENTRIES 9] Completed\r\n");
  EXPECT_EQ(run(*s, "i SETMETADATA user/alice (/shared/comment NIL)\r\n"), "i OK Completed\r\n");
  EXPECT_EQ(run(*s, "j GETMETADATA user/alice /shared/comment\r\n"),
            "* METADATA user/alice (\"/shared/comment\" NIL)\r\nj OK Completed\r\n");
  EXPECT_EQ(run(*s, "k SETMETADATA user/alice (/foo \"x\")\r\n"),
            "k BAD entry must begin with /shared or /private\r\n");
  EXPECT_EQ(run(*s, "l SETMETADATA user/alice (/shared/Comment \"x\")\r\n"), "l OK Completed\r\n");
  EXPECT_EQ(run(*s, "m GETMETADATA user/alice /shared/COMMENT\r\n"),
            "* METADATA user/alice (\"/shared/comment\" \"x\")\r\nm OK Completed\r\n");
  EXPECT_EQ(run(*s, "n SETMETADATA user/alice (/shared/comment/ \"x\")\r\n"),
            "n NO Permission denied\r\n");
  EXPECT_EQ(run(*s, "o SETMETADATA nonexist (/shared/comment \"x\")\r\n"),
            "o NO Mailbox does not exist\r\n");
  EXPECT_EQ(run(*s, "p GETMETADATA nonexist /shared/comment\r\n"),
            "p NO Mailbox does not exist\r\n");
  EXPECT_EQ(run(*s, "q CAPABILITY\r\n").find(" METADATA") != std::string::npos, true);
}

// The owner's answers Cyrus 3.6 gave: typed values, special-use, MAXSIZE,
// options before or after the mailbox, and argument errors.
TEST_F(SessionTest, MetadataValuesAndOptionsAsCyrus) {
  auto s = login("alice");
  EXPECT_EQ(run(*s, "a SETMETADATA INBOX (/shared/comment \"alice box\" /private/comment \"priv\")\r\n"),
            "a OK Completed\r\n");
  EXPECT_EQ(run(*s, "b SETMETADATA INBOX (/shared/check \"TRUE\")\r\n"), "b OK Completed\r\n");
  EXPECT_EQ(run(*s, "c SETMETADATA INBOX (/shared/check \"yes\")\r\n"),
            "c NO Invalid annotation value\r\n");
  EXPECT_EQ(run(*s, "d SETMETADATA INBOX (/shared/checkperiod \"-1\")\r\n"),
            "d NO Invalid annotation value\r\n");
  EXPECT_EQ(run(*s, "e SETMETADATA INBOX (/shared/checkperiod \"15\")\r\n"), "e OK Completed\r\n");
  EXPECT_EQ(run(*s, "f SETMETADATA INBOX (/private/specialuse \"\\\\Junk\")\r\n"),
            "f OK Completed\r\n");
  EXPECT_EQ(run(*s, "g SETMETADATA INBOX (/private/specialuse \"\\\\Bogus\")\r\n"),
            "g NO Invalid annotation entry\r\n");
  EXPECT_EQ(run(*s, "h SETMETADATA INBOX (/shared/specialuse \"\\\\Junk\")\r\n"),
            "h NO Permission denied\r\n");
  // Needs the 'a' right on the mailbox for the shared value: the owner has it.
  EXPECT_EQ(run(*s, "i SETMETADATA INBOX (/shared/vendor/cmu/cyrus-imapd/expire \"5\")\r\n"),
            "i OK Completed\r\n");
  EXPECT_EQ(run(*s, "j SETMETADATA INBOX (/shared/vendor/cmu/cyrus-imapd/size \"5\")\r\n"),
            "j NO Permission denied\r\n");
  EXPECT_EQ(run(*s, "k SETMETADATA \"\" (/private/comment \"mine\")\r\n"), "k OK Completed\r\n");
  EXPECT_EQ(run(*s, "l SETMETADATA \"\" (/shared/comment \"srv\")\r\n"),
            "l NO Permission denied\r\n");
  EXPECT_EQ(run(*s, "m GETMETADATA \"\" (/private/comment /shared/comment)\r\n"),
            "* METADATA \"\" (\"/private/comment\" \"mine\" \"/shared/comment\" NIL)\r\n"
            "m OK Completed\r\n");
  EXPECT_EQ(run(*s, "n GETMETADATA INBOX (/shared/check /shared/checkperiod /private/specialuse "
                    "/shared/comment /private/comment)\r\n"),
            "* METADATA INBOX (\"/shared/comment\" \"alice box\" \"/private/comment\" \"priv\" "
            "\"/private/specialuse\" {5}\r\n\\Junk \"/shared/specialuse\" NIL "
            "\"/shared/checkperiod\" \"15\" \"/private/checkperiod\" NIL \"/shared/check\" "
            "\"true\" \"/private/check\" NIL)\r\nn OK Completed\r\n");
  EXPECT_EQ(run(*s, "o GETMETADATA (MAXSIZE 8) INBOX (/shared/comment /private/comment)\r\n"),
            "* METADATA INBOX (\"/private/comment\" \"priv\")\r\no OK Completed\r\n");
  EXPECT_EQ(run(*s, "p GETMETADATA INBOX (MAXSIZE 7) (/shared/comment /private/comment)\r\n"),
            "* METADATA INBOX (\"/private/comment\" \"priv\")\r\n"
            "p OK [METADATA LONGENTRIES 9] Completed\r\n");
  EXPECT_EQ(run(*s, "q GETMETADATA (DEPTH 2) INBOX /private\r\n"),
            "q BAD Missing arguments to Getmetadata\r\n");
  EXPECT_EQ(run(*s, "r GETMETADATA (DEPTH 1) (DEPTH 1) /private\r\n"),
            "r BAD Too many option lists for Getmetadata\r\n");
  EXPECT_EQ(run(*s, "s SETMETADATA INBOX (/shared/comment)\r\n"),
            "s BAD Missing metadata entry\r\n");
  EXPECT_EQ(run(*s, "t SETMETADATA INBOX /shared/comment \"x\"\r\n"),
            "t BAD Missing metadata entry list\r\n");
}

// Rights: 'l' and 'r' to read a mailbox's entries, 'w' too for shared
// values; private values are the user's own.
TEST_F(SessionTest, MetadataRights) {
  auto alice = login("alice");
  run(*alice, "a SETMETADATA INBOX (/shared/comment \"for all\" /private/comment \"alice only\")\r\n");
  auto bob = login("bob");
  // Without rights: nothing shown (not even the partition), and the
  // mailbox does not exist for SETMETADATA, as Cyrus answers.
  EXPECT_EQ(run(*bob, "b GETMETADATA \"Other Users/alice\" "
                      "(/shared/comment /shared/vendor/cmu/cyrus-imapd/partition)\r\n"),
            "b OK Completed\r\n");
  EXPECT_EQ(run(*bob, "b2 SETMETADATA \"Other Users/alice\" (/private/comment \"x\")\r\n"),
            "b2 NO Mailbox does not exist\r\n");
  run(*alice, "c SETACL INBOX bob lr\r\n");
  std::string out = run(*bob, "d GETMETADATA \"Other Users/alice\" (/shared/comment /private/comment)\r\n");
  EXPECT_THAT(out, HasSubstr("\"/shared/comment\" \"for all\""));
  EXPECT_THAT(out, HasSubstr("\"/private/comment\" NIL"));
  EXPECT_THAT(out, Not(HasSubstr("alice only")));
  EXPECT_THAT(run(*bob, "e SETMETADATA \"Other Users/alice\" (/shared/comment \"bob\")\r\n"),
              HasSubstr("e NO Permission denied"));
  EXPECT_THAT(run(*bob, "f SETMETADATA \"Other Users/alice\" (/private/comment \"bob's\")\r\n"),
              HasSubstr("f OK"));
  run(*alice, "g SETACL INBOX bob lrw\r\n");
  EXPECT_THAT(run(*bob, "h SETMETADATA \"Other Users/alice\" (/shared/comment \"bob\")\r\n"),
              HasSubstr("h OK"));
  EXPECT_THAT(run(*bob, "i SETMETADATA \"Other Users/alice\" (/shared/vendor/cmu/cyrus-imapd/expire \"3\")\r\n"),
              HasSubstr("i NO Permission denied"));
  out = run(*alice, "j GETMETADATA INBOX (/shared/comment /private/comment)\r\n");
  EXPECT_THAT(out, HasSubstr("\"/shared/comment\" \"bob\" \"/private/comment\" \"alice only\""));
}

// LIST-METADATA (RFC 9590): RETURN (METADATA (entries)) adds the
// GETMETADATA answer of each listed mailbox after its LIST (and STATUS,
// MYRIGHTS) line; the expected answers are Cyrus 3.6's to the same
// commands. Cyrus takes no MAXSIZE there (BAD), and an entry that is not
// /shared or /private shows no METADATA at all.
TEST_F(SessionTest, ListMetadataAnswersAsCyrus) {
  auto s = login("alice");
  EXPECT_THAT(run(*s, "c0 CAPABILITY\r\n"), HasSubstr(" LIST-METADATA"));
  run(*s, "c1 CREATE a\r\n");
  run(*s, "c2 CREATE a/b\r\n");
  run(*s, "c3 CREATE c\r\n");
  EXPECT_EQ(run(*s, "d SETMETADATA a (/shared/comment \"shared a\" /private/comment \"priv a\")\r\n"),
            "d OK Completed\r\n");
  EXPECT_EQ(run(*s, "e SETMETADATA INBOX (/private/comment \"pc\")\r\n"), "e OK Completed\r\n");
  EXPECT_EQ(run(*s, "f SETMETADATA c (/shared/comment \"a very long comment here\")\r\n"),
            "f OK Completed\r\n");
  EXPECT_EQ(run(*s, "g LIST \"\" * RETURN (METADATA (/shared/comment /private/comment))\r\n"),
            "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
            "* METADATA INBOX (\"/private/comment\" \"pc\" \"/shared/comment\" NIL)\r\n"
            "* LIST (\\HasChildren) \"/\" a\r\n"
            "* METADATA a (\"/shared/comment\" \"shared a\" \"/private/comment\" \"priv a\")\r\n"
            "* LIST (\\HasNoChildren) \"/\" a/b\r\n"
            "* METADATA a/b (\"/private/comment\" NIL \"/shared/comment\" NIL)\r\n"
            "* LIST (\\HasNoChildren) \"/\" c\r\n"
            "* METADATA c (\"/shared/comment\" \"a very long comment here\" \"/private/comment\" NIL)\r\n"
            "g OK Completed\r\n");
  EXPECT_EQ(run(*s, "h LIST \"\" % RETURN (STATUS (MESSAGES) METADATA /shared/comment MYRIGHTS)\r\n"),
            "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
            "* STATUS INBOX (MESSAGES 0)\r\n"
            "* MYRIGHTS INBOX lrswipkxtecdan\r\n"
            "* METADATA INBOX (\"/shared/comment\" NIL)\r\n"
            "* LIST (\\HasChildren) \"/\" a\r\n"
            "* STATUS a (MESSAGES 0)\r\n"
            "* MYRIGHTS a lrswipkxtecdan\r\n"
            "* METADATA a (\"/shared/comment\" \"shared a\")\r\n"
            "* LIST (\\HasNoChildren) \"/\" c\r\n"
            "* STATUS c (MESSAGES 0)\r\n"
            "* MYRIGHTS c lrswipkxtecdan\r\n"
            "* METADATA c (\"/shared/comment\" \"a very long comment here\")\r\n"
            "h OK Completed\r\n");
  // Two METADATA options: their entries together, each once.
  EXPECT_EQ(run(*s, "i LIST \"\" a RETURN (METADATA (/shared/Comment) METADATA (/shared/comment "
                    "/private/comment))\r\n"),
            "* LIST (\\HasChildren) \"/\" a\r\n"
            "* METADATA a (\"/shared/comment\" \"shared a\" \"/private/comment\" \"priv a\")\r\n"
            "i OK Completed\r\n");
  EXPECT_EQ(run(*s, "j LIST \"\" a RETURN (METADATA (/foo /shared/comment))\r\n"),
            "* LIST (\\HasChildren) \"/\" a\r\nj OK Completed\r\n");
  EXPECT_THAT(run(*s, "k LIST \"\" * RETURN (METADATA (MAXSIZE 5) (/shared/comment))\r\n"),
              HasSubstr("k BAD"));
  EXPECT_EQ(run(*s, "l LIST \"\" * RETURN (METADATA ())\r\n"), "l BAD Missing metadata entry\r\n");
  EXPECT_EQ(run(*s, "m LIST \"\" * RETURN (METADATA ((MAXSIZE 5) /shared/comment))\r\n"),
            "m BAD Missing metadata entry\r\n");
  EXPECT_THAT(run(*s, "n LIST \"\" * RETURN (METADATA)\r\n"), HasSubstr("n BAD"));
  EXPECT_EQ(run(*s, "o LIST \"\" nosuch RETURN (METADATA (/shared/comment))\r\n"),
            "o OK Completed\r\n");
}

}  // namespace
}  // namespace replimail::imap
