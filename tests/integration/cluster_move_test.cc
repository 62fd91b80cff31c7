// Issue 19's user moves on loopback (etcd and nginx from cluster_hosts.h,
// without its network namespaces): a 3-member etcd, two slots registered
// by their clusterd, nginx in front asking mailauthd, and `cyr_cluster move`
// run on the source slot while deliveries go on (routed by the directory's
// user entry, as an MTA's map lookup would, blind to the moves key) and an
// IMAP session is open through nginx.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "cluster/directory.h"
#include "cluster/etcd_client.h"
#include "cluster_hosts.h"
#include "digest_check.h"
#include "harness.h"

namespace replimail::testing {
namespace {

using namespace std::chrono_literals;

// A slot on loopback: lmtpd, imapd, sync_server, its clusterd and (when
// auth_port > 0) mailauthd; the same admin credentials for replication as
// every other slot (sync_authname), so a move can log in to the target.
Instance::Options move_slot_options(const std::string& etcd, const std::string& prefix,
                                    const std::string& name, int auth_port) {
  Instance::Options o;
  o.sync_log = false;
  o.users = {{"admin", "adminpw"}, {"alice", "alicepw"}, {"bob", "bobpw"}};
  o.services = {{"lmtp", "lmtpd -a"}, {"imap", "imapd"}, {"csync", "sync_server"}};
  o.imapd_extra = {"cluster_etcd_endpoints: " + etcd,
                   "cluster_etcd_prefix: " + prefix,
                   "cluster_slot_name: " + name,
                   "cluster_lease_ttl: 3",
                   "sync_authname: admin",
                   "sync_password: adminpw",
                   "failedloginpause: 0"};
  if (auth_port > 0) o.daemons["mailauthd"] = "mailauthd -l 127.0.0.1:" + std::to_string(auth_port);
  return o;
}

// The X-Test-Id values of `user`'s INBOX through IMAP on `port`.
std::set<std::string> inbox_ids(const Instance& any, int port, const std::string& user_pw,
                                std::string* error) {
  auto r = any.python("imap_script.py",
                      {"--port", std::to_string(port), "--user", user_pw, "SELECT INBOX",
                       "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (X-TEST-ID)])"});
  std::set<std::string> ids;
  if (!r.ok()) {
    *error = r.describe();
    return ids;
  }
  const std::string tag = "X-Test-Id: ";
  for (size_t at = r.out.find(tag); at != std::string::npos; at = r.out.find(tag, at + 1)) {
    size_t end = r.out.find_first_of("\r\n\\\"", at + tag.size());
    ids.insert(r.out.substr(at + tag.size(), end - (at + tag.size())));
  }
  return ids;
}

class ClusterMove : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = why_no_cluster_tools(); !why.empty()) GTEST_SKIP() << why;
    etcd_ = std::make_unique<EtcdCluster>(dir_.path());
    ASSERT_TRUE(etcd_->wait_ready()) << "etcd cluster did not elect a leader";
    auth_port_ = free_port();
    a_ = std::make_unique<Instance>(
        move_slot_options(etcd_->endpoints(), kPrefix, "slotA", auth_port_));
    b_ = std::make_unique<Instance>(move_slot_options(etcd_->endpoints(), kPrefix, "slotB", 0));
    for (Instance* inst : {a_.get(), b_.get()}) {
      inst->options().daemons["cluster"] = "clusterd -M " + inst->cyrus_conf();
      inst->write_configs();
      ASSERT_EQ(inst->start(), "");
    }
    ASSERT_TRUE(wait_for_port(auth_port_, 10000ms)) << a_->master_log();
    client_ = std::make_unique<cluster::EtcdClient>(etcd_->endpoint_list());
    directory_ =
        std::make_unique<cluster::Directory>(*client_, *cluster::KeyLayout::make(kPrefix));
    ASSERT_TRUE(wait_until(
        [&] {
          auto s = directory_->slots();
          return s.ok() && s->size() == 2;
        },
        15s))
        << a_->master_log() << b_->master_log();
    auto set = a_->tool("cyr_cluster", {"set-user", "alice", "slotA"});
    ASSERT_TRUE(set.ok()) << set.describe();
    ASSERT_EQ(create_mailboxes(*a_, {"user.alice", "user.alice.Sent"}), "");
  }

  RunResult move(const std::vector<std::string>& args) { return a_->tool("cyr_cluster", args); }

  static constexpr const char* kPrefix = "/rm-move/";
  TempDir dir_;
  std::unique_ptr<EtcdCluster> etcd_;
  int auth_port_ = 0;
  std::unique_ptr<Instance> a_, b_;
  std::unique_ptr<cluster::EtcdClient> client_;
  std::unique_ptr<cluster::Directory> directory_;
};

