// Lossless failover (issue 16): with sync_wait_replicas: 1 the primary's
// LMTP 250 and IMAP tagged OK come only once the replica has applied the
// change, so a primary killed (SIGKILL, every process, by PID) the moment
// it acknowledged loses nothing: the replica already holds the mail, and
// serves it through IMAP once promoted (cyr_promote). The
// replica link goes through a relay that holds every chunk 300 ms
// (tests/integration/py/delay_proxy.py), so without the wait the same kill
// reliably catches the replica behind (the control test). The timeout:
// replica down, async acknowledges after sync_wait_timeout and says so in
// the log and wait.shm's counters; refuse answers LMTP 451 and IMAP NO.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness.h"
#include "synclog/applied.h"

namespace replimail::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

const std::map<std::string, std::string> kUsers = {{"admin", "adminpw"}, {"alice", "alicepw"}};

Instance::Options replica_options() {
  Instance::Options o;
  o.services = {{"csync", "sync_server"}, {"imap", "imapd"}};
  o.users = kUsers;
  o.channels = {};
  o.sync_log = false;
  // The credentials its channels use once it is promoted.
  o.imapd_extra = {"failedloginpause: 0", "sync_authname: admin", "sync_password: adminpw"};
  return o;
}

// A primary with channel repa to 127.0.0.1:`port` (rolling sync_client) and
// squatter's channel, plus `wait` lines.
Instance::Options primary_options(int port, const std::vector<std::string>& wait) {
  Instance::Options o;
  o.services = {{"lmtp", "lmtpd -a"}, {"imap", "imapd"}};
  o.users = kUsers;
  o.channels = {"repa", "squatter"};
  o.imapd_extra = {"sync_authname: admin",
                   "sync_password: adminpw",
                   "sync_timeout: 5s",
                   "sync_reconnect_maxwait: 2s",
                   "failedloginpause: 0",
                   "repa_sync_host: 127.0.0.1",
                   "repa_sync_port: " + std::to_string(port)};
  o.imapd_extra.insert(o.imapd_extra.end(), wait.begin(), wait.end());
  o.daemons["syncrepa"] = "sync_client -r -n repa";
  return o;
}

// Creates alice's INBOX on the primary and waits until the replica has it.
void create_alice(const Instance& primary, const Instance& replica) {
  auto r = primary.tool("cyr_mbox", {"create", "user.alice"});
  ASSERT_TRUE(r.ok()) << r.describe();
  ASSERT_TRUE(wait_until([&] { return replica.snapshot("user.alice").error.empty(); }, 60s))
      << primary.master_log();
}

// The replica behind the 300 ms relay, the primary waiting (or not).
struct KillSetup {
  Instance replica{replica_options()};
  std::unique_ptr<Instance> primary;
  std::unique_ptr<Background> relay;

  std::string start(const std::vector<std::string>& wait) {
    if (std::string why = replica.start(); !why.empty()) return why;
    const int port = free_port();
    relay = std::make_unique<Background>(std::vector<std::string>{
        "/usr/bin/python3", py_script("delay_proxy.py"), "--listen", std::to_string(port), "--to",
        std::to_string(replica.port("csync")), "--delay-ms", "300"});
    if (!wait_for_port(port, 10s)) return "the relay did not listen: " + relay->out();
    primary = std::make_unique<Instance>(primary_options(port, wait));
    return primary->start();
  }

  // Delivers one message over LMTP and APPENDs one over IMAP at once; the
  // moment both are answered the script SIGKILLs the primary's master, every
  // process under it and the relay (data in flight is lost, as with a
  // machine gone). Returns the script's JSON.
  json deliver_then_kill() {
    pid_t master = primary->master_pid();
    std::string pids = std::to_string(master) + "," + std::to_string(relay->pid());
    for (pid_t p : descendants_of(master)) pids += "," + std::to_string(p);
    auto r = primary->python("ack_then_kill.py",
                             {"deliver", "--lmtp-port", std::to_string(primary->lmtp_port()),
                              "--imap-port", std::to_string(primary->port("imap")), "--user",
                              "alice", "--password", "alicepw", "--kill", pids});
    EXPECT_TRUE(r.ok()) << r.describe();
    // Workers master forked meanwhile (to keep its prefork) are in its group.
    for (pid_t p : processes_in_group(master)) kill(p, SIGKILL);
    primary->stop();  // reaps the killed master
    relay->wait(5s);
    std::cerr << "ack_then_kill: " << r.out;
    auto j = json::parse(r.out, nullptr, false);
    return j.is_discarded() ? json::object() : j;
  }

  // alice's INBOX on the replica through its imapd: X-Test-Id -> SHA-1.
  json replica_messages() {
    auto r = replica.python("ack_then_kill.py",
                            {"read", "--imap-port", std::to_string(replica.port("imap")), "--user",
                             "alice", "--password", "alicepw"});
    EXPECT_TRUE(r.ok()) << r.describe();
    auto j = json::parse(r.out, nullptr, false);
    return j.is_discarded() ? json::object() : j.value("messages", json::object());
  }
};

// The first word of the answer ack_then_kill.py recorded under `key`.
std::string answer(const json& acked, const std::string& key) {
  if (!acked.contains(key) || !acked[key].is_array() || acked[key].empty()) return "none";
  const json& first = acked[key][0];
  return first.is_string() ? first.get<std::string>() : first.dump();
}

