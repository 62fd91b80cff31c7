#include "../../support/temp_dir.h"
#include "os/env.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "os/fault_env.h"

namespace replimail::os {
namespace {

class EnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = replimail::testing::make_temp_dir("os_env_test.");
    ASSERT_NE(dir_, "");
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string dir_;
};

TEST_F(EnvTest, TheDefaultEnvDoesTheRealCalls) {
  Env& e = env();
  std::string a = dir_ + "/a";
  int fd = e.open(a, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(e.write(fd, "abc", 3), 3);
  EXPECT_EQ(e.fsync(fd), 0);
  EXPECT_EQ(e.close(fd), 0);
  EXPECT_EQ(e.link(a, dir_ + "/b"), 0);
  EXPECT_EQ(e.rename(dir_ + "/b", dir_ + "/c"), 0);
  EXPECT_EQ(e.mkdir(dir_ + "/d", 0700), 0);
  int dfd = e.open_dir(dir_);
  ASSERT_GE(dfd, 0);
  EXPECT_EQ(e.fsync_dir(dfd), 0);
  EXPECT_EQ(e.close(dfd), 0);
  EXPECT_EQ(e.unlink(dir_ + "/c"), 0);
  EXPECT_EQ(e.rmdir(dir_ + "/d"), 0);
  EXPECT_NE(::access((dir_ + "/a").c_str(), F_OK), -1);
  EXPECT_EQ(::access((dir_ + "/c").c_str(), F_OK), -1);
}

TEST_F(EnvTest, NthCallOfAKindFails) {
  FaultEnv f;
  ScopedEnv scope(&f);
  f.inject(Fault::nth_call(Op::kLink, 2, EDQUOT));
  int fd = env().open(dir_ + "/a", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  env().close(fd);
  EXPECT_EQ(env().link(dir_ + "/a", dir_ + "/b"), 0);
  EXPECT_EQ(env().link(dir_ + "/a", dir_ + "/c"), -1);
  EXPECT_EQ(errno, EDQUOT);
  EXPECT_EQ(env().link(dir_ + "/a", dir_ + "/d"), 0);
  EXPECT_EQ(f.calls(Op::kLink), 3);
  EXPECT_EQ(f.injected(), 1);
}

TEST_F(EnvTest, PathFaultsMatchDescriptorsByTheirOpenPath) {
  FaultEnv f;
  ScopedEnv scope(&f);
  f.inject(Fault::on_path(Op::kWrite, "/spool/"));
  ASSERT_EQ(env().mkdir(dir_ + "/spool", 0700), 0);
  int other = env().open(dir_ + "/other", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  int spool = env().open(dir_ + "/spool/m", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(other, 0);
  ASSERT_GE(spool, 0);
  EXPECT_EQ(env().write(other, "abcd", 4), 4);
  EXPECT_EQ(env().write(spool, "abcd", 4), -1);
  EXPECT_EQ(env().write(spool, "abcd", 4), -1);
  env().close(other);
  env().close(spool);
}

TEST_F(EnvTest, AFullDiskRefusesNewSpaceButNotExistingDirectories) {
  FaultEnv f;
  ScopedEnv scope(&f);
  ASSERT_EQ(env().mkdir(dir_ + "/d", 0700), 0);
  f.set_full(true);
  EXPECT_EQ(env().mkdir(dir_ + "/d", 0700), -1);
  EXPECT_EQ(errno, EEXIST);
  EXPECT_EQ(env().mkdir(dir_ + "/e", 0700), -1);
  EXPECT_EQ(errno, ENOSPC);
  EXPECT_EQ(env().open(dir_ + "/f", O_WRONLY | O_CREAT | O_CLOEXEC, 0600), -1);
  EXPECT_EQ(errno, ENOSPC);
  f.set_full(false);
  int fd = env().open(dir_ + "/f", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  env().close(fd);
}

// PostgreSQL's fsync lesson: after a failed fsync nothing more is trusted
// from that descriptor, even if the next fsync would say "OK".
TEST_F(EnvTest, AFailedFsyncPoisonsTheDescriptorUntilClosed) {
  FaultEnv f;
  ScopedEnv scope(&f);
  f.inject(Fault::nth_call(Op::kFsync, 1));
  int fd = env().open(dir_ + "/a", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(env().write(fd, "abc", 3), 3);
  EXPECT_EQ(env().fsync(fd), -1);
  EXPECT_TRUE(env().poisoned(fd));
  // The injected fault is spent; the kernel would now say OK. We do not.
  EXPECT_EQ(env().fsync(fd), -1);
  EXPECT_EQ(errno, EIO);
  EXPECT_EQ(env().fdatasync(fd), -1);
  EXPECT_EQ(env().write(fd, "d", 1), -1);
  EXPECT_EQ(env().ftruncate(fd, 0), -1);
  EXPECT_EQ(f.calls(Op::kFsync), 1);  // the poisoned calls never reached the Env
  EXPECT_EQ(env().close(fd), 0);
  EXPECT_FALSE(env().poisoned(fd));
  int again = env().open(dir_ + "/a", O_WRONLY | O_CLOEXEC);
  ASSERT_GE(again, 0);
  EXPECT_EQ(env().fsync(again), 0);
  env().close(again);
}

TEST_F(EnvTest, AFailedDirectoryFsyncPoisonsTheDirectoryDescriptor) {
  FaultEnv f;
  ScopedEnv scope(&f);
  f.inject(Fault::nth_call(Op::kFsyncDir, 1));
  int fd = env().open_dir(dir_);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(env().fsync_dir(fd), -1);
  EXPECT_EQ(env().fsync_dir(fd), -1);
  env().close(fd);
}

TEST_F(EnvTest, AnInjectedWriteLeavesATornWrite) {
  FaultEnv f;
  ScopedEnv scope(&f);
  f.inject(Fault::nth_call(Op::kWrite, 1, ENOSPC));
  int fd = env().open(dir_ + "/a", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(env().write(fd, "abcdef", 6), -1);
  EXPECT_EQ(errno, ENOSPC);
  env().close(fd);
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/a").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 3);
}

}  // namespace
}  // namespace replimail::os
