// Starts the real master binary on small cyrus.conf files whose entries are
// shell scripts and the echo_service helper, and checks process supervision
// from the outside: process table in /proc, files the scripts write, and
// connections to the services.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../../support/free_port.h"
#include "../../support/temp_dir.h"
#include "net/socket.h"
#include "net/stream.h"

namespace replimail::master {
namespace {

using namespace std::chrono_literals;

struct Proc {
  pid_t pid;
  std::string cmdline;  // arguments joined by spaces
};

// The text of a /proc file, empty if it cannot be read. The process may exit
// between readdir() and the read: read(2) then fails with ESRCH, and
// istreambuf_iterator would throw it out of the test instead.
std::string read_proc(const std::string& path) {
  std::string out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      out.clear();
      break;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

// Direct children of `parent`, from /proc.
std::vector<Proc> children_of(pid_t parent) {
  std::vector<Proc> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (struct dirent* e = ::readdir(d)) {
    pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    std::string text = read_proc(std::string("/proc/") + e->d_name + "/stat");
    auto close = text.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(text.substr(close + 2));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid != parent || state == "Z") continue;
    std::string args = read_proc(std::string("/proc/") + e->d_name + "/cmdline");
    if (args.empty()) continue;  // gone meanwhile
    for (char& c : args)
      if (c == '\0') c = ' ';
    out.push_back({pid, args});
  }
  ::closedir(d);
  return out;
}

bool alive(pid_t pid) {
  if (::kill(pid, 0) != 0) return false;
  std::string text = read_proc("/proc/" + std::to_string(pid) + "/stat");
  auto close = text.rfind(')');
  return close != std::string::npos && text.substr(close + 2, 1) != "Z";
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

uint16_t free_port() {
  const int port = replimail::testing::free_port();
  EXPECT_GT(port, 0);
  return static_cast<uint16_t>(port);
}

class MasterProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = replimail::testing::make_temp_dir("master_test.");
    write_file("imapd.conf", "configdirectory: " + dir_ + "\n");
  }

  void TearDown() override {
    if (pid_ > 0) {
      auto kids = children_of(pid_);
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      for (const auto& k : kids) ::kill(k.pid, SIGKILL);
    }
    if (HasFailure()) std::cerr << "---- master log ----\n" << read_text(path("master.log"));
    std::string cmd = "rm -rf '" + dir_ + "'";
    EXPECT_EQ(std::system(cmd.c_str()), 0);
  }

  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  void write_file(const std::string& name, const std::string& text, bool executable = false) {
    std::string tmp = path(name + ".tmp");
    std::ofstream(tmp) << text;
    ::chmod(tmp.c_str(), executable ? 0755 : 0644);
    ::rename(tmp.c_str(), path(name).c_str());
  }

  // A script that appends "<tag> <pid>" to the trace file and then runs
  // `then` (e.g. "exec sleep 1000").
  std::string script(const std::string& name, const std::string& tag, const std::string& then) {
    write_file(name, "#!/bin/sh\necho \"" + tag + " $$\" >> " + path("trace") + "\n" + then + "\n",
               true);
    return path(name);
  }

