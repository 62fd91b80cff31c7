// Faults at the OS boundary (os::FaultEnv) in the sync log: a failed append
// is reported and the next one works; a takeover (log -> log-run) failing at
// any step loses no line.
#include <gtest/gtest.h>

#include <algorithm>

#include "common/fs.h"
#include "os/fault_env.h"
#include "synclog/reader.h"
#include "synclog/synclog.h"
#include "test_dir.h"

namespace replimail::synclog {
namespace {

using os::Fault;
using os::FaultEnv;
using os::Op;

// Reads the channel until nothing is left, as a rolling client does.
std::vector<Line> drain(const std::string& confdir) {
  std::vector<Line> out;
  LogReader r = LogReader::for_channel(confdir, "replica");
  for (int pass = 0; pass < 10; pass++) {
    Status s = r.begin();
    if (s.code() == Code::kAgain) break;
    EXPECT_TRUE(s.is_ok()) << s.to_string();
    out.insert(out.end(), r.lines().begin(), r.lines().end());
    EXPECT_TRUE(r.end().is_ok());
  }
  return out;
}

bool contains(const std::vector<Line>& lines, const Line& l) {
  return std::find(lines.begin(), lines.end(), l) != lines.end();
}

// A failed flush poisons the descriptor (os/env.h): the writer must not
// keep using it, or every later append of the process fails too.
TEST(LogWriterFault, AFailedWriteOrFsyncFailsThatAppendOnly) {
  for (Op op : {Op::kWrite, Op::kFsync}) {
    SCOPED_TRACE(os::op_name(op));
    TestDir d;
    const std::string log = log_path(d.path(), "replica");
    FaultEnv f;
    os::ScopedEnv scope(&f);
    ASSERT_TRUE(append_lines(log, "USER a\n"));
    f.inject(Fault::nth_call(op, 1));
    EXPECT_FALSE(append_lines(log, "USER b\n"));
    Status next = append_lines(log, "USER c\n");
    EXPECT_TRUE(next.is_ok()) << next.to_string();
    std::vector<Line> lines = drain(d.path());
    EXPECT_TRUE(contains(lines, {"USER", {"a"}}));
    EXPECT_TRUE(contains(lines, {"USER", {"c"}}));
  }
}

// A log the writer creates (the first line after a takeover, or a new
// channel) is durable before its line is acknowledged: its directory is
// fsynced, and if that fails the append fails.
TEST(LogWriterFault, ANewLogIsMadeDurableBeforeItsFirstLine) {
  TestDir d;
  const std::string log = log_path(d.path(), "replica");
  const std::string dir = fs::dirname(log);
  FaultEnv f;
  os::ScopedEnv scope(&f);
  ASSERT_TRUE(append_lines(log, "USER a\n"));
  EXPECT_GE(f.calls(Op::kFsyncDir, dir), 1) << "the new log's directory was not fsynced";
  f.reset_counts();
  ASSERT_TRUE(append_lines(log, "USER b\n"));
  EXPECT_EQ(f.calls(Op::kFsyncDir, dir), 0) << "an existing log needs no directory fsync";

  // Taken over: the next line creates a new log, whose directory fsync fails.
  std::vector<Line> first = drain(d.path());
  EXPECT_EQ(first.size(), 2u);
  f.inject(Fault::on_path(Op::kFsyncDir, "/sync/replica"));
  EXPECT_FALSE(append_lines(log, "USER c\n"));
  f.clear();
  ASSERT_TRUE(append_lines(log, "USER d\n"));
  EXPECT_TRUE(contains(drain(d.path()), {"USER", {"d"}}));
}

// log -> log-run, read, unlink log-run: whichever call fails, every line
// written before, during and after is read at least once by the next runs.
TEST(LogTakeoverFault, AFailureAtAnyStepLosesNoLine) {
  auto run = [](FaultEnv& f, const std::string& confdir, const Fault* fault) {
    const std::string log = log_path(confdir, "replica");
    EXPECT_TRUE(append_lines(log, "MAILBOX user.a\nUSER b\n").is_ok());
    f.reset_counts();
    if (fault != nullptr) f.inject(*fault);
    LogReader r = LogReader::for_channel(confdir, "replica");
    std::vector<Line> seen;
    if (r.begin().is_ok()) {
      seen = r.lines();
      // A writer in the middle of the run goes to a new log.
      EXPECT_TRUE(append_lines(log, "USER c\n").is_ok());
      (void)r.end();
    } else {
      EXPECT_TRUE(append_lines(log, "USER c\n").is_ok());
    }
    f.clear();
    std::vector<Line> rest = drain(confdir);
    seen.insert(seen.end(), rest.begin(), rest.end());
    for (const Line& l : {Line{"MAILBOX", {"user.a"}}, Line{"USER", {"b"}}, Line{"USER", {"c"}}})
      EXPECT_TRUE(contains(seen, l)) << l.keyword << " " << l.args[0] << " lost";
    EXPECT_FALSE(fs::exists(log + "-run"));
  };
  for (Op op : {Op::kRename, Op::kOpen, Op::kUnlink, Op::kClose}) {
    int n = 0;
    {
      TestDir d;
      FaultEnv f;
      os::ScopedEnv scope(&f);
      const std::string log = log_path(d.path(), "replica");
      ASSERT_TRUE(append_lines(log, "USER x\n"));
      f.reset_counts();
      LogReader r = LogReader::for_channel(d.path(), "replica");
      ASSERT_TRUE(r.begin());
      ASSERT_TRUE(r.end());
      n = f.calls(op, "log-run");
    }
    for (int i = 1; i <= n; i++) {
      SCOPED_TRACE(std::string(os::op_name(op)) + " call " + std::to_string(i));
      TestDir d;
      FaultEnv f;
      os::ScopedEnv scope(&f);
      // Only the reader's calls on log-run: the writer has its own test.
      Fault fault{op, i, false, "log-run", EIO};
      run(f, d.path(), &fault);
    }
  }
}

}  // namespace
}  // namespace replimail::synclog
