// master as a process supervisor, and the run command built on it.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <thread>

#include "harness.h"
#include "net/socket.h"
#include "net/stream.h"

namespace replimail::testing {
namespace {

using namespace std::chrono_literals;

// The pids among `pids` still alive after up to `timeout`.
std::vector<pid_t> survivors(const std::vector<pid_t>& pids, std::chrono::milliseconds timeout) {
  std::vector<pid_t> left;
  wait_until(
      [&] {
        left.clear();
        for (pid_t p : pids)
          if (pid_alive(p)) left.push_back(p);
        return left.empty();
      },
      timeout);
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
  EXPECT_EQ(deliver(inst, "alice", 5), "");
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
  // The rolling squatter indexed the samples and imapd's SEARCH gives the
  // index's answer.
  EXPECT_NE(up.out.find("index (squatter -e sample user.demo):     UIDs [1, 2, 3]\n"),
            std::string::npos)
      << up.out;
  EXPECT_NE(up.out.find("(UID SEARCH BODY sample, primary): OK UIDs [1, 2, 3]\n"),
            std::string::npos)
      << up.out;
  {
    auto at = up.out.find("channel squatter\n");
    ASSERT_NE(at, std::string::npos) << up.out;
    std::string block = up.out.substr(at, up.out.find("\nchannel ", at) - at);
    EXPECT_EQ(block.find("never ran"), std::string::npos) << block;
  }
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
  EXPECT_EQ(lines_of(slurp(state.path() + "/run/ports")).size(), 7u) << "NAME=PORT lines";
  // The primary's Prometheus endpoint (promstatsd) answers.
  int metrics = 0;
  for (const std::string& l : lines_of(slurp(state.path() + "/run/ports")))
    if (l.starts_with("METRICS_PORT=")) metrics = atoi(l.c_str() + 13);
  ASSERT_GT(metrics, 0);
  EXPECT_TRUE(wait_for_port(metrics, 10s));

  auto down = run({source_dir() + "/examples/stop.sh", state.path()}, "", 60s);
  EXPECT_TRUE(down.ok()) << down.describe();
  for (const auto& [name, pid] : masters) {
    EXPECT_FALSE(pid_alive(pid)) << name;
    if (pid_alive(pid)) kill(pid, SIGKILL);
    EXPECT_FALSE(std::filesystem::exists(state.path() + "/run/" + name + ".pid")) << name;
  }
  EXPECT_FALSE(wait_for_port(lmtp, 200ms));
}

// ---- A master killed with SIGKILL -------------------------------------------
//
// What an init system or an operator does to a hung instance: kill -9 of
// master alone, or of its whole process group. Nothing master started may
// live on (a busy worker would hold the listener, and the next master could
// not bind it; an orphaned rolling sync_client would run beside the new
// one), and a new master on the same configuration must serve at once.

// A line-oriented client of one of an instance's services.
class Session {
 public:
  explicit Session(int port) {
    auto fd = net::connect_to("127.0.0.1", static_cast<uint16_t>(port));
    if (fd.ok()) {
      fd_ = *fd;
      stream_ = std::make_unique<net::Stream>(fd_);
      stream_->set_timeout(10s);
    }
  }
  ~Session() {
    if (fd_ >= 0) close(fd_);
  }
  // Sends `line` (unless empty) and reads lines until one starts with
  // `until`; that line, or "" on error or end of stream.
  std::string exchange(const std::string& line, const std::string& until) {
    if (!stream_ || (!line.empty() && !stream_->write_flush(line + "\r\n"))) return "";
    for (;;) {
      auto got = stream_->read_line(65536);
      if (!got.ok()) return "";
      if (got->rfind(until, 0) == 0) return *got;
    }
  }
  bool send(const std::string& line) {
    return stream_ && stream_->write_flush(line + "\r\n").is_ok();
  }

