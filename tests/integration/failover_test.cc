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
#include "store/staged_message.h"

namespace replimail::testing {
namespace {

std::string deliver(const Instance& inst, const std::string& rcpt, int n,
                    const std::string& prefix) {
  auto r = inst.python("lmtp_deliver.py", {"--port", std::to_string(inst.lmtp_port()), "-n",
                                           std::to_string(n), "--rcpt", rcpt, "--prefix", prefix});
  return r.ok() ? "" : r.describe();
}

Status append_text(const Instance& inst, const std::string& mailbox, const std::string& text) {
  auto cfg = Config::load(inst.imapd_conf());
  if (!cfg.ok()) return cfg.status();
  auto st = store::Instance::open(*cfg);
  if (!st.ok()) return st.status();
  auto msg = (*st)->stage_message();
  if (!msg.ok()) return msg.status();
  Status s = (*msg)->write(text);
  if (s) s = (*msg)->finish();
  if (!s) return s;
  store::AppendRequest req;
  req.mailbox = mailbox;
  req.message = msg->get();
  return (*st)->append({req})[0].status;
}

// GUIDs of the live messages of `mailbox` (empty if it does not exist).
std::multiset<std::string> live_guids(const Instance& inst, const std::string& mailbox) {
  std::multiset<std::string> out;
  auto snap = inst.snapshot(mailbox);
  for (const auto& r : snap.records)
    if (!r.expunged()) out.insert(r.guid);
  return out;
}

// The digest without the records both sides expunged at a split-brain UID:
// each side keeps its own expunged copy there, as Cyrus's replica does
// (the live messages, counters and CRCs are compared in full).
std::vector<std::string> digest_without_expunged(const Instance& inst, std::string* error) {
  Digest d = digest_of(inst);
  *error = d.error;
  std::vector<std::string> out;
  for (const auto& l : d.lines) {
    if (l.starts_with("hash ")) continue;
    if (l.starts_with("record ") && l.find("Expunged") != std::string::npos) continue;
    out.push_back(l);
  }
  return out;
}

::testing::AssertionResult same_live_state(const Instance& a, const Instance& b) {
  std::string ea, eb;
  auto da = digest_without_expunged(a, &ea);
  auto db = digest_without_expunged(b, &eb);
  if (!ea.empty() || !eb.empty()) return ::testing::AssertionFailure() << ea << eb;
  if (da == db) return ::testing::AssertionSuccess();
  auto f = ::testing::AssertionFailure();
  std::set<std::string> sa(da.begin(), da.end()), sb(db.begin(), db.end());
  for (const auto& l : sa)
    if (!sb.contains(l)) f << "- " << l << "\n";
  for (const auto& l : sb)
    if (!sa.contains(l)) f << "+ " << l << "\n";
  return f;
}

// The processes running `program` under `inst`'s master.
std::vector<pid_t> children_running(const Instance& inst, const std::string& program) {
  std::vector<pid_t> out;
  for (pid_t pid : descendants_of(inst.master_pid()))
    if (slurp("/proc/" + std::to_string(pid) + "/cmdline").find(program) != std::string::npos)
      out.push_back(pid);
  return out;
}

std::string pidfile_of(const Instance& inst) { return inst.state_dir() + "/run/master.pid"; }

// The replica, ready to be promoted: it holds the credentials its channels
// will use (the same administrator on every instance).
Instance::Options replica_options() {
  Instance::Options o;
  o.services = {{"lmtp", "lmtpd -a"}, {"csync", "sync_server"}};
  o.channels = {"squatter"};
  o.imapd_extra = {"failedloginpause: 0", "sync_authname: admin", "sync_password: adminpw",
                   "sync_repeat_interval: 1s", "sync_reconnect_maxwait: 1s"};
  return o;
}

// The primary, feeding `replica` on channel "replica"; it also runs
// sync_server, so that it can come back as a replica.
Instance::Options primary_options(const Instance& replica) {
  Instance::Options o;
  o.services = {{"lmtp", "lmtpd -a"}, {"csync", "sync_server"}};
  o.channels = {"replica"};
  o.imapd_extra = {"failedloginpause: 0", "sync_authname: admin", "sync_password: adminpw",
                   "replica_sync_host: 127.0.0.1:" + std::to_string(replica.port("csync")),
                   "sync_repeat_interval: 1s"};
  o.daemons = {{"syncreplica", "sync_client -r -n replica"}};
  return o;
}

TEST(Failover, PrimaryKilledReplicaPromotedOldPrimaryRejoinsWithNothingLost) {
  Instance replica(replica_options());
  ASSERT_EQ(replica.start(), "");
  Instance primary(primary_options(replica));
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
        auto left = children_running(replica, "sync_server");
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
  EXPECT_TRUE(wait_until([&] { return static_cast<bool>(same_live_state(replica, primary)); },
                         std::chrono::seconds(90)))
      << same_live_state(replica, primary).message();
  std::multiset<std::string> inbox = live_guids(replica, "user.alice");
  EXPECT_EQ(inbox.size(), 12u);  // 5 both + 3 old only + 4 new only
  for (const auto& g : old_inbox) EXPECT_TRUE(inbox.contains(g)) << "lost " << g;
  EXPECT_EQ(live_guids(replica, "user.alice.OnlyOld"), old_folder);
  // The new primary's folder keeps its name; the old side's one of the same
  // name comes back beside it as user.alice.Both-<8 hex of its uniqueid>.
  EXPECT_EQ(live_guids(replica, "user.alice.Both"), new_both);
  std::vector<std::string> both_names;
  auto cfg = Config::load(replica.imapd_conf());
  ASSERT_TRUE(cfg.ok());
  auto st = store::Instance::open(*cfg);
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE((*st)->mailboxes().list("user.alice.Both-", false, [&](const store::MailboxEntry& e) {
    both_names.push_back(e.name);
    return true;
  }));
  ASSERT_EQ(both_names.size(), 1u);
  EXPECT_EQ(both_names[0].size(), std::string("user.alice.Both-").size() + 8) << both_names[0];
  EXPECT_EQ(live_guids(replica, both_names[0]), old_both);
  EXPECT_TRUE(same_live_state(replica, primary));
}

// The old primary still runs and its files are reachable (-O): it is fenced
// (read-only: LMTP answers 451 4.3.2 from then on) and what its channel log
// held is drained to the replica before the replica becomes the primary.
TEST(Failover, ReachableOldPrimaryIsFencedAndDrained) {
  Instance replica(replica_options());
  ASSERT_EQ(replica.start(), "");
  Instance primary(primary_options(replica));
  ASSERT_EQ(primary.start(), "");
  ASSERT_TRUE(primary.tool("cyr_mbox", {"create", "user.bob"}).ok());
  ASSERT_EQ(deliver(primary, "bob", 2, "synced"), "");
  ASSERT_TRUE(converges_to_same_digest(primary, replica, std::chrono::seconds(60)));

  // Its rolling client stops: the next deliveries stay in its channel log.
  primary.options().daemons.clear();
  primary.reload();
  ASSERT_TRUE(wait_until([&] { return children_running(primary, "sync_client").empty(); },
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
