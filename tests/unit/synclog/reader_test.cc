#include "synclog/reader.h"

#include <gtest/gtest.h>

#include "common/fs.h"
#include "synclog/synclog.h"
#include "test_dir.h"

namespace replimail::synclog {
namespace {

TEST(LogReader, NothingToReadIsAgain) {
  TestDir d;
  LogReader r = LogReader::for_channel(d.path(), "replica");
  EXPECT_EQ(r.begin().code(), Code::kAgain);
}

TEST(LogReader, RenamesReadsAndUnlinks) {
  TestDir d;
  const std::string log = log_path(d.path(), "replica");
  ASSERT_TRUE(append_lines(log, "MAILBOX user.a\nbogus\nUSER b\n"));
  LogReader r = LogReader::for_channel(d.path(), "replica");
  ASSERT_TRUE(r.begin());
  EXPECT_FALSE(r.reprocessing());
  EXPECT_EQ(r.work_path(), log + "-run");
  EXPECT_EQ(r.lines(), (std::vector<Line>{{"MAILBOX", {"user.a"}}, {"USER", {"b"}}}));
  EXPECT_EQ(r.errors().size(), 1u);
  EXPECT_FALSE(fs::exists(log));
  EXPECT_TRUE(fs::exists(log + "-run"));
  // A writer after the rename starts a fresh log.
  ASSERT_TRUE(append_lines(log, "MAILBOX user.c\n"));
  ASSERT_TRUE(r.end());
  EXPECT_FALSE(fs::exists(log + "-run"));
  ASSERT_TRUE(r.begin());
  EXPECT_EQ(r.lines(), (std::vector<Line>{{"MAILBOX", {"user.c"}}}));
  ASSERT_TRUE(r.end());
  EXPECT_EQ(r.begin().code(), Code::kAgain);
}

TEST(LogReader, FailedRunIsReprocessedFirst) {
  TestDir d;
  const std::string log = log_path(d.path(), "");
  ASSERT_TRUE(append_lines(log, "USER first\n"));
  {
    LogReader r = LogReader::for_channel(d.path(), "");
    ASSERT_TRUE(r.begin());
    // Processing failed: no end().
  }
  ASSERT_TRUE(append_lines(log, "USER second\n"));
  LogReader r = LogReader::for_channel(d.path(), "");
  ASSERT_TRUE(r.begin());
  EXPECT_TRUE(r.reprocessing());
  EXPECT_EQ(r.lines(), (std::vector<Line>{{"USER", {"first"}}}));
  ASSERT_TRUE(r.end());
  ASSERT_TRUE(r.begin());
  EXPECT_FALSE(r.reprocessing());
  EXPECT_EQ(r.lines(), (std::vector<Line>{{"USER", {"second"}}}));
}

TEST(LogReader, NamedFileIsNeverUnlinked) {
  TestDir d;
  const std::string file = d.path() + "/work";
  ASSERT_TRUE(fs::write_file_atomic(file, "SEEN u id\n"));
  LogReader r = LogReader::for_file(file);
  ASSERT_TRUE(r.begin());
  EXPECT_EQ(r.lines(), (std::vector<Line>{{"SEEN", {"u", "id"}}}));
  ASSERT_TRUE(r.end());
  EXPECT_TRUE(fs::exists(file));
  EXPECT_EQ(LogReader::for_file(d.path() + "/absent").begin().code(), Code::kIoError);
}

}  // namespace
}  // namespace replimail::synclog
