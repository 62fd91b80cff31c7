// Legacy sieve storage on a replica: Cyrus's directory layout, the listing
// GET USER sends (the active script twice), activation by bytecode name,
// removal of the active script, bad names refused, and the wire items.
#include "sync/sieve.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "dlist/parser.h"
#include "dlist/printer.h"
#include "sync/protocol.h"

namespace replimail::sync {
namespace {

class SieveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sieve-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto cfg = Config::parse("configdirectory: " + dir_ + "/conf\nsievedir: " + dir_ + "/sieve\n",
                             "t.conf");
    ASSERT_TRUE(cfg.ok());
    store_ = std::make_unique<SieveStore>(*cfg);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_;
  std::unique_ptr<SieveStore> store_;
};

TEST_F(SieveTest, LayoutIsCyrusLegacySievedir) {
  EXPECT_EQ(*store_->user_dir("alice"), dir_ + "/sieve/a/alice");
  EXPECT_EQ(*store_->user_dir("9lives"), dir_ + "/sieve/q/9lives");
  EXPECT_EQ(*store_->user_dir("Bob@example.com"), dir_ + "/sieve/domain/e/example.com/b/Bob");
  EXPECT_FALSE(store_->user_dir("../x").ok());
  EXPECT_FALSE(store_->user_dir("").ok());
}

TEST_F(SieveTest, PutListActivateRemove) {
  auto empty = store_->list("alice");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());

  ASSERT_TRUE(store_->put("alice", "vacation.script", 1700000000, "keep;\r\n"));
  ASSERT_TRUE(store_->put("alice", "filters.script", 1700000100, "stop;\r\n"));
  // Only *.script names are stored; others are accepted and ignored.
  ASSERT_TRUE(store_->put("alice", "vacation.bc", 1700000000, "bytecode"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/sieve/a/alice/vacation.bc"));

  ASSERT_TRUE(store_->activate("alice", "vacation.bc"));
  auto l = store_->list("alice");
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->size(), 3u);
  EXPECT_EQ((*l)[0].filename, "filters.script");
  EXPECT_EQ((*l)[0].last_update, 1700000100);
  EXPECT_FALSE((*l)[0].active);
  EXPECT_EQ((*l)[1], (SieveItem{"vacation.bc", 1700000000, std::string(40, '0'), true}));
  EXPECT_EQ((*l)[2].filename, "vacation.script");
  EXPECT_EQ((*l)[2].guid.size(), 40u);
  EXPECT_NE((*l)[2].guid, (*l)[0].guid);
  EXPECT_EQ(std::filesystem::read_symlink(dir_ + "/sieve/a/alice/defaultbc"), "vacation.bc");

  // Activating a script that is not there is refused and changes nothing.
  EXPECT_EQ(store_->activate("alice", "nope.bc").code(), Code::kMailboxNonexistent);
  EXPECT_FALSE(store_->activate("alice", "vacation.script"));

  // Removing the active script deactivates it first.
  ASSERT_TRUE(store_->remove("alice", "vacation.script"));
  EXPECT_FALSE(std::filesystem::is_symlink(dir_ + "/sieve/a/alice/defaultbc"));
  l = store_->list("alice");
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->size(), 1u);
  EXPECT_EQ((*l)[0].filename, "filters.script");
  EXPECT_TRUE(store_->remove("alice", "gone.script"));

  ASSERT_TRUE(store_->activate("alice", "filters.bc"));
  ASSERT_TRUE(store_->deactivate("alice"));
  ASSERT_TRUE(store_->deactivate("alice"));
  ASSERT_TRUE(store_->remove_user("alice"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/sieve/a/alice"));
}

TEST_F(SieveTest, BadNamesAreRefused) {
  EXPECT_FALSE(store_->put("alice", "../evil.script", 1, "x"));
  EXPECT_FALSE(store_->put("alice", ".hidden.script", 1, "x"));
  EXPECT_FALSE(store_->remove("alice", "a/b.script"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/sieve/a/evil.script"));
}

TEST_F(SieveTest, ContentGuidIsSha1) {
  ASSERT_TRUE(store_->put("carol", "k.script", 5, "keep;"));
  auto l = store_->list("carol");
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->size(), 1u);
  // printf 'keep;' | sha1sum
  EXPECT_EQ((*l)[0].guid, "1741a5f56c1cfc0f7ef3d0ad53bceb6518bdfdad");
}

TEST(SieveProtocol, RequestsAndListingItems) {
  auto line = dlist::parse_line(
      "APPLY SIEVE %(USERID alice FILENAME v.script LAST_UPDATE 1700000000 "
      "CONTENT {7+}\r\nkeep;\r\n)\r\n");
  ASSERT_TRUE(line.ok()) << line.status().to_string();
  auto item = dlist::keyed(std::move(*line), 1);
  ASSERT_TRUE(item.ok());
  EXPECT_EQ(item->key(), "SIEVE");
  auto r = sieve_from_dlist(*item, "SIEVE");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(*r, (SieveRequest{"alice", "v.script", 1700000000, "keep;\r\n"}));

  dlist::Value unact = dlist::Value::kvlist();
  unact.add("USERID", dlist::Value::atom("alice"));
  EXPECT_TRUE(sieve_from_dlist(unact, "UNACTIVATE_SIEVE").ok());
  EXPECT_FALSE(sieve_from_dlist(unact, "UNSIEVE").ok());
  EXPECT_FALSE(sieve_from_dlist(unact, "SIEVE").ok());

  dlist::Value listed = to_dlist(SieveItem{"v.bc", 1700000000, std::string(40, '0'), true});
  listed.set_key("SIEVE");
  EXPECT_EQ(*dlist::item_to_wire(listed),
            "SIEVE %(FILENAME v.bc LAST_UPDATE 1700000000 GUID "
            "0000000000000000000000000000000000000000 ISACTIVE 1)");
}

}  // namespace
}  // namespace replimail::sync
