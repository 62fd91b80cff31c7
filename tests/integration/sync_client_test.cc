// sync_client as a Cyrus administrator runs it (issue 14): `sync_client -r`
// in cyrus.conf's START section (the form Cyrus's install-replication guide
// gives) forks into the background so that master's START completes, and
// every flag of Cyrus 3.6's sync_client is either done with Cyrus's meaning
// or refused in one line.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "digest_check.h"
#include "harness.h"
#include "store/instance.h"

namespace replimail::testing {
namespace {

using namespace std::chrono_literals;

// The pid a rolling client wrote into the channel's client.lock (-1 if none).
pid_t lock_holder(const Instance& inst, const std::string& channel) {
  std::string text = slurp(inst.config_dir() + "/sync/" + channel + "/client.lock");
  char* end = nullptr;
  long pid = std::strtol(text.c_str(), &end, 10);
  return end != text.c_str() && pid > 0 ? static_cast<pid_t>(pid) : -1;
}

// Stops the channel's rolling client, which no master supervises, by the
// pid in its lock file: at the end of a test, whatever happened.
struct StopClientAtEnd {
  const Instance& inst;
  ~StopClientAtEnd() {
    pid_t pid = lock_holder(inst, "replica");
    if (pid <= 0 || !pid_alive(pid)) return;
    ::kill(pid, SIGTERM);
    if (!wait_until([&] { return !pid_alive(pid); }, 10s)) ::kill(pid, SIGKILL);
  }
};

bool is_descendant(pid_t pid, pid_t ancestor) {
  for (pid_t p : descendants_of(ancestor))
    if (p == pid) return true;
  return false;
}

TEST(SyncClient, StartEntryRollingClientDetachesAndReplicates) {
  Instance replica(replica_options());
  ASSERT_EQ(replica.start(), "");
  Instance::Options po = primary_options(replica.port("csync"));
  po.services = {{"lmtp", "lmtpd -a"}, {"imap", "imapd"}};
  po.starts = {{"syncclient", "sync_client -r -n replica"}};
  Instance primary(po);
  StopClientAtEnd stop_client{primary};
  // Before the fix the START entry never returned: master started no
  // service and start() gave up after its timeout.
  ASSERT_EQ(primary.start(20s), "");
  EXPECT_NE(primary.master_log().find("start syncclient pid"), std::string::npos)
      << primary.master_log();
  EXPECT_NE(primary.master_log().find("exited with status 0"), std::string::npos)
      << primary.master_log();

  // The services answer and mail replicates through the detached client.
  ASSERT_TRUE(primary.tool("cyr_mbox", {"create", "user.alice"}).ok());
  ASSERT_EQ(deliver(primary, "alice", 4, "start"), "");
  ASSERT_TRUE(wait_until([&] { return live_records(replica, "user.alice") == 4; }, 30s))
      << primary.master_log();
  auto imap = run({"/usr/bin/python3", "-c",
                   "import imaplib,sys; c=imaplib.IMAP4('127.0.0.1', int(sys.argv[1])); "
                   "c.login('admin','adminpw'); print(c.select('user/alice')[1][0].decode()); "
                   "c.logout()",
                   std::to_string(primary.port("imap"))},
                  "", 30s);
  EXPECT_EQ(imap.out, "4\n") << imap.describe();

  // The client runs on its own: not master's child, in a session of its own.
  pid_t client = lock_holder(primary, "replica");
  ASSERT_GT(client, 0);
  EXPECT_TRUE(pid_alive(client));
  EXPECT_FALSE(is_descendant(client, primary.master_pid()));
  EXPECT_EQ(::getsid(client), client);

  // A second -r for the channel: the background child cannot take the
  // lock, and its parent says so with the child's exit code.
  auto second = primary.tool("sync_client", {"-r", "-n", "replica"});
  EXPECT_EQ(second.exit_code, 75) << second.describe();
  EXPECT_NE(second.err.find("another rolling sync_client"), std::string::npos) << second.describe();
  EXPECT_NE(second.err.find("did not start (exit 75)"), std::string::npos) << second.describe();
  // A configuration error of the child reaches the parent's exit status too.
  auto wrong = primary.tool("sync_client", {"-r", "-n", "nosuch"});
  EXPECT_EQ(wrong.exit_code, 78) << wrong.describe();
  EXPECT_NE(wrong.err.find("sync_log_channels"), std::string::npos) << wrong.describe();
  EXPECT_TRUE(pid_alive(client));

  ASSERT_EQ(deliver(primary, "alice", 2, "more"), "");
  ASSERT_TRUE(wait_until([&] { return live_records(replica, "user.alice") == 6; }, 30s));
  EXPECT_TRUE(converges_to_same_digest(primary, replica, 20000ms));

  // Stopped by its pid, it finishes cleanly and lets go of the channel.
  ASSERT_EQ(::kill(client, SIGTERM), 0);
  EXPECT_TRUE(wait_until([&] { return !pid_alive(client); }, 15s));
}

// One line on stderr, exit 64, naming what is wrong.
void expect_usage_error(const std::vector<std::string>& args, const std::string& says) {
  std::vector<std::string> argv = {bin_dir() + "/sync_client"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run(argv, "", 30s);
  std::string shown;
  for (const auto& a : args) shown += a + " ";
  EXPECT_EQ(r.exit_code, 64) << shown << r.describe();
  EXPECT_EQ(lines_of(r.err).size(), 1u) << shown << r.describe();
  EXPECT_NE(r.err.find(says), std::string::npos) << shown << r.describe();
  EXPECT_EQ(r.out, "") << shown;
}

TEST(SyncClient, UsageErrorsAndRefusalsAreOneLineAndExit64) {
  expect_usage_error({"-x", "-u", "alice"}, "unknown option -x");
  expect_usage_error({"-h"}, "unknown option -h");
  expect_usage_error({"-N", "-u", "alice"}, "-N");
  expect_usage_error({"-N", "-u", "alice"}, "per-user sync lock");
  expect_usage_error({"-r", "-t"}, "option -t needs an argument");
  expect_usage_error({"-r", "-t", "soon"}, "-t wants a number of seconds");
  expect_usage_error({"-u", "alice", "-w", "-3"}, "-w wants a number of seconds");
  expect_usage_error({"-r", "-d", "x"}, "-d wants a number of seconds");
  expect_usage_error({"-r", "-u", "alice"}, "-r and -u are mutually exclusive");
  expect_usage_error({"-r", "-R"}, "-r and -R are mutually exclusive");
  expect_usage_error({"-s", "-A"}, "-s and -A are mutually exclusive");
  expect_usage_error({"-1", "-u", "alice"}, "-1 needs -r or -R");
  expect_usage_error({"-v"}, "no replication mode given");
  expect_usage_error({"-s"}, "-s needs at least one name");
}

class SyncClientFlags : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(replica_.start(), "");
    primary_ = std::make_unique<Instance>(primary_options(replica_.port("csync")));
    ASSERT_EQ(primary_->start(), "");
    ASSERT_TRUE(primary_->tool("cyr_mbox", {"create", "user.alice"}).ok());
    ASSERT_EQ(deliver(*primary_, "alice", 2, "f"), "");
  }
  RunResult sync(std::vector<std::string> args) {
    args.insert(args.begin(), {"-S", "127.0.0.1:" + std::to_string(replica_.port("csync"))});
    return primary_->tool("sync_client", args);
  }