  // Starts master (-D unless `flags` says otherwise); false if its pidfile
  // did not appear.
  bool start_master(std::vector<std::string> flags = {"-D"}) {
    std::vector<std::string> args = {"master",           "-C", path("imapd.conf"), "-M",
                                     path("cyrus.conf"), "-p", path("master.pid")};
    args.insert(args.end(), flags.begin(), flags.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      int log = ::open(path("master.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(log, 1);
      ::dup2(log, 2);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      std::string bin = std::string(REPLIMAIL_BIN_DIR) + "/master";
      ::execv(bin.c_str(), argv.data());
      ::_exit(127);
    }
    return wait_until([&] { return ::access(path("master.pid").c_str(), F_OK) == 0 || exited(); });
  }

  // True once master has exited; its status is then in exit_status_.
  bool exited() {
    if (pid_ <= 0) return true;
    int status;
    if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
    exit_status_ = status;
    pid_ = -1;
    return true;
  }

  std::vector<Proc> kids(const std::string& needle) {
    std::vector<Proc> out;
    for (auto& p : children_of(pid_))
      if (p.cmdline.find(needle) != std::string::npos) out.push_back(p);
    return out;
  }

  int trace_count(const std::string& tag) {
    std::istringstream in(read_text(path("trace")));
    std::string line;
    int n = 0;
    while (std::getline(in, line)) n += line.rfind(tag + " ", 0) == 0;
    return n;
  }

  std::string dir_;
  pid_t pid_ = -1;
  int exit_status_ = -1;
};

// A client of echo_service: connects and reads the greeting.
struct EchoClient {
  explicit EchoClient(uint16_t port) {
    auto c = net::connect_to("127.0.0.1", port);
    if (c) fd = *c;
  }
  ~EchoClient() {
    if (fd >= 0) ::close(fd);
  }
  // The greeting line, or "" if none arrives within `limit`.
  std::string greeting(std::chrono::milliseconds limit = 5s) {
    if (fd < 0) return "";
    net::Stream s(fd);
    s.set_timeout(limit);
    auto line = s.read_line(200);
    return line ? *line : "";
  }
  std::string echo(const std::string& text) {
    net::Stream s(fd);
    s.set_timeout(5s);
    if (!s.write_flush(text + "\r\n")) return "";
    auto line = s.read_line(200);
    return line ? *line : "";
  }
  int fd = -1;
};

TEST_F(MasterProcessTest, StartRunsToCompletionBeforeServicesAndDaemons) {
  uint16_t port = free_port();
  std::string start =
      script("start.sh", "start", "sleep 0.3; echo \"start-done $$\" >> " + path("trace"));
  std::string daemon = script("daemon.sh", "daemon", "exec sleep 1000");
  write_file("cyrus.conf", "START {\n  init cmd=" + start + "\n}\nSERVICES {\n  echo cmd=" +
                               "echo_service listen=127.0.0.1:" + std::to_string(port) +
                               "\n}\nDAEMON {\n  d cmd=" + daemon + "\n}\n");
  ASSERT_TRUE(start_master());
  ASSERT_FALSE(exited());
  ASSERT_TRUE(wait_until([&] { return trace_count("daemon") == 1; }));
  std::string trace = read_text(path("trace"));
  EXPECT_LT(trace.find("start "), trace.find("start-done "));
  EXPECT_LT(trace.find("start-done "), trace.find("daemon "));
  std::string log = read_text(path("master.log"));
  EXPECT_LT(log.find("start init pid"), log.find("service echo: listening"));
  EXPECT_NE(log.find("ready"), std::string::npos);
  EXPECT_TRUE(wait_until([&] { return kids("sleep 1000").size() == 1; }));
  EchoClient c(port);
  EXPECT_NE(c.greeting().find(" echo 127.0.0.1:"), std::string::npos);
  EXPECT_EQ(c.echo("ping"), "ping");
  // Children get master's -C.
  EXPECT_EQ(kids("echo_service -C " + path("imapd.conf")).size(), 1u);
}

TEST_F(MasterProcessTest, FailingStartIsFatal) {
  write_file("cyrus.conf", "START {\n  bad cmd=/bin/false\n}\nDAEMON {\n  d cmd=" +
                               script("daemon.sh", "daemon", "exec sleep 1000") + "\n}\n");
  ASSERT_TRUE(start_master());
  ASSERT_TRUE(wait_until([&] { return exited(); }));
  EXPECT_TRUE(WIFEXITED(exit_status_));
  EXPECT_NE(WEXITSTATUS(exit_status_), 0);
  EXPECT_EQ(trace_count("daemon"), 0);
  EXPECT_NE(read_text(path("master.log")).find("START entry 'bad' failed"), std::string::npos);
}

TEST_F(MasterProcessTest, MissingProgramIsAConfigErrorNamingTheLine) {
  write_file("cyrus.conf", "SERVICES {\n\n  imap cmd=no_such_imapd listen=1143\n}\n");
  ASSERT_TRUE(start_master());
  ASSERT_TRUE(wait_until([&] { return exited(); }));
  EXPECT_NE(WEXITSTATUS(exit_status_), 0);
  EXPECT_NE(read_text(path("master.log")).find("cyrus.conf:3: entry 'imap'"), std::string::npos);
}

TEST_F(MasterProcessTest, KilledDaemonIsRestarted) {
  write_file("cyrus.conf",
             "DAEMON {\n  d cmd=" + script("daemon.sh", "daemon", "exec sleep 1000") + "\n}\n");
  ASSERT_TRUE(start_master());
  ASSERT_TRUE(wait_until([&] { return kids("sleep 1000").size() == 1; }));
  pid_t first = kids("sleep 1000")[0].pid;
  ::kill(first, SIGKILL);
  ASSERT_TRUE(wait_until([&] {
    auto k = kids("sleep 1000");
    return k.size() == 1 && k[0].pid != first;
  }));
  EXPECT_EQ(trace_count("daemon"), 2);
  EXPECT_NE(read_text(path("master.log")).find("restarting in 1000 ms"), std::string::npos);
}

TEST_F(MasterProcessTest, SighupAddsAndRemovesDaemonsAndKeepsUnchangedServices) {
  uint16_t port = free_port();
  std::string services =
      "SERVICES {\n  echo cmd=echo_service listen=127.0.0.1:" + std::to_string(port) + "\n}\n";
  std::string a = script("a.sh", "a", "exec sleep 1001");
  std::string b = script("b.sh", "b", "exec sleep 1002");
  write_file("cyrus.conf", services + "DAEMON {\n  a cmd=" + a + "\n}\n");
  ASSERT_TRUE(start_master());
  ASSERT_TRUE(wait_until([&] { return kids("sleep 1001").size() == 1; }));
  pid_t a_pid = kids("sleep 1001")[0].pid;
  EchoClient held(port);
  ASSERT_FALSE(held.greeting().empty());

  write_file("cyrus.conf", services + "DAEMON {\n  b cmd=" + b + "\n}\n");
  ::kill(pid_, SIGHUP);
  ASSERT_TRUE(wait_until([&] { return kids("sleep 1002").size() == 1; }));
  ASSERT_TRUE(wait_until([&] { return !alive(a_pid); }));
  EXPECT_TRUE(kids("sleep 1001").empty());
  // The service was unchanged: the open session survives, new ones work.
  EXPECT_EQ(held.echo("still here"), "still here");
  EchoClient fresh(port);
  EXPECT_FALSE(fresh.greeting().empty());
  // Nothing restarts the removed daemon.
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(trace_count("a"), 1);
  EXPECT_FALSE(exited());
}

TEST_F(MasterProcessTest, SighupChangedDaemonCmdRestartsIt) {
  write_file("cyrus.conf",
             "DAEMON {\n  d cmd=\"" + script("d.sh", "d", "exec sleep 1003") + " one\"\n}\n");
  ASSERT_TRUE(start_master());
  ASSERT_TRUE(wait_until([&] { return kids("sleep 1003").size() == 1; }));
  pid_t before = kids("sleep 1003")[0].pid;
  write_file("cyrus.conf", "DAEMON {\n  d cmd=\"" + path("d.sh") + " two\"\n}\n");
  ::kill(pid_, SIGHUP);
  ASSERT_TRUE(wait_until([&] {
    auto k = kids("sleep 1003");
    return k.size() == 1 && k[0].pid != before;
  }));
  EXPECT_EQ(trace_count("d"), 2);
}

TEST_F(MasterProcessTest, SighupWithBrokenConfigKeepsRunning) {
  write_file("cyrus.conf", "DAEMON {\n  d cmd=" + script("d.sh", "d", "exec sleep 1004") + "\n}\n");
  ASSERT_TRUE(start_master());
  ASSERT_TRUE(wait_until([&] { return kids("sleep 1004").size() == 1; }));
  write_file("cyrus.conf", "DAEMON {\n  d cmd=\n");
  ::kill(pid_, SIGHUP);
  ASSERT_TRUE(wait_until([&] {
    return read_text(path("master.log")).find("keeping the running") != std::string::npos;
  }));
  EXPECT_FALSE(exited());
  EXPECT_EQ(kids("sleep 1004").size(), 1u);
}

TEST_F(MasterProcessTest, SigtermStopsEveryChildAndRemovesThePidfile) {
  uint16_t port = free_port();
  // One daemon ignores SIGTERM and must be killed after the grace period.
  std::string stubborn = script("stubborn.sh", "stubborn", "trap '' TERM\nexec sleep 1005");
  std::string plain = script("plain.sh", "plain", "exec sleep 1006");
  write_file("cyrus.conf",
             "SERVICES {\n  echo cmd=echo_service listen=127.0.0.1:" + std::to_string(port) +
                 " prefork=2\n}\nDAEMON {\n  s cmd=" + stubborn + "\n  p cmd=" + plain + "\n}\n");
  ASSERT_TRUE(start_master());
  ASSERT_TRUE(wait_until([&] { return children_of(pid_).size() == 4; }));
  EchoClient busy(port);
  ASSERT_FALSE(busy.greeting().empty());
  ASSERT_TRUE(wait_until([&] { return children_of(pid_).size() == 5; }));
  std::vector<Proc> all = children_of(pid_);
  ::kill(pid_, SIGTERM);
  ASSERT_TRUE(wait_until([&] { return exited(); }, 15s));
  EXPECT_TRUE(WIFEXITED(exit_status_));
  EXPECT_EQ(WEXITSTATUS(exit_status_), 0);
  for (const auto& p : all) EXPECT_FALSE(alive(p.pid)) << p.pid << " " << p.cmdline;
  EXPECT_NE(::access(path("master.pid").c_str(), F_OK), 0);
  std::string log = read_text(path("master.log"));
  EXPECT_NE(log.find("killing them"), std::string::npos);
  EXPECT_NE(log.find("exiting"), std::string::npos);
}

// kill -9 of master alone: nothing it started lives on, not even a worker
// busy with a connection (it would hold the listener against the next
// master) nor a daemon whose SIGTERM would mean "finish first".
TEST_F(MasterProcessTest, KilledMasterTakesEveryChildAlong) {
  uint16_t port = free_port();
  std::string stubborn = script("stubborn.sh", "stubborn", "trap '' TERM\nexec sleep 1008");
  write_file("cyrus.conf", "SERVICES {\n  echo cmd=echo_service listen=127.0.0.1:" +
                               std::to_string(port) + "\n}\nDAEMON {\n  s cmd=" + stubborn +
                               "\n}\n");
  ASSERT_TRUE(start_master());
  EchoClient busy(port);
  ASSERT_FALSE(busy.greeting().empty());
  ASSERT_TRUE(wait_until([&] { return children_of(pid_).size() == 2; }));
  std::vector<Proc> all = children_of(pid_);
  for (const auto& p : all) EXPECT_EQ(::getpgid(p.pid), ::getpgid(pid_)) << p.cmdline;
  ::kill(pid_, SIGKILL);
  ASSERT_TRUE(wait_until([&] { return exited(); }));
  for (const auto& p : all)
    EXPECT_TRUE(wait_until([&] { return !alive(p.pid); }, 5s)) << p.pid << " " << p.cmdline;
}

// An address still taken (by a previous master's dying worker, say) is
// retried, with the reason in the log, while the rest of master runs.
TEST_F(MasterProcessTest, BindIsRetriedUntilTheAddressIsFree) {
  net::ListenAddress a;
  a.host = "127.0.0.1";
  a.family = AF_INET;
  auto squatter = net::open_listener(a, 1);
  ASSERT_TRUE(squatter.ok());
  uint16_t port = net::bound_port(*squatter);
  std::string daemon = script("daemon.sh", "daemon", "exec sleep 1009");
  write_file("cyrus.conf", "SERVICES {\n  echo cmd=echo_service listen=127.0.0.1:" +
                               std::to_string(port) + "\n}\nDAEMON {\n  d cmd=" + daemon +
                               "\n}\n");
  bool started = start_master();
  if (!started || exited()) ::close(*squatter);
  ASSERT_TRUE(started);
  ASSERT_FALSE(exited()) << "master gave up on a busy address";
  ASSERT_TRUE(wait_until([&] { return trace_count("daemon") == 1; }));
  EXPECT_TRUE(wait_until([&] {
    return read_text(path("master.log")).find("retrying in") != std::string::npos;
  }));
  ::close(*squatter);
  EXPECT_TRUE(wait_until([&] { return EchoClient(port).greeting().find(" echo ") != std::string::npos; }));
  EXPECT_FALSE(exited());
}

TEST_F(MasterProcessTest, PreforkAndMaxchildAreRespected) {
  uint16_t port = free_port();
  write_file("cyrus.conf", "SERVICES {\n  echo cmd=echo_service listen=127.0.0.1:" +
                               std::to_string(port) + " prefork=2 maxchild=3\n}\n");
  ASSERT_TRUE(start_master());
  ASSERT_TRUE(wait_until([&] { return kids("echo_service").size() == 2; }));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(kids("echo_service").size(), 2u);  // prefork, and no more while idle

  std::vector<std::unique_ptr<EchoClient>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<EchoClient>(port));
    EXPECT_FALSE(held.back()->greeting().empty()) << i;
  }
  EXPECT_EQ(kids("echo_service").size(), 3u);
  // A fourth client waits in the backlog: maxchild is reached.
  EchoClient waiting(port);
  EXPECT_EQ(waiting.greeting(700ms), "");
  EXPECT_EQ(kids("echo_service").size(), 3u);
  // Freeing one worker serves it.
  held[0].reset();
  EXPECT_FALSE(waiting.greeting().empty());
  EXPECT_LE(kids("echo_service").size(), 3u);
  std::string log = read_text(path("master.log"));
  size_t spawned = 0;
  for (size_t at = log.find("spawned worker"); at != std::string::npos;
       at = log.find("spawned worker", at + 1))
    ++spawned;
  EXPECT_EQ(spawned, 3u);
}

TEST_F(MasterProcessTest, UnixSocketServiceAndEventsAtStartup) {
  std::string sock = path("echo.sock");
  write_file("cyrus.conf", "SERVICES {\n  uecho cmd=echo_service listen=" + sock +
                               "\n}\nEVENTS {\n  once cmd=" + script("ev.sh", "event", "exit 0") +
                               "\n}\n");
  ASSERT_TRUE(start_master());
  ASSERT_TRUE(wait_until([&] { return trace_count("event") == 1; }));
  auto fd = net::connect_to(sock, 0);
  ASSERT_TRUE(fd.ok()) << fd.status().to_string();
  net::Stream s(*fd);
  s.set_timeout(5s);
  auto line = s.read_line(200);
  ASSERT_TRUE(line.ok());
  EXPECT_NE(line->find(" uecho unix"), std::string::npos) << *line;
  ::close(*fd);
  ::kill(pid_, SIGTERM);
  ASSERT_TRUE(wait_until([&] { return exited(); }));
  EXPECT_NE(::access(sock.c_str(), F_OK), 0);
  // period=0: it ran once only.
  EXPECT_EQ(trace_count("event"), 1);
}

TEST_F(MasterProcessTest, WaitDaemonReportsOkBeforeServicesAndStopsLast) {
  uint16_t port = free_port();
  std::string waiter = script("waiter.sh", "waiter",
                              "trap 'echo \"waiter-term $$\" >> " + path("trace") +
                                  "; exit 0' TERM\nsleep 0.3\nprintf 'ok\\r\\n' >&3\n"
                                  "while true; do sleep 0.05; done");
  std::string plain = script("plain.sh", "plain",
                             "trap 'echo \"plain-term $$\" >> " + path("trace") +
                                 "; exit 0' TERM\n"
                                 "while true; do sleep 0.05; done");
  write_file("cyrus.conf",
             "SERVICES {\n  echo cmd=echo_service listen=127.0.0.1:" + std::to_string(port) +
                 "\n}\nDAEMON {\n  p cmd=" + plain + "\n  w cmd=" + waiter + " wait=y\n}\n");
  ASSERT_TRUE(start_master());
  ASSERT_FALSE(exited());
  std::string log = read_text(path("master.log"));
  ASSERT_NE(log.find("daemon w: ready"), std::string::npos);
  EXPECT_LT(log.find("daemon w: ready"), log.find("service echo: listening"));
  ASSERT_TRUE(wait_until([&] { return trace_count("plain") == 1; }));
  ::kill(pid_, SIGTERM);
  ASSERT_TRUE(wait_until([&] { return exited(); }));
  EXPECT_EQ(WEXITSTATUS(exit_status_), 0);
  std::string trace = read_text(path("trace"));
  ASSERT_NE(trace.find("waiter-term"), std::string::npos) << trace;
  EXPECT_LT(trace.find("plain-term"), trace.find("waiter-term"));
}

TEST_F(MasterProcessTest, WaitDaemonThatNeverSaysOkIsFatal) {
  write_file("cyrus.conf", "DAEMON {\n  w cmd=" + script("w.sh", "w", "exit 0") + " wait=yes\n}\n");
  ASSERT_TRUE(start_master());
  ASSERT_TRUE(wait_until([&] { return exited(); }));
  EXPECT_NE(WEXITSTATUS(exit_status_), 0);
  EXPECT_NE(read_text(path("master.log")).find("did not report ok"), std::string::npos);
}

TEST_F(MasterProcessTest, SighupAddsRemovesAndReplacesServices) {
  uint16_t p1 = free_port();
  uint16_t p2 = free_port();
  uint16_t p3 = free_port();
  auto line = [](const std::string& name, const std::string& cmd, uint16_t port) {
    return "  " + name + " cmd=\"" + cmd + "\" listen=127.0.0.1:" + std::to_string(port) +
           " prefork=1\n";
  };
  write_file("cyrus.conf", "SERVICES {\n" + line("keep", "echo_service -g one", p1) +
                               line("gone", "echo_service", p2) + "}\n");
  ASSERT_TRUE(start_master());
  ASSERT_TRUE(wait_until([&] { return kids("echo_service").size() == 2; }));
  EXPECT_EQ(EchoClient(p1).greeting().rfind("one ", 0), 0u);
  EXPECT_FALSE(EchoClient(p2).greeting().empty());

  write_file("cyrus.conf", "SERVICES {\n" + line("keep", "echo_service -g two", p1) +
                               line("added", "echo_service", p3) + "}\n");
  ::kill(pid_, SIGHUP);
  // The changed cmd takes effect on the same listener; the removed service
  // stops listening; the new one serves.
  ASSERT_TRUE(wait_until([&] { return EchoClient(p1).greeting().rfind("two ", 0) == 0; }));
  EXPECT_TRUE(wait_until([&] { return !net::connect_to("127.0.0.1", p2).ok(); }));
  EXPECT_NE(EchoClient(p3).greeting().find(" added "), std::string::npos);
  EXPECT_TRUE(kids("echo_service -g one").empty());
  EXPECT_FALSE(exited());
}

TEST_F(MasterProcessTest, DaemoniseWritesPidfileThenDetaches) {
  write_file("cyrus.conf", "DAEMON {\n  d cmd=" + script("d.sh", "d", "exec sleep 1007") + "\n}\n");
  std::string logfile = path("detached.log");
  ASSERT_TRUE(start_master({"-d", "-L", logfile}));
  // The launching process exits 0 once the detached master is ready.
  ASSERT_TRUE(wait_until([&] { return exited(); }));
  EXPECT_EQ(WEXITSTATUS(exit_status_), 0);
  pid_t detached = static_cast<pid_t>(std::atoi(read_text(path("master.pid")).c_str()));
  ASSERT_GT(detached, 0);
  EXPECT_TRUE(alive(detached));
  pid_ = -1;
  ASSERT_TRUE(wait_until([&] { return trace_count("d") == 1; }));
  EXPECT_NE(read_text(logfile).find("ready"), std::string::npos);
  ::kill(detached, SIGTERM);
  EXPECT_TRUE(wait_until([&] { return !alive(detached); }));
  EXPECT_NE(::access(path("master.pid").c_str(), F_OK), 0);
}

}  // namespace
}  // namespace replimail::master