// The move under load: deliveries routed by the user entry go on the whole
// time and an IMAP session is open through nginx. Every delivery
// acknowledged (by either slot) is on the new primary afterwards, the open
// session was ended, the next login reads the new slot, and the old copy,
// now a replica, catches up to the same digest.
TEST_F(ClusterMove, UserMovesUnderLoadWithNothingLost) {
  ASSERT_EQ(deliver(*a_, "alice", 40, "before"), "");
  MailProxy nginx(dir_.path(), "127.0.0.1:" + std::to_string(auth_port_));
  ASSERT_TRUE(wait_for_port(nginx.imap_port(), 10000ms)) << nginx.error_log();

  std::string stop = dir_.path() + "/stop-load";
  Background load({"/usr/bin/python3", py_script("move_load.py"), "--etcd", etcd_->endpoints(),
                   "--prefix", kPrefix, "--user", "alice", "--stop-file", stop, "--imap-port",
                   std::to_string(nginx.imap_port()), "--password", "alicepw"});
  // Deliveries under way before the move starts.
  ASSERT_TRUE(wait_until([&] { return a_->snapshot("user.alice").records.size() >= 50; }, 30s))
      << a_->master_log();

  auto mv = move({"move", "alice", "slotB"});
  std::printf("%s", mv.out.c_str());
  ASSERT_TRUE(mv.ok()) << mv.describe() << a_->master_log();
  EXPECT_NE(mv.out.find("pause_ms="), std::string::npos) << mv.out;
  EXPECT_NE(mv.out.find("phase fenced"), std::string::npos) << mv.out;

  // Deliveries go on to the new primary for a while, then stop.
  size_t at_switch = b_->snapshot("user.alice").records.size();
  ASSERT_TRUE(wait_until(
      [&] { return b_->snapshot("user.alice").records.size() >= at_switch + 10; }, 30s))
      << b_->master_log();
  std::ofstream(stop) << "stop\n";
  RunResult done = load.wait(60s);
  ASSERT_TRUE(done.ok()) << done.describe();
  auto report = nlohmann::json::parse(done.out, nullptr, false);
  ASSERT_TRUE(report.is_object()) << done.out;
  std::printf("load: %zu acknowledged, %d temporary refusals (%s), open session: %s\n",
              report["acked"].size(), report["temp_refusals"].get<int>(),
              report["refusal_texts"].dump().c_str(), report["bye"].dump().c_str());
  EXPECT_TRUE(report["failed"].empty()) << done.out;

  // The directory: slotB primary, slotA its replica, no move left.
  auto entry = directory_->user("alice");
  ASSERT_TRUE(entry.ok() && entry->has_value());
  EXPECT_EQ((*entry)->primary, "slotB");
  EXPECT_EQ((*entry)->replicas, std::vector<std::string>{"slotA"});
  EXPECT_TRUE(client_->get(directory_->layout().move_key("alice"))->kvs.empty());

  // Nothing acknowledged is missing from the new primary, read through
  // nginx (so the login lands on slotB: slotA lacks the later messages).
  std::string error;
  std::set<std::string> on_b = inbox_ids(*a_, nginx.imap_port(), "alice:alicepw", &error);
  ASSERT_EQ(error, "");
  std::vector<std::string> lost;
  for (const auto& item : report["acked"]) {
    std::string id = item[0].get<std::string>();
    if (!on_b.count(id)) lost.push_back(id + " (acknowledged by " + item[1].get<std::string>() + ")");
  }
  EXPECT_TRUE(lost.empty()) << lost.size() << " acknowledged deliveries lost, first: " << lost[0];
  EXPECT_EQ(on_b.size(), report["acked"].size() + 40);
  bool b_took_some = false;
  for (const auto& item : report["acked"]) b_took_some |= item[1] == "slotB";
  EXPECT_TRUE(b_took_some) << "deliveries after the switch go to slotB";
  // The session open on slotA through the move was ended.
  EXPECT_FALSE(report["bye"].is_null()) << done.out;

  // The old copy is a replica now: slotB's replication (here one sync_client
  // -u to slotA's sync_server) brings it to the same digest.
  auto sync = b_->tool("sync_client",
                       {"-S", "127.0.0.1:" + std::to_string(a_->port("csync")), "-u", "alice"});
  ASSERT_TRUE(sync.ok()) << sync.describe();
  EXPECT_SAME_DIGEST(*b_, *a_, {"-u", "alice"});
}

