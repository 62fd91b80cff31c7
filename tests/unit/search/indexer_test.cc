#include "search/indexer.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "search/index.h"
#include "search/query.h"
#include "search_fixture.h"

namespace replimail::search {
namespace {

using testing::message;
using Uids = std::vector<uint32_t>;

class IndexerTest : public testing::SearchFixture {
 protected:
  void SetUp() override {
    SearchFixture::SetUp();
    ASSERT_TRUE(instance_->create_mailbox("user.alice").ok());
    ASSERT_TRUE(instance_->create_mailbox("user.alice.Archive").ok());
  }
  std::unique_ptr<IndexReader> reader() {
    auto r = IndexReader::open(index_path(cfg_, "alice"));
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? std::move(*r) : nullptr;
  }
  Uids sure(const std::string& mbox, const std::string& needle) {
    auto r = reader();
    auto a = r->match(uniqueid(mbox), Field::kBody, needle);
    EXPECT_TRUE(a.ok());
    return a.ok() ? a->sure : Uids{};
  }
};

TEST_F(IndexerTest, IncrementalIndexesOnlyWhatIsNew) {
  deliver("user.alice", message("one", "apples"));
  deliver("user.alice", message("two", "bananas"));
  Indexer ix(*instance_, false);
  auto s = ix.index_mailbox("user.alice", true);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(s->indexed, 2u);
  deliver("user.alice", message("three", "cherries"));
  s = ix.index_mailbox("user.alice", true);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->indexed, 1u);
  EXPECT_EQ(sure("user.alice", "cherr"), (Uids{3}));
  auto counters = (*instance_->open_mailbox("user.alice"))->counters();
  auto st = reader()->state(uniqueid("user.alice"));
  ASSERT_TRUE(st.ok() && *st);
  EXPECT_EQ((*st)->last_uid, 3u);
  EXPECT_EQ((*st)->uidvalidity, counters->uidvalidity);
  EXPECT_EQ((*st)->highestmodseq, counters->highestmodseq);
}

TEST_F(IndexerTest, SameMessageInTwoFoldersIsIndexedOnce) {
  std::string m = message("copy", "duplicated text");
  deliver("user.alice", m);
  deliver("user.alice.Archive", m);
  Indexer ix(*instance_, false);
  auto s = ix.index_user("alice", true);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->indexed, 1u);
  EXPECT_EQ(s->linked, 1u);
  EXPECT_EQ(sure("user.alice.Archive", "duplic"), (Uids{1}));
}

TEST_F(IndexerTest, ExpungedMessagesLeaveTheIndex) {
  deliver("user.alice", message("one", "apples"));
  deliver("user.alice", message("two", "apples too"));
  Indexer ix(*instance_, false);
  ASSERT_TRUE(ix.index_mailbox("user.alice", true).ok());
  ASSERT_TRUE(instance_->expunge("user.alice", {1}).is_ok());
  auto s = ix.index_mailbox("user.alice", true);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->removed, 1u);
  EXPECT_EQ(sure("user.alice", "apples"), (Uids{2}));
}

TEST_F(IndexerTest, DamagedIndexIsRebuiltFromTheStore) {
  deliver("user.alice", message("one", "apples"));
  Indexer ix(*instance_, false);
  ASSERT_TRUE(ix.index_mailbox("user.alice", true).ok());
  for (const auto& f : std::filesystem::directory_iterator(index_path(cfg_, "alice"))) {
    std::filesystem::resize_file(f.path(), 0);
  }
  deliver("user.alice", message("two", "apricots"));
  auto s = ix.index_mailbox("user.alice", true);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(sure("user.alice", "ap"), (Uids{1, 2}));
}

TEST_F(IndexerTest, FullReindexStartsOver) {
  deliver("user.alice", message("one", "apples"));
  Indexer ix(*instance_, false);
  ASSERT_TRUE(ix.index_user("alice", true).ok());
  auto s = ix.index_user("alice", false);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->indexed, 1u);
  EXPECT_EQ(s->mailboxes, 2u);
  EXPECT_EQ(ix.index_mailbox("user.nobody", true).status().code(), Code::kMailboxNonexistent);
}

TEST_F(IndexerTest, LockedIndexIsReported) {
  deliver("user.alice", message("one", "apples"));
  auto holder = IndexWriter::open(index_path(cfg_, "alice"), IndexWriter::Mode::kOpen);
  ASSERT_TRUE(holder.ok());
  Indexer ix(*instance_, false);
  EXPECT_EQ(ix.index_mailbox("user.alice", true).status().code(), Code::kMailboxLocked);
}

}  // namespace
}  // namespace replimail::search