TEST(SyncWait, PrimaryKilledRightAfterAcknowledgingLosesNothing) {
  KillSetup s;
  ASSERT_EQ(
      s.start({"sync_wait_replicas: 1", "sync_wait_timeout: 60s", "sync_wait_on_timeout: refuse"}),
      "");
  create_alice(*s.primary, s.replica);
  json acked = s.deliver_then_kill();
  ASSERT_EQ(answer(acked, "lmtp"), "250") << acked.dump();
  ASSERT_EQ(answer(acked, "append"), "OK") << acked.dump();

  // The primary is gone and nothing else runs that could sync: what the
  // replica holds now is what a promoted replica would serve.
  auto snap = s.replica.snapshot("user.alice");
  ASSERT_EQ(snap.error, "");
  EXPECT_EQ(snap.records.size(), 2u);
  // Failover as an operator does it (the old primary unreachable), then the
  // mail read through the new primary's imapd.
  RunResult promoted = s.replica.tool(
      "cyr_promote", {"-M", s.replica.cyrus_conf(), "-p", s.replica.state_dir() + "/run/master.pid",
                      "-o", "oldprimary=127.0.0.1:" + std::to_string(free_port())});
  ASSERT_TRUE(promoted.ok()) << promoted.describe();
  json held = s.replica_messages();
  EXPECT_TRUE(held.contains("w-lmtp-0")) << held.dump();
  ASSERT_TRUE(held.contains("w-append-0")) << held.dump();
  EXPECT_EQ(held["w-append-0"], acked["sha1"]["w-append-0"]) << held.dump();
}

// The control: the same kill without the wait finds the replica behind (the
// relay's 300 ms make sure it is), so the test above can fail.
TEST(SyncWait, WithoutTheWaitTheSameKillLosesAcknowledgedMail) {
  KillSetup s;
  ASSERT_EQ(s.start({}), "");
  create_alice(*s.primary, s.replica);
  json acked = s.deliver_then_kill();
  ASSERT_EQ(answer(acked, "lmtp"), "250") << acked.dump();
  ASSERT_EQ(answer(acked, "append"), "OK") << acked.dump();
  json held = s.replica_messages();
  EXPECT_LT(held.size(), 2u) << "the replica caught up before the kill: " << held.dump();
}

// Replica down: the primary waits sync_wait_timeout, then acts on
// sync_wait_on_timeout.
struct DownSetup {
  Instance replica{replica_options()};
  std::unique_ptr<Instance> primary;

  std::string start(const std::string& policy) {
    if (std::string why = replica.start(); !why.empty()) return why;
    primary = std::make_unique<Instance>(primary_options(
        replica.port("csync"),
        {"sync_wait_replicas: 1", "sync_wait_timeout: 2s", "sync_wait_on_timeout: " + policy}));
    return primary->start();
  }

  // Each call a message of its own: duplicatesuppression (on by default)
  // drops a second delivery of the same Message-ID to the same mailbox.
  RunResult deliver_one() {
    return primary->python("lmtp_deliver.py", {"--port", std::to_string(primary->lmtp_port()),
                                               "-n", "1", "--prefix", "m" + std::to_string(++sent)});
  }
  int sent = 0;
};

TEST(SyncWait, ReplicaDownAsyncDeliversAfterTheTimeoutAndSaysSo) {
  DownSetup s;
  ASSERT_EQ(s.start("async"), "");
  create_alice(*s.primary, s.replica);
  // Up: acknowledged once applied, no timeout.
  auto up = s.deliver_one();
  EXPECT_TRUE(up.ok()) << up.describe();
  EXPECT_EQ(synclog::read_wait_counters(s.primary->config_dir()).timeouts_async, 0u);

  ASSERT_EQ(s.replica.stop(), 0);
  auto down = s.deliver_one();
  EXPECT_TRUE(down.ok()) << down.describe();
  auto j = json::parse(down.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << down.out;
  EXPECT_EQ(j["acked"].size(), 1u) << down.out;
  EXPECT_EQ(s.primary->snapshot("user.alice").records.size(), 2u);
  synclog::WaitCounters c = synclog::read_wait_counters(s.primary->config_dir());
  EXPECT_GE(c.waits, 1u);
  EXPECT_EQ(c.timeouts_async, 1u);
  EXPECT_EQ(c.timeouts_refused, 0u);
  EXPECT_NE(s.primary->master_log().find("not applied within 2000 ms by: repa; acknowledged "
                                         "without them (sync_wait_on_timeout: async)"),
            std::string::npos)
      << s.primary->master_log();
}

TEST(SyncWait, ReplicaDownRefuseAnswersLmtp451) {
  DownSetup s;
  ASSERT_EQ(s.start("refuse"), "");
  create_alice(*s.primary, s.replica);
  ASSERT_EQ(s.replica.stop(), 0);
  auto down = s.deliver_one();
  EXPECT_FALSE(down.ok()) << down.describe();
  auto j = json::parse(down.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << down.out;
  EXPECT_EQ(j["acked"].size(), 0u) << down.out;
  ASSERT_EQ(j["refused"].size(), 1u) << down.out;
  EXPECT_NE(j["refused"].begin().value().get<std::string>().find(":451 4.3.0 Not replicated"),
            std::string::npos)
      << down.out;
  synclog::WaitCounters c = synclog::read_wait_counters(s.primary->config_dir());
  EXPECT_EQ(c.timeouts_refused, 1u);
  EXPECT_NE(s.primary->master_log().find("(sync_wait_on_timeout: refuse)"), std::string::npos)
      << s.primary->master_log();

  // The replica back: the same delivery is acknowledged again.
  ASSERT_EQ(s.replica.start(), "");
  EXPECT_TRUE(wait_until([&] { return s.deliver_one().ok(); }, 60s)) << s.primary->master_log();
}

}  // namespace
}  // namespace replimail::testing