  Instance replica_{replica_options()};
  std::unique_ptr<Instance> primary_;
};

TEST_F(SyncClientFlags, LocalOnlySendsLocalMailboxOperations) {
  auto r = sync({"-v", "-L", "-u", "alice"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.err.find("LOCAL_MAILBOX"), std::string::npos) << r.describe();
  EXPECT_EQ(live_records(replica_, "user.alice"), 2u);
  auto plain = sync({"-v", "-u", "alice"});
  EXPECT_EQ(plain.err.find("LOCAL_"), std::string::npos) << plain.describe();
  EXPECT_SAME_DIGEST(*primary_, replica_);
}

TEST_F(SyncClientFlags, NoCopybackSendsForce) {
  auto r = sync({"-v", "-O", "-u", "alice"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.err.find("APPLY FORCE"), std::string::npos) << r.describe();
  EXPECT_EQ(live_records(replica_, "user.alice"), 2u);
}

TEST_F(SyncClientFlags, MetaModeSyncsSeenAndSubscriptionsOnly) {
  ASSERT_EQ(sync({"-u", "alice"}).exit_code, 0);
  {
    auto st = open_store(*primary_);
    ASSERT_TRUE(st);
    ASSERT_TRUE(st->set_subscribed("alice", "user.alice", true));
  }
  ASSERT_EQ(deliver(*primary_, "alice", 1, "later"), "");
  auto r = sync({"-v", "-s", "alice"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.err.find("GET META"), std::string::npos) << r.describe();
  EXPECT_NE(r.err.find("APPLY SUB"), std::string::npos) << r.describe();
  // Meta only: the new message is not sent.
  EXPECT_EQ(r.err.find("APPLY MAILBOX"), std::string::npos) << r.describe();
  EXPECT_EQ(live_records(replica_, "user.alice"), 2u);
}

TEST_F(SyncClientFlags, ADamagedMessageFileIsNotSent) {
  // As Cyrus: each file is checked against its record before it goes out
  // (sync_client reads it once for the check and the sending).
  std::string path;
  {
    auto st = open_store(*primary_);
    ASSERT_TRUE(st);
    auto mb = st->open_mailbox("user.alice");
    ASSERT_TRUE(mb.ok());
    path = (*mb)->message_path(1);
  }
  std::string good = slurp(path);
  ASSERT_FALSE(good.empty());
  std::string bad = good;
  bad[bad.size() - 3] ^= 0x20;
  ASSERT_TRUE(spit(path, bad));
  auto r = sync({"-v", "-u", "alice"});
  EXPECT_NE(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.err.find("does not match GUID"), std::string::npos) << r.describe();
  // The damaged bytes reached no file of the replica.
  for (const auto& e : std::filesystem::recursive_directory_iterator(replica_.state_dir())) {
    if (!e.is_regular_file()) continue;
    EXPECT_NE(slurp(e.path().string()), bad) << e.path();
  }
  ASSERT_TRUE(spit(path, good));
  auto again = sync({"-u", "alice"});
  ASSERT_EQ(again.exit_code, 0) << again.describe();
  EXPECT_EQ(live_records(replica_, "user.alice"), 2u);
  EXPECT_SAME_DIGEST(*primary_, replica_);
}

TEST_F(SyncClientFlags, WaitAnnouncesItself) {
  auto r = sync({"-w", "1", "-u", "alice"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.err.find("Waiting for 1 seconds"), std::string::npos) << r.describe();
  EXPECT_EQ(live_records(replica_, "user.alice"), 2u);
}

TEST_F(SyncClientFlags, ConnectOnceEndsARollingClientThatCannotConnect) {
  // A port nothing listens on: without -o the client would retry for ever
  // (the run() bound would kill it: exit 137).
  auto r = run({bin_dir() + "/sync_client", "-C", primary_->imapd_conf(), "-R", "-o", "-n",
                "replica", "-S", "127.0.0.1:" + std::to_string(free_port())},
               "", 60s);
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_NE(r.err.find("SYNCERROR"), std::string::npos) << r.describe();
}

TEST_F(SyncClientFlags, ForegroundRollingWithSessionTimeoutReconnects) {
  RunResult rolling;
  const std::string shutdown = primary_->config_dir() + "/sync/replica/shutdown";
  {
    // -R stays in the foreground; the shutdown file ends it however the
    // checks below went.
    std::jthread t([&] {
      rolling = primary_->tool("sync_client", {"-R", "-t", "1", "-n", "replica"});
    });
    struct Shutdown {
      const std::string& path;
      ~Shutdown() { spit(path, ""); }
    } at_end{shutdown};
    ASSERT_TRUE(wait_until([&] { return live_records(replica_, "user.alice") == 2; }, 30s));
    // Let the session grow older than -t, then make more work.
    std::this_thread::sleep_for(1500ms);
    ASSERT_EQ(deliver(*primary_, "alice", 1, "g"), "");
    ASSERT_TRUE(wait_until([&] { return live_records(replica_, "user.alice") == 3; }, 30s));
  }
  EXPECT_EQ(rolling.exit_code, 0) << rolling.describe();
  EXPECT_NE(rolling.err.find("older than 1 s (-t); reconnecting"), std::string::npos)
      << rolling.describe();
}

}  // namespace
}  // namespace replimail::testing