// Killed after the fence, the move is finished by --resume, or undone by
// --abort; a second move of the same user is refused while one is recorded.
TEST_F(ClusterMove, AKilledMoveIsResumedOrAborted) {
  ASSERT_EQ(deliver(*a_, "alice", 5, "before"), "");
  // A move recorded by hand as killed in phase fenced, with the fence set
  // (what a kill between the two leaves; the other order is the same).
  cluster::MoveRecord rec;
  rec.user = "alice";
  rec.source = "slotA";
  rec.target = "slotB";
  rec.phase = cluster::MovePhase::kFenced;
  rec.started = rec.since = 1;
  std::string key = directory_->layout().move_key("alice");
  ASSERT_TRUE(client_->put(key, cluster::encode_move(rec)).ok());
  std::filesystem::create_directories(a_->config_dir() + "/fence");
  std::ofstream(a_->config_dir() + "/fence/alice").close();
  std::string refused = deliver(*a_, "alice", 1, "fenced");
  EXPECT_NE(refused, "");
  EXPECT_NE(refused.find("451 4.2.1"), std::string::npos) << refused;

  auto again = move({"move", "alice", "slotB"});
  EXPECT_EQ(again.exit_code, 75) << again.describe();
  EXPECT_NE(again.err.find("--resume or --abort"), std::string::npos) << again.err;

  // --abort: the fence lifted, the key gone, alice still on slotA.
  auto ab = move({"move", "--abort", "alice"});
  ASSERT_TRUE(ab.ok()) << ab.describe();
  EXPECT_TRUE(client_->get(key)->kvs.empty());
  EXPECT_EQ((*directory_->user("alice"))->primary, "slotA");
  ASSERT_EQ(deliver(*a_, "alice", 1, "after-abort"), "");

  // Recorded again as killed in copying: --resume finishes the move.
  rec.phase = cluster::MovePhase::kCopying;
  ASSERT_TRUE(client_->put(key, cluster::encode_move(rec)).ok());
  auto res = move({"move", "--resume", "alice"});
  std::printf("%s", res.out.c_str());
  ASSERT_TRUE(res.ok()) << res.describe();
  EXPECT_TRUE(client_->get(key)->kvs.empty());
  EXPECT_EQ((*directory_->user("alice"))->primary, "slotB");
  EXPECT_SAME_DIGEST(*a_, *b_, {"-u", "alice"});
  // The source's fence stays: a delivery reaching the old copy through a
  // stale route is deferred (and retried at slotB), never accepted there.
  EXPECT_TRUE(access((a_->config_dir() + "/fence/alice").c_str(), F_OK) == 0);
  EXPECT_NE(deliver(*a_, "alice", 1, "stale-route"), "");
  // Nothing recorded: --resume and --abort say so.
  EXPECT_EQ(move({"move", "--resume", "alice"}).exit_code, 1);
  EXPECT_EQ(move({"move", "--abort", "alice"}).exit_code, 1);
  // Moving from a slot that is not the user's primary is refused.
  auto wrong = move({"move", "alice", "slotA"});
  EXPECT_EQ(wrong.exit_code, 1) << wrong.describe();
  EXPECT_NE(wrong.err.find("primary is slotB"), std::string::npos) << wrong.err;
}

