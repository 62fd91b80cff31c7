#include "net/service.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "net/socket.h"
#include "net/stream.h"

namespace replimail::net {
namespace {

std::vector<char*> argv_of(std::vector<std::string>& args) {
  std::vector<char*> v;
  for (auto& a : args) v.push_back(a.data());
  v.push_back(nullptr);
  return v;
}

TEST(ServiceOptionsTest, StripsGenericOptions) {
  std::vector<std::string> args = {"lmtpd", "-C",  "/etc/x.conf", "-a", "-U",
                                   "3",     "-T7", "-X",          "-D", "extra"};
  auto argv = argv_of(args);
  auto o = parse_service_options(static_cast<int>(args.size()), argv.data());
  ASSERT_TRUE(o.ok()) << o.status().to_string();
  EXPECT_EQ(o->config_path, "/etc/x.conf");
  EXPECT_EQ(o->max_use, 3);
  EXPECT_EQ(o->idle_timeout.count(), 7);
  EXPECT_TRUE(o->stdio);
  EXPECT_TRUE(o->debug);
  EXPECT_EQ(o->args, (std::vector<std::string>{"lmtpd", "-a", "extra"}));
}

TEST(ServiceOptionsTest, Defaults) {
  std::vector<std::string> args = {"imapd"};
  auto argv = argv_of(args);
  auto o = parse_service_options(1, argv.data());
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->config_path, "/etc/imapd.conf");
  EXPECT_EQ(o->max_use, 250);
  EXPECT_EQ(o->idle_timeout.count(), 60);
  EXPECT_FALSE(o->stdio);
  EXPECT_EQ(o->args, (std::vector<std::string>{"imapd"}));
}

TEST(ServiceOptionsTest, BadValues) {
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"p", "-C"}, {"p", "-U"}, {"p", "-U", "many"}, {"p", "-T", "-1"}, {"p", "-T5s"}}) {
    auto argv = argv_of(args);
    auto o = parse_service_options(static_cast<int>(args.size()), argv.data());
    EXPECT_FALSE(o.ok()) << args.back();
  }
}

// Runs serve() in a forked child wired as master wires a service: status
// pipe on fd 3, listener on fd 4, CYRUS_SERVICE set. The handler echoes one
// line prefixed by the service name.
class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ListenAddress a;
    a.host = "127.0.0.1";
    a.family = AF_INET;
    auto l = open_listener(a, 8);
    ASSERT_TRUE(l.ok());
    listen_fd_ = *l;
    port_ = bound_port(listen_fd_);
    ASSERT_EQ(::pipe(status_), 0);
  }
  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(listen_fd_);
    ::close(status_[0]);
    if (status_[1] >= 0) ::close(status_[1]);
  }

  void start(std::vector<std::string> args) {
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      // Either descriptor may itself be 3 or 4: move both clear first.
      int status = ::fcntl(status_[1], F_DUPFD, 10);
      int listen = ::fcntl(listen_fd_, F_DUPFD, 10);
      ::close(status_[0]);  // only master reads the status pipe
      ::dup2(status, kStatusFd);
      ::dup2(listen, kListenFd);
      ::setenv("CYRUS_SERVICE", "echo", 1);
      auto argv = argv_of(args);
      int rc = run_service(static_cast<int>(args.size()), argv.data(), [](Connection& c) {
        Stream s(c.in_fd, c.out_fd);
        auto line = s.read_line(100);
        if (line) (void)s.write_flush(c.service + ":" + *line + "\r\n");
      });
      ::_exit(rc);
    }
    ::close(status_[1]);
    status_[1] = -1;
  }

  // The next status message, or -1 if none comes within `ms`.
  int next_message(int ms = 5000) {
    struct pollfd p {
      status_[0], POLLIN, 0
    };
    if (::poll(&p, 1, ms) <= 0) return -1;
    StatusRecord r;
    if (::read(status_[0], &r, sizeof r) != sizeof r) return -1;
    EXPECT_EQ(r.pid, pid_);
    return r.message;
  }

  std::string round_trip(const std::string& text) {
    auto c = connect_to("127.0.0.1", port_);
    if (!c) return "connect failed";
    Stream s(*c);
    s.set_timeout(std::chrono::seconds(5));
    (void)s.write_flush(text + "\r\n");
    auto line = s.read_line(100);
    ::close(*c);
    return line ? *line : "read failed";
  }

  int wait_exit(int seconds = 5) {
    for (int i = 0; i < seconds * 100; ++i) {
      int status;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      ::usleep(10000);
    }
    return -1;
  }

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  int status_[2] = {-1, -1};
  pid_t pid_ = -1;
};

