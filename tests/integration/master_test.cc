// master as a process supervisor, and the run command built on it.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <string>
#include <thread>

#include "harness.h"

namespace replimail::testing {
namespace {

using namespace std::chrono_literals;

// The pids among `pids` still alive after up to `timeout`.
std::vector<pid_t> survivors(const std::vector<pid_t>& pids, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<pid_t> left;
  do {
    left.clear();
    for (pid_t p : pids) {
      if (pid_alive(p)) left.push_back(p);
    }
    if (!left.empty()) std::this_thread::sleep_for(20ms);
  } while (!left.empty() && std::chrono::steady_clock::now() < deadline);
  return left;
}

TEST(Master, SigtermLeavesNoChildProcess) {
  Instance::Options o;
  o.prefork = 2;
  Instance inst(o);
  ASSERT_EQ(inst.start(), "");
  ASSERT_TRUE(inst.tool("cyr_mbox", {"create", "user.alice"}).ok());
  // Serve a few connections so that lmtpd children exist and have worked.
  auto r = inst.python("lmtp_deliver.py",
                       {"--port", std::to_string(inst.lmtp_port()), "-n", "20", "--conns", "3"});
  ASSERT_TRUE(r.ok()) << r.describe();
  auto children = descendants_of(inst.master_pid());
  EXPECT_GE(children.size(), 2u) << "prefork=2 lmtpd workers";
  EXPECT_EQ(inst.stop(), 0);
  auto left = survivors(children, 3000ms);
  EXPECT_TRUE(left.empty()) << left.size() << " children of master survived, first pid "
                            << left.front();
}

TEST(Master, RestartsAnLmtpdThatDied) {
  Instance inst;
  ASSERT_EQ(inst.start(), "");
  ASSERT_TRUE(inst.tool("cyr_mbox", {"create", "user.alice"}).ok());
  pid_t master = inst.master_pid();
  for (pid_t pid : descendants_of(master)) {
    if (parent_of(pid) == master) kill(pid, SIGKILL);
  }
  auto r = inst.python("lmtp_deliver.py", {"--port", std::to_string(inst.lmtp_port()), "-n", "5"});
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(pid_alive(master));
}

// `./dev run` = examples/run.sh BIN STATE: a primary and two replicas, the
// samples replicated by the rolling clients; `./dev stop` = examples/stop.sh.
TEST(RunCommand, StartsThePrimaryAndTwoReplicasReplicatesSamplesAndStops) {
  TempDir state;
  const int lmtp = free_port();
  setenv("REPLIMAIL_LMTP_PORT", std::to_string(lmtp).c_str(), 1);
  setenv("REPLIMAIL_FREE_PORTS", "1", 1);
  auto up = run({source_dir() + "/examples/run.sh", bin_dir(), state.path()}, "", 90s);
  unsetenv("REPLIMAIL_LMTP_PORT");
  unsetenv("REPLIMAIL_FREE_PORTS");
  std::map<std::string, pid_t> masters;
  for (const char* name : {"master", "replica1", "replica2"}) {
    masters[name] = static_cast<pid_t>(atoi(slurp(state.path() + "/run/" + name + ".pid").c_str()));
  }
  ASSERT_TRUE(up.ok()) << up.describe() << slurp(state.path() + "/primary/log/master.log");
  for (const auto& [name, pid] : masters) {
    ASSERT_GT(pid, 0) << name;
    EXPECT_TRUE(pid_alive(pid)) << name;
  }
  EXPECT_NE(up.out.find("127.0.0.1:" + std::to_string(lmtp)), std::string::npos) << up.out;
  EXPECT_NE(up.out.find("demo / demopw"), std::string::npos) << up.out;
  EXPECT_NE(up.out.find("exists: 3"), std::string::npos) << up.out;
  EXPECT_NE(up.out.find("APPEND user.demo"), std::string::npos) << up.out;
  // Counts read through IMAP on each replica.
  for (const char* r : {"replica1", "replica2"}) {
    auto line = up.out.find(std::string(r) + " ");
    ASSERT_NE(line, std::string::npos) << up.out;
    auto eol = up.out.find('\n', line);
    EXPECT_NE(up.out.substr(line, eol - line).find("3 messages, UIDNEXT 4 (replicated"),
              std::string::npos)
        << up.out;
  }
  EXPECT_NE(up.out.find("== sync_status"), std::string::npos) << up.out;
  EXPECT_TRUE(wait_for_port(lmtp, 1s));
  EXPECT_EQ(lines_of(slurp(state.path() + "/run/ports")).size(), 6u) << "NAME=PORT lines";

  auto down = run({source_dir() + "/examples/stop.sh", state.path()}, "", 60s);
  EXPECT_TRUE(down.ok()) << down.describe();
  for (const auto& [name, pid] : masters) {
    EXPECT_FALSE(pid_alive(pid)) << name;
    if (pid_alive(pid)) kill(pid, SIGKILL);
    EXPECT_FALSE(std::filesystem::exists(state.path() + "/run/" + name + ".pid")) << name;
  }
  EXPECT_FALSE(wait_for_port(lmtp, 200ms));
}

}  // namespace
}  // namespace replimail::testing
