// Names that become paths inside the store (uniqueid, partition, GUID) are
// refused unless they match their grammar, wherever the store builds a path
// or stores the name, even if the caller forgot to check (issue 13, item 7:
// a replication peer's "UNIQUEID ../../../../some/dir" created an index
// outside the partition).
#include <gtest/gtest.h>

#include <filesystem>

#include "store/mailbox.h"
#include "store/mboxname.h"
#include "store_test_util.h"

namespace replimail::store {
namespace {

using testing::TempInstance;

const std::string kNul("ab\0cd", 5);

TEST(PathNamesTest, UniqueidGrammar) {
  for (std::string ok : {"0f6ab43c-7e2e-4b0c-9d6f-1c2d3e4f5a6b", "ecx1ps7244f2voy65oeez80t",
                         "00000000deadbeef", "x", "a_b"})
    EXPECT_TRUE(validate_uniqueid(ok).is_ok()) << ok;
  for (std::string bad : {std::string(), std::string("."), std::string(".."),
                          std::string("../../../../some/dir"), std::string("a/b"),
                          std::string("a b"), std::string("a.b"), kNul, std::string(65, 'a'),
                          std::string("\xc3\xa9")}) {
    Status s = validate_uniqueid(bad);
    EXPECT_EQ(s.code(), Code::kMailboxBadName) << bad;
    EXPECT_EQ(s.message().find('\0'), std::string::npos);
  }
}

TEST(PathNamesTest, PartitionGrammar) {
  for (std::string ok : {"default", "other", "p2", "spool-1", "ssd.a"})
    EXPECT_TRUE(validate_partition(ok).is_ok()) << ok;
  for (std::string bad : {std::string(), std::string("."), std::string(".."), std::string("../x"),
                          std::string("a/b"), kNul, std::string(65, 'p'), std::string(".hidden")})
    EXPECT_EQ(validate_partition(bad).code(), Code::kMailboxBadName) << bad;
}

TEST(PathNamesTest, GuidGrammar) {
  EXPECT_TRUE(validate_guid("da39a3ee5e6b4b0d3255bfef95601890afd80709").is_ok());
  EXPECT_TRUE(validate_guid("DA39A3EE5E6B4B0D3255BFEF95601890AFD80709").is_ok());
  for (std::string bad : {std::string(), std::string("../../etc/passwd"),
                          std::string("da39a3ee5e6b4b0d3255bfef95601890afd8070"),
                          std::string("da39a3ee5e6b4b0d3255bfef95601890afd807090"),
                          std::string("da39a3ee5e6b4b0d3255bfef95601890afd8070/"),
                          std::string("da39a3ee5e6b4b0d3255bfef95601890afd8070") + '\0'})
    EXPECT_EQ(validate_guid(bad).code(), Code::kInvalidArgument) << bad;
}

TEST(PathNamesTest, MailboxDirRefusesATraversingUniqueid) {
  EXPECT_EQ(mailbox_dir("/spool", "../../../../some/dir").status().code(),
            Code::kMailboxBadName);
  EXPECT_EQ(mailbox_dir("/spool", "").status().code(), Code::kMailboxBadName);
  EXPECT_EQ(mailbox_dir("/spool", kNul).status().code(), Code::kMailboxBadName);
  EXPECT_EQ(mailbox_dir("", "abc").status().code(), Code::kConfigError);
  auto d = mailbox_dir("/spool", "ecx1ps7244f2voy65oeez80t");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, "/spool/uuid/e/c/ecx1ps7244f2voy65oeez80t");
}

// No index file anywhere under `root` but inside a partition's uuid tree.
void expect_no_stray_index(const std::string& root) {
  for (const auto& f : std::filesystem::recursive_directory_iterator(root)) {
    if (f.path().filename() != "cyrus.index.db") continue;
    EXPECT_NE(f.path().string().find("/uuid/"), std::string::npos) << f.path();
  }
}

TEST(PathNamesTest, CreateMailboxRefusesATraversingUniqueid) {
  TempInstance t;
  // Would be <root>/part/uuid/./. + ../../../escape = <root>/escape (and
  // deeper variants): nothing may be created.
  for (std::string id : {"../../../escape", "../../../../escape", "a/../../../../escape", ""}) {
    if (id.empty()) id = kNul;
    auto e = t.inst().create_mailbox("user.mallory", {.uniqueid = id});
    EXPECT_EQ(e.status().code(), Code::kMailboxBadName) << id;
  }
  EXPECT_FALSE(std::filesystem::exists(t.root() + "/escape"));
  EXPECT_FALSE(std::filesystem::exists(t.root() + "/part/escape"));
  EXPECT_EQ(t.inst().lookup("user.mallory").status().code(), Code::kMailboxNonexistent);
  expect_no_stray_index(t.root());
  EXPECT_TRUE(t.take_log().empty());
}

TEST(PathNamesTest, PartitionPathRefusesTraversal) {
  TempInstance t;
  EXPECT_EQ(t.inst().partition_path("../default").status().code(), Code::kMailboxBadName);
  EXPECT_EQ(t.inst().partition_path("a/b").status().code(), Code::kMailboxBadName);
  EXPECT_EQ(t.inst().create_mailbox("user.mallory", {.partition = "../other"}).status().code(),
            Code::kMailboxBadName);
  EXPECT_EQ(t.inst().stage_message("../default").status().code(), Code::kMailboxBadName);
  EXPECT_TRUE(t.inst().partition_path("other").ok());
}

// The mailbox list stores nothing that a later path would be built from
// unchecked: an entry written as the master sent it (the replica's path)
// is refused too.
TEST(PathNamesTest, MailboxListRefusesBadEntries) {
  TempInstance t;
  MailboxEntry e;
  e.name = "user.mallory";
  e.uniqueid = "ecx1ps7244f2voy65oeez80t";
  e.partition = "default";
  e.acl = "mallory\tlrswipkxtecdan\t";
  e.uidvalidity = 1;
  MailboxEntry bad = e;
  bad.uniqueid = "../../../../some/dir";
  EXPECT_EQ(t.inst().put_replicated_entry(bad, 0).code(), Code::kMailboxBadName);
  bad = e;
  bad.partition = "../default";
  EXPECT_EQ(t.inst().put_replicated_entry(bad, 0).code(), Code::kMailboxBadName);
  bad = e;
  bad.uniqueid = kNul;
  EXPECT_EQ(t.inst().create_mailbox(bad.name, {.uniqueid = bad.uniqueid}).status().code(),
            Code::kMailboxBadName);
  bad = e;
  bad.name = "user.mal/lory";
  EXPECT_EQ(t.inst().put_replicated_entry(bad, 0).code(), Code::kMailboxBadName);
  EXPECT_EQ(t.inst().lookup("user.mallory").status().code(), Code::kMailboxNonexistent);
  EXPECT_TRUE(t.inst().put_replicated_entry(e, 0).is_ok());
}

TEST(PathNamesTest, PutRecordRefusesABadGuid) {
  TempInstance t;
  ASSERT_TRUE(t.inst().create_mailbox("user.alice").ok());
  auto m = t.inst().open_mailbox("user.alice");
  ASSERT_TRUE(m.ok());
  auto txn = (*m)->begin();
  ASSERT_TRUE(txn.ok());
  IndexRecord r;
  r.uid = 1;
  r.modseq = 2;
  r.system_flags = kFlagExpunged;
  r.guid = "../../../../etc/passwd";
  EXPECT_EQ((*txn)->put_record(r, "").code(), Code::kInvalidArgument);
  r.guid = "";
  EXPECT_EQ((*txn)->put_record(r, "").code(), Code::kInvalidArgument);
  r.guid = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
  EXPECT_TRUE((*txn)->put_record(r, "").is_ok());
}

}  // namespace
}  // namespace replimail::store
