// Failover with cyr_promote (docs/OPERATIONS.md "Failover step by step"): a
// primary killed for good while its replica could not get its latest mail,
// the replica promoted with the one command, mail delivered to it, the old
// primary brought back as a replica (cyr_promote --rejoin) — and nothing
// lost: the messages only the old primary had and a folder created only
// there are on the new primary, and both instances hold the same state.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/config.h"
#include "digest_check.h"
#include "harness.h"
#include "store/instance.h"

namespace replimail::testing {
namespace {

// GUIDs of the live messages of `mailbox` (empty if it does not exist).
std::multiset<std::string> live_guids(const Instance& inst, const std::string& mailbox) {
  std::multiset<std::string> out;
  auto snap = inst.snapshot(mailbox);
  for (const auto& r : snap.records)
    if (!r.expunged()) out.insert(r.guid);
  return out;
}

std::string pidfile_of(const Instance& inst) { return inst.state_dir() + "/run/master.pid"; }

// The replica, ready to be promoted: it holds the credentials its channels
// will use (the same administrator on every instance).
Instance::Options promotable_replica_options() {
  Instance::Options o = replica_options();
  o.channels = {"squatter"};
  o.imapd_extra.insert(o.imapd_extra.end(),
                       {"sync_authname: admin", "sync_password: adminpw",
                        "sync_repeat_interval: 1s", "sync_reconnect_maxwait: 1s"});
  return o;
}

// The primary, feeding `replica` on channel "replica"; it also runs
// sync_server, so that it can come back as a replica.
Instance::Options rejoinable_primary_options(const Instance& replica) {
  Instance::Options o = primary_options(replica.port("csync"));
  o.services = {{"lmtp", "lmtpd -a"}, {"csync", "sync_server"}};
  o.channels = {"replica"};
  o.imapd_extra.insert(o.imapd_extra.end(), {"failedloginpause: 0", "sync_repeat_interval: 1s"});
  o.daemons = {{"syncreplica", "sync_client -r -n replica"}};
  return o;
}

TEST(Failover, PrimaryKilledReplicaPromotedOldPrimaryRejoinsWithNothingLost) {
  Instance replica(promotable_replica_options());
  ASSERT_EQ(replica.start(), "");
  Instance primary(rejoinable_primary_options(replica));
  ASSERT_EQ(primary.start(), "");

  ASSERT_TRUE(primary.tool("cyr_mbox", {"create", "user.alice"}).ok());
  ASSERT_EQ(deliver(primary, "alice", 5, "both"), "");
  ASSERT_TRUE(converges_to_same_digest(primary, replica, std::chrono::seconds(60)));

  // The replica stops taking replication (its sync_server goes away), and
  // the primary accepts mail it alone gets: 3 messages and a new folder.
  // (master stops the service; a worker still serving the primary's
  // connection is killed, by PID.)
  replica.options().services.erase("csync");
  replica.reload();
  ASSERT_TRUE(wait_until(
      [&] {
        auto left = processes_running(replica, "sync_server");
        for (pid_t pid : left) ::kill(pid, SIGKILL);
        return left.empty();
      },
      std::chrono::seconds(20)));
  ASSERT_EQ(deliver(primary, "alice", 3, "oldonly"), "");
  ASSERT_TRUE(primary.tool("cyr_mbox", {"create", "user.alice.OnlyOld"}).ok());
  for (int i = 0; i < 2; i++)
    ASSERT_TRUE(
        append_text(primary, "user.alice.OnlyOld",
                    "Subject: only on the old primary " + std::to_string(i) + "\r\n\r\nkept\r\n"));
  // A folder of the same name made on each side: different mailboxes.
  ASSERT_TRUE(primary.tool("cyr_mbox", {"create", "user.alice.Both"}).ok());
  ASSERT_TRUE(append_text(primary, "user.alice.Both", "Subject: old side\r\n\r\nold\r\n"));
  std::multiset<std::string> old_both = live_guids(primary, "user.alice.Both");
  std::multiset<std::string> old_inbox = live_guids(primary, "user.alice");
  std::multiset<std::string> old_folder = live_guids(primary, "user.alice.OnlyOld");
  ASSERT_EQ(old_inbox.size(), 8u);
  ASSERT_EQ(old_folder.size(), 2u);
  EXPECT_EQ(live_guids(replica, "user.alice").size(), 5u);

  // The primary dies for good: master and every child, SIGKILL.
  const pid_t master = primary.master_pid();
  ASSERT_GT(master, 0);
  ASSERT_EQ(::kill(-master, SIGKILL), 0);
  EXPECT_EQ(primary.stop(), 128 + SIGKILL);

  // Promotion: the old primary is unreachable (no -O), so the command says
  // what the operator must guarantee, and goes on.
  const std::string old_host = "127.0.0.1:" + std::to_string(primary.port("csync"));
  RunResult promoted = replica.tool(
      "cyr_promote",
      {"-M", replica.cyrus_conf(), "-p", pidfile_of(replica), "-o", "oldprimary=" + old_host});
  ASSERT_TRUE(promoted.ok()) << promoted.describe();
  std::cout << promoted.out;
  EXPECT_NE(promoted.out.find("NOT fenced"), std::string::npos) << promoted.out;
  EXPECT_NE(promoted.out.find("sent SIGHUP to master"), std::string::npos) << promoted.out;
  auto conf = Config::load(replica.imapd_conf());
  ASSERT_TRUE(conf.ok());
  EXPECT_EQ(conf->get("sync_log_channels"), "squatter oldprimary");
  EXPECT_EQ(conf->get("oldprimary_sync_host"), old_host);
  EXPECT_NE(slurp(replica.cyrus_conf())
                .find("sync_client -C " + replica.imapd_conf() + " -r -n oldprimary"),
            std::string::npos);

  // The new primary takes mail; its rolling client for the old primary runs
  // (and waits for it).
  ASSERT_EQ(deliver(replica, "alice", 4, "newonly"), "");
  ASSERT_TRUE(replica.tool("cyr_mbox", {"create", "user.alice.Both"}).ok());
  ASSERT_TRUE(append_text(replica, "user.alice.Both", "Subject: new side\r\n\r\nnew\r\n"));
  std::multiset<std::string> new_both = live_guids(replica, "user.alice.Both");
  EXPECT_TRUE(wait_until(
      [&] {
        return std::filesystem::exists(replica.config_dir() + "/sync/oldprimary/status.json");
      },
      std::chrono::seconds(30)));

  // The old primary rejoins as a replica, then its master starts again.
  RunResult rejoined = primary.tool(
      "cyr_promote", {"--rejoin", "-M", primary.cyrus_conf(), "-p", pidfile_of(primary)});
  ASSERT_TRUE(rejoined.ok()) << rejoined.describe();
  std::cout << rejoined.out;
  EXPECT_NE(rejoined.out.find("syncreplica"), std::string::npos) << rejoined.out;
  auto oldconf = Config::load(primary.imapd_conf());
  ASSERT_TRUE(oldconf.ok());
  EXPECT_FALSE(oldconf->get_bool("sync_log"));
  ASSERT_EQ(primary.start(), "");

  // The new primary's channel brings it in line, keeping what it alone had.
  EXPECT_TRUE(wait_until(
      [&] { return static_cast<bool>(same_digest(replica, primary, {}, DigestLines::kLiveOnly)); },
      std::chrono::seconds(90)))
      << same_digest(replica, primary, {}, DigestLines::kLiveOnly).message();
  std::multiset<std::string> inbox = live_guids(replica, "user.alice");
  EXPECT_EQ(inbox.size(), 12u);  // 5 both + 3 old only + 4 new only
  for (const auto& g : old_inbox) EXPECT_TRUE(inbox.contains(g)) << "lost " << g;
  EXPECT_EQ(live_guids(replica, "user.alice.OnlyOld"), old_folder);
  // The new primary's folder keeps its name; the old side's one of the same
  // name comes back beside it as user.alice.Both-<8 hex of its uniqueid>.
  EXPECT_EQ(live_guids(replica, "user.alice.Both"), new_both);
  std::vector<std::string> both_names;
  auto st = open_store(replica);
  ASSERT_TRUE(st);
  ASSERT_TRUE(st->mailboxes().list("user.alice.Both-", false, [&](const store::MailboxEntry& e) {
    both_names.push_back(e.name);
    return true;
  }));
  ASSERT_EQ(both_names.size(), 1u);
  EXPECT_EQ(both_names[0].size(), std::string("user.alice.Both-").size() + 8) << both_names[0];
  EXPECT_EQ(live_guids(replica, both_names[0]), old_both);
  EXPECT_TRUE(same_digest(replica, primary, {}, DigestLines::kLiveOnly));
}

// The old primary still runs and its files are reachable (-O): it is fenced
// (read-only: LMTP answers 451 4.3.2 from then on) and what its channel log
// held is drained to the replica before the replica becomes the primary.
TEST(Failover, ReachableOldPrimaryIsFencedAndDrained) {
  Instance replica(promotable_replica_options());
  ASSERT_EQ(replica.start(), "");
  Instance primary(rejoinable_primary_options(replica));
  ASSERT_EQ(primary.start(), "");
  ASSERT_TRUE(primary.tool("cyr_mbox", {"create", "user.bob"}).ok());
  ASSERT_EQ(deliver(primary, "bob", 2, "synced"), "");
  ASSERT_TRUE(converges_to_same_digest(primary, replica, std::chrono::seconds(60)));

  // Its rolling client stops: the next deliveries stay in its channel log.
  primary.options().daemons.clear();
  primary.reload();
  ASSERT_TRUE(wait_until([&] { return processes_running(primary, "sync_client").empty(); },
                         std::chrono::seconds(20)));
  ASSERT_EQ(deliver(primary, "bob", 3, "pending"), "");
  ASSERT_NE(primary.channel_log("replica"), "");
  EXPECT_EQ(live_guids(replica, "user.bob").size(), 2u);

  RunResult promoted =
      replica.tool("cyr_promote", {"-M", replica.cyrus_conf(), "-p", pidfile_of(replica), "-o",
                                   "oldprimary=127.0.0.1:" + std::to_string(primary.port("csync")),
                                   "-O", primary.imapd_conf()});
  ASSERT_TRUE(promoted.ok()) << promoted.describe();
  std::cout << promoted.out;
  EXPECT_NE(promoted.out.find("Fenced the old primary"), std::string::npos) << promoted.out;
  EXPECT_NE(promoted.out.find("Drained the old primary's channel replica"), std::string::npos)
      << promoted.out;
  EXPECT_TRUE(std::filesystem::exists(primary.config_dir() + "/readonly"));

  // Everything the old primary had is on the new one, and the old one takes
  // no more mail.
  EXPECT_EQ(live_guids(replica, "user.bob"), live_guids(primary, "user.bob"));
  EXPECT_EQ(live_guids(replica, "user.bob").size(), 5u);
  std::string refused = deliver(primary, "bob", 1, "late");
  EXPECT_NE(refused.find("451"), std::string::npos) << refused;
  EXPECT_EQ(live_guids(primary, "user.bob").size(), 5u);
  ASSERT_EQ(deliver(replica, "bob", 1, "new"), "");
  EXPECT_EQ(live_guids(replica, "user.bob").size(), 6u);

  // The new primary's channel finds the old one fenced: refused, retried,
  // never given up (three refusals would fail any other bootstrap).
  auto refusals = [&] {
    size_t n = 0;
    for (const auto& l : lines_of(replica.master_log()))
      if (l.find("SYNCERROR channel=oldprimary") != std::string::npos &&
          l.find("IMAP_READ_ONLY") != std::string::npos)
        n++;
    return n;
  };
  ASSERT_TRUE(wait_until([&] { return refusals() >= 4; }, std::chrono::seconds(60)))
      << replica.master_log();

  // The old primary rejoins while its master runs (SIGHUP), and catches up.
  RunResult rejoined = primary.tool(
      "cyr_promote", {"--rejoin", "-M", primary.cyrus_conf(), "-p", pidfile_of(primary)});
  ASSERT_TRUE(rejoined.ok()) << rejoined.describe();
  std::cout << rejoined.out;
  EXPECT_NE(rejoined.out.find("Removed the fence"), std::string::npos) << rejoined.out;
  EXPECT_NE(rejoined.out.find("sent SIGHUP to master"), std::string::npos) << rejoined.out;
  EXPECT_TRUE(converges_to_same_digest(replica, primary, std::chrono::seconds(60)));
  EXPECT_EQ(live_guids(primary, "user.bob").size(), 6u);
}

}  // namespace
}  // namespace replimail::testing
