#include "master/spawn.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace replimail::master {
namespace {

TEST(WithConfigOptionTest, InsertedAfterProgramUnlessPresent) {
  using V = std::vector<std::string>;
  EXPECT_EQ(with_config_option({"/bin/lmtpd", "-a"}, "/etc/i.conf"),
            (V{"/bin/lmtpd", "-C", "/etc/i.conf", "-a"}));
  EXPECT_EQ(with_config_option({"/bin/lmtpd", "-C", "/x"}, "/etc/i.conf"),
            (V{"/bin/lmtpd", "-C", "/x"}));
  EXPECT_EQ(with_config_option({"/bin/lmtpd", "-C/x"}, "/etc/i.conf"), (V{"/bin/lmtpd", "-C/x"}));
  EXPECT_EQ(with_config_option({"/bin/lmtpd"}, ""), (V{"/bin/lmtpd"}));
}

TEST(DescribeExitTest, ExitAndSignal) {
  EXPECT_EQ(describe_exit(3 << 8), "exited with status 3");
  pid_t pid = ::fork();
  if (pid == 0) {
    ::raise(SIGKILL);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_EQ(describe_exit(status).rfind("killed by signal 9", 0), 0u);
}

TEST(SpawnTest, ChildGetsEnvironmentArgsAndOnlyItsDescriptors) {
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  int listen_like = ::dup(out[1]);
  SpawnSpec spec;
  // fd 3 is the pipe; the script reports its args, environment and which of
  // fds 4..9 are open (4 must be, via listen_fd; the others must not).
  spec.argv = {"/bin/sh", "-c",
               "echo \"$0 $CYRUS_SERVICE\"; for f in 4 5 6 7 8 9; do "
               "if { true >&$f; } 2>/dev/null; then echo open $f; fi; done",
               "arg0"};
  spec.env = {{"CYRUS_SERVICE", "svc"}};
  spec.status_fd = out[1];
  spec.listen_fd = listen_like;
  // Route the script's stdout to the pipe via fd 3.
  spec.argv[2] = "exec 1>&3; " + spec.argv[2];
  auto pid = spawn(spec);
  ASSERT_TRUE(pid.ok()) << pid.status().to_string();
  // In master's process group, so that killing the group takes it too.
  EXPECT_EQ(::getpgid(*pid), ::getpgrp());
  ::close(out[1]);
  ::close(listen_like);
  std::string got;
  char buf[256];
  ssize_t n;
  while ((n = ::read(out[0], buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  ::close(out[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(*pid, &status, 0), *pid);
  EXPECT_EQ(got, "arg0 svc\nopen 4\n");
}

TEST(SpawnTest, ExecFailureExits127) {
  SpawnSpec spec;
  spec.argv = {"/nonexistent/program"};
  auto pid = spawn(spec);
  ASSERT_TRUE(pid.ok());
  int status = 0;
  ASSERT_EQ(::waitpid(*pid, &status, 0), *pid);
  EXPECT_EQ(WEXITSTATUS(status), 127);
}

// The child gets its death signal when the process that spawned it dies.
TEST(SpawnTest, ChildDiesWithItsParent) {
  int report[2];
  ASSERT_EQ(::pipe(report), 0);
  pid_t parent = ::fork();
  ASSERT_GE(parent, 0);
  if (parent == 0) {
    ::close(report[0]);
    SpawnSpec spec;
    spec.argv = {"/bin/sleep", "1000"};
    spec.death_signal = SIGTERM;
    auto pid = spawn(spec);
    pid_t child = pid.ok() ? *pid : -1;
    ssize_t ignored = ::write(report[1], &child, sizeof child);
    (void)ignored;
    ::raise(SIGKILL);
  }
  ::close(report[1]);
  pid_t child = -1;
  ASSERT_EQ(::read(report[0], &child, sizeof child), static_cast<ssize_t>(sizeof child));
  ::close(report[0]);
  ASSERT_GT(child, 0);
  ASSERT_EQ(::waitpid(parent, nullptr, 0), parent);
  bool gone = false;
  for (int i = 0; i < 250 && !gone; ++i) {
    gone = ::kill(child, 0) != 0;
    if (!gone) {
      // Reparented to init, which reaps it; a zombie counts as gone.
      char state = 0;
      if (FILE* f = std::fopen(("/proc/" + std::to_string(child) + "/stat").c_str(), "r")) {
        char buf[512] = {};
        size_t n = std::fread(buf, 1, sizeof buf - 1, f);
        std::fclose(f);
        const char* close = std::strrchr(buf, ')');
        if (n > 0 && close && close[1] == ' ') state = close[2];
      }
      gone = state == 'Z' || state == 'X';
    }
    if (!gone) ::usleep(20000);
  }
  if (!gone) ::kill(child, SIGKILL);
  EXPECT_TRUE(gone) << "spawned pid " << child << " outlived its parent";
}

}  // namespace
}  // namespace replimail::master