 private:
  int fd_ = -1;
  std::unique_ptr<net::Stream> stream_;
};

// alice in IDLE on her INBOX over IMAP: one busy imapd.
std::string idle(Session& imap) {
  if (imap.exchange("", "* OK").empty()) return "no IMAP greeting";
  if (imap.exchange("a LOGIN alice alicepw", "a ").rfind("a OK", 0) != 0) return "LOGIN failed";
  if (imap.exchange("b SELECT INBOX", "b ").rfind("b OK", 0) != 0) return "SELECT failed";
  if (imap.exchange("c IDLE", "+").empty()) return "IDLE refused";
  return "";
}

// An LMTP transaction to alice stopped in the middle of DATA: one busy lmtpd.
std::string half_data(Session& lmtp) {
  if (lmtp.exchange("", "220").empty()) return "no LMTP greeting";
  if (lmtp.exchange("LHLO test", "250 ").empty()) return "LHLO failed";
  if (lmtp.exchange("MAIL FROM:<x@example.com>", "2").empty()) return "MAIL failed";
  if (lmtp.exchange("RCPT TO:<alice>", "2").empty()) return "RCPT failed";
  if (lmtp.exchange("DATA", "354").empty()) return "DATA refused";
  return lmtp.send("Subject: half") ? "" : "DATA line not sent";
}

Instance::Options busy_options() {
  Instance::Options o;
  o.services = {{"lmtp", "lmtpd -a"}, {"imap", "imapd"}};
  o.users = {{"admin", "adminpw"}, {"alice", "alicepw"}};
  o.imapd_extra = {"failedloginpause: 0"};
  return o;
}

class MasterKilled : public ::testing::TestWithParam<bool> {
 protected:
  // SIGKILL to master alone, or (GetParam()) to its process group; then
  // reaps it.
  void kill_master(Instance& inst) {
    pid_t master = inst.master_pid();
    ASSERT_EQ(kill(GetParam() ? -master : master, SIGKILL), 0);
    EXPECT_EQ(inst.stop(), 128 + SIGKILL);
  }
};

TEST_P(MasterKilled, BusyWorkersDieWithItAndANewMasterServes) {
  Instance inst(busy_options());
  ASSERT_EQ(inst.start(), "");
  ASSERT_TRUE(inst.tool("cyr_mbox", {"create", "user.alice"}).ok());
  Session imap(inst.port("imap")), lmtp(inst.lmtp_port());
  ASSERT_EQ(idle(imap), "");
  ASSERT_EQ(half_data(lmtp), "");
  auto workers = descendants_of(inst.master_pid());
  ASSERT_GE(workers.size(), 2u);

  kill_master(inst);
  auto left = survivors(workers, 5000ms);
  EXPECT_TRUE(left.empty()) << left.size() << " worker(s) outlived master, first pid "
                            << left.front();
  // Same configuration, same ports: up and serving within start()'s bound.
  ASSERT_EQ(inst.start(), "");
  EXPECT_EQ(deliver(inst, "alice", 3, "after"), "");
  EXPECT_EQ(live_records(inst, "user.alice"), 3u);
  Session again(inst.port("imap"));
  EXPECT_EQ(idle(again), "");
}

// A replica killed with SIGKILL while the primary's rolling sync_client is
// connected to its sync_server, and a primary whose master is killed: each
// comes back, the channel keeps one client, and the replica catches up.
TEST_P(MasterKilled, ReplicaAndPrimaryComeBackWithOneRollingClient) {
  Instance replica(replica_options());
  ASSERT_EQ(replica.start(), "");
  Instance::Options po = primary_options(replica.port("csync"));
  po.daemons = {{"syncreplica", "sync_client -r -n replica"}};
  Instance primary(po);
  ASSERT_EQ(primary.start(), "");
  ASSERT_TRUE(primary.tool("cyr_mbox", {"create", "user.alice"}).ok());
  ASSERT_EQ(deliver(primary, "alice", 5, "one"), "");
  ASSERT_TRUE(wait_until([&] { return live_records(replica, "user.alice") == 5; }, 30s))
      << primary.master_log();

  // A second rolling client for the channel refuses to run, in one line.
  auto second = primary.tool("sync_client", {"-r", "-n", "replica"});
  EXPECT_EQ(second.exit_code, 75) << second.describe();
  EXPECT_NE(second.err.find("another rolling sync_client"), std::string::npos) << second.describe();

  // The replica, its sync_server busy with the primary's client.
  auto servers = processes_of(replica, "sync_server");
  ASSERT_FALSE(servers.empty());
  kill_master(replica);
  auto left = survivors(servers, 5000ms);
  EXPECT_TRUE(left.empty()) << "sync_server pid " << left.front() << " outlived its master";
  ASSERT_EQ(replica.start(), "");
  ASSERT_EQ(deliver(primary, "alice", 5, "two"), "");
  EXPECT_TRUE(wait_until([&] { return live_records(replica, "user.alice") == 10; }, 30s))
      << primary.master_log();

  // The primary.
  auto clients = processes_of(primary, "sync_client");
  ASSERT_EQ(clients.size(), 1u);
  kill_master(primary);
  left = survivors(clients, 5000ms);
  EXPECT_TRUE(left.empty()) << "sync_client pid " << left.front() << " outlived its master";
  ASSERT_EQ(primary.start(), "");
  ASSERT_TRUE(wait_until([&] { return processes_of(primary, "sync_client").size() == 1; }, 10s));
  ASSERT_EQ(deliver(primary, "alice", 5, "three"), "");
  EXPECT_TRUE(wait_until([&] { return live_records(replica, "user.alice") == 15; }, 30s))
      << primary.master_log();
  EXPECT_EQ(processes_of(primary, "sync_client").size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Master, MasterKilled, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Group" : "MasterOnly"; });

}  // namespace
}  // namespace replimail::testing
