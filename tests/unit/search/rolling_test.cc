#include "search/rolling.h"

#include <gtest/gtest.h>

#include "common/fs.h"
#include "search/index.h"
#include "search/query.h"
#include "search_fixture.h"
#include "synclog/synclog.h"

namespace replimail::search {
namespace {

using testing::message;

TEST(RollingWork, NamesSortedAndDeduplicated) {
  std::vector<synclog::Line> lines = {{"MAILBOX", {"user.b"}}, {"APPEND", {"user.b"}},
                                      {"APPEND", {"user.a"}},  {"USER", {"carol"}},
                                      {"SEEN", {"bob", "u1"}}, {"UNMAILBOX", {"user.x"}}};
  LogWork w = work_from_lines(lines);
  EXPECT_EQ(w.mailboxes, (std::vector<std::string>{"user.a", "user.b"}));
  EXPECT_EQ(w.users, (std::vector<std::string>{"carol"}));
}

class RollingTest : public testing::SearchFixture {};

TEST_F(RollingTest, IndexesWhatTheChannelNames) {
  ASSERT_TRUE(instance_->create_mailbox("user.bob").ok());
  deliver("user.bob", message("hi", "kumquats"));
  RollingSquatter r(*instance_, "squatter", std::chrono::milliseconds(0));
  auto pass = r.run_once();
  ASSERT_TRUE(pass.ok()) << pass.status().to_string();
  EXPECT_EQ(pass->stats.indexed, 1u);
  const std::string log = synclog::log_path(cfg_.configdirectory(), "squatter");
  EXPECT_FALSE(fs::exists(log + "-run"));
  EXPECT_EQ(r.run_once().status().code(), Code::kAgain);
  auto reader = IndexReader::open(index_path(cfg_, "bob"));
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ((*reader)->match(uniqueid("user.bob"), Field::kBody, "kumquat")->sure,
            std::vector<uint32_t>{1});
}

TEST_F(RollingTest, LockedMailboxesAreRequeued) {
  ASSERT_TRUE(instance_->create_mailbox("user.bob").ok());
  deliver("user.bob", message("hi", "kumquats"));
  auto holder = IndexWriter::open(index_path(cfg_, "bob"), IndexWriter::Mode::kOpen);
  ASSERT_TRUE(holder.ok());
  RollingSquatter r(*instance_, "squatter", std::chrono::milliseconds(0));
  auto pass = r.run_once();
  ASSERT_TRUE(pass.ok());
  EXPECT_EQ(pass->requeued, std::vector<std::string>{"user.bob"});
  auto text = fs::read_file(synclog::log_path(cfg_.configdirectory(), "squatter"));
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "APPEND user.bob\n");
  holder->reset();
  pass = r.run_once();
  ASSERT_TRUE(pass.ok());
  EXPECT_EQ(pass->stats.indexed, 1u);
}

}  // namespace
}  // namespace replimail::search