TEST_F(ServeTest, ReportsStatusAndExitsAfterMaxUse) {
  start({"echo", "-U", "2"});
  EXPECT_EQ(next_message(), kServiceAvailable);
  EXPECT_EQ(round_trip("one"), "echo:one");
  EXPECT_EQ(next_message(), kServiceUnavailable);
  EXPECT_EQ(next_message(), kServiceConnection);
  EXPECT_EQ(next_message(), kServiceAvailable);
  EXPECT_EQ(round_trip("two"), "echo:two");
  EXPECT_EQ(next_message(), kServiceUnavailable);
  EXPECT_EQ(next_message(), kServiceConnection);
  EXPECT_EQ(wait_exit(), 0);
  EXPECT_EQ(next_message(100), -1);
}

TEST_F(ServeTest, SighupWhileIdleEndsTheProcess) {
  start({"echo"});
  EXPECT_EQ(next_message(), kServiceAvailable);
  ::kill(pid_, SIGHUP);
  EXPECT_EQ(wait_exit(), 0);
}

TEST_F(ServeTest, SigtermWhileIdleEndsTheProcess) {
  start({"echo"});
  EXPECT_EQ(next_message(), kServiceAvailable);
  ::kill(pid_, SIGTERM);
  EXPECT_EQ(wait_exit(), 0);
}

TEST_F(ServeTest, IdleTimeoutOnlyAfterFirstConnection) {
  start({"echo", "-T", "1"});
  EXPECT_EQ(next_message(), kServiceAvailable);
  // Never used: it waits beyond the timeout.
  EXPECT_EQ(wait_exit(2), -1);
  EXPECT_EQ(round_trip("x"), "echo:x");
  EXPECT_EQ(wait_exit(3), 0);
}

TEST_F(ServeTest, SighupDuringSessionLetsItFinish) {
  start({"echo"});
  EXPECT_EQ(next_message(), kServiceAvailable);
  auto c = connect_to("127.0.0.1", port_);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(next_message(), kServiceUnavailable);
  ::kill(pid_, SIGHUP);
  ::usleep(50000);
  Stream s(*c);
  ASSERT_TRUE(s.write_flush("late\r\n").is_ok());
  EXPECT_EQ(*s.read_line(100), "echo:late");
  ::close(*c);
  EXPECT_EQ(wait_exit(), 0);
}

TEST_F(ServeTest, IdleWorkerExitsWhenMasterIsGone) {
  start({"echo"});
  EXPECT_EQ(next_message(), kServiceAvailable);
  ::close(status_[0]);
  status_[0] = ::open("/dev/null", O_RDONLY);
  EXPECT_EQ(wait_exit(), 0);
}

TEST(ServeStandaloneTest, WithoutMasterOrStdioItRefuses) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::unsetenv("CYRUS_SERVICE");
    ::close(kListenFd);
    std::vector<std::string> args = {"svc"};
    auto argv = argv_of(args);
    ::_exit(run_service(1, argv.data(), [](Connection&) {}));
  }
  int status;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_EQ(WEXITSTATUS(status), 64);
}

TEST(ServeStandaloneTest, StdioModeServesOneSession) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(sv[1], 0);
    ::dup2(sv[1], 1);
    std::vector<std::string> args = {"svc", "-X"};
    auto argv = argv_of(args);
    ::_exit(run_service(2, argv.data(), [](Connection& c) {
      Stream s(c.in_fd, c.out_fd);
      auto line = s.read_line(100);
      if (line)
        (void)s.write_flush(std::string(c.is_stdio ? "stdio" : "?") + (c.is_unix ? " unix " : " ") +
                            *line + "\r\n");
    }));
  }
  ::close(sv[1]);
  Stream s(sv[0]);
  s.set_timeout(std::chrono::seconds(5));
  ASSERT_TRUE(s.write_flush("hi\r\n").is_ok());
  EXPECT_EQ(*s.read_line(100), "stdio unix hi");
  int status;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  ::close(sv[0]);
}

}  // namespace
}  // namespace replimail::net