// A bootstrap on either slot sends no copy that is not its slot's to send
// (cluster/bootstrap_gate.h): on the target, alice's copy while a move to
// it is under way (pushed to slotA, her primary, it would be refused and
// slotA's newer mail copied back into it as replica-only messages, which
// no pass of the move could then undo); on the source, the old copy the
// move left. Every other user is sent.
TEST_F(ClusterMove, ABootstrapSendsNeitherACopyAMoveIsFillingNorOneItLeft) {
  ASSERT_EQ(deliver(*a_, "alice", 5, "before"), "");
  auto set = a_->tool("cyr_cluster", {"set-user", "bob", "slotB"});
  ASSERT_TRUE(set.ok()) << set.describe();
  ASSERT_EQ(create_mailboxes(*b_, {"user.bob"}), "");
  ASSERT_EQ(deliver(*b_, "bob", 3, "bob"), "");
  const std::string to_a = "127.0.0.1:" + std::to_string(a_->port("csync"));
  const std::string to_b = "127.0.0.1:" + std::to_string(b_->port("csync"));

  // A move of alice to slotB under way: its key, a first pass's copy on
  // slotB, and mail to alice on slotA since.
  cluster::MoveRecord rec;
  rec.user = "alice";
  rec.source = "slotA";
  rec.target = "slotB";
  rec.started = rec.since = 1;
  std::string key = directory_->layout().move_key("alice");
  ASSERT_TRUE(client_->put(key, cluster::encode_move(rec)).ok());
  auto pass = a_->tool("sync_client", {"-S", to_b, "-u", "alice"});
  ASSERT_TRUE(pass.ok()) << pass.describe();
  ASSERT_EQ(deliver(*a_, "alice", 2, "after-pass"), "");
  ASSERT_EQ(b_->snapshot("user.alice").records.size(), 5u);

  // slotB's new channel to slotA: bob sent, alice left for a later run.
  auto boot = b_->tool("sync_client", {"-v", "-A", "-n", "toa", "-S", to_a});
  EXPECT_EQ(boot.exit_code, 75) << boot.describe();
  EXPECT_NE(boot.out.find("; 0 not this instance's, 1 left for a later run"), std::string::npos)
      << boot.out;
  EXPECT_NE(boot.err.find("being moved here from slotA"), std::string::npos) << boot.err;
  EXPECT_TRUE(same_mailbox(*b_, *a_, "user.bob"));
  EXPECT_EQ(b_->snapshot("user.alice").records.size(), 5u) << "nothing copied back";
  EXPECT_EQ(a_->snapshot("user.alice").records.size(), 7u);

  // The move runs to its end (its own key: this one goes first).
  ASSERT_TRUE(client_->erase(key).ok());
  auto mv = move({"move", "alice", "slotB"});
  ASSERT_TRUE(mv.ok()) << mv.describe();
  ASSERT_EQ(deliver(*b_, "alice", 1, "on-b"), "");
  // slotB's bootstrap finishes with alice, its user now.
  auto resumed = b_->tool("sync_client", {"-v", "-A", "-n", "toa", "-S", to_a});
  EXPECT_TRUE(resumed.ok()) << resumed.describe();
  EXPECT_NE(resumed.out.find("; 1 users done before; 0 not this instance's, 0 left"),
            std::string::npos)
      << resumed.out;
  EXPECT_SAME_DIGEST(*b_, *a_, {"-u", "alice"});
  // slotA's new channel to slotB: the copy the move left there (fenced,
  // moved, one message behind now) is not sent (sent, it would be refused
  // and slotB's newer message copied back into it); bob's copy there is,
  // and changes nothing.
  ASSERT_EQ(deliver(*b_, "alice", 1, "on-b-again"), "");
  auto from_a = a_->tool("sync_client", {"-v", "-A", "-n", "tob", "-S", to_b});
  EXPECT_TRUE(from_a.ok()) << from_a.describe();
  EXPECT_NE(from_a.out.find("; 0 users done before; 1 not this instance's, 0 left"),
            std::string::npos)
      << from_a.out;
  EXPECT_NE(from_a.err.find("moved away from this instance"), std::string::npos) << from_a.err;
  EXPECT_EQ(a_->snapshot("user.alice").records.size(), 8u) << "nothing copied back";
  EXPECT_EQ(b_->snapshot("user.alice").records.size(), 9u);
  EXPECT_SAME_DIGEST(*a_, *b_, {"-u", "bob"});
}

}  // namespace
}  // namespace replimail::testing
