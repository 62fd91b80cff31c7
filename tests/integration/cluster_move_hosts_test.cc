// Issue 19's user move on three hosts (the cluster_hosts.h fixture: network
// namespaces on a bridge, an etcd member per host, mailauthd, lmtpproxyd
// and nginx in front): alice moved from slot sa on host 0 to slot sb on
// host 1 and back, under load: deliveries through lmtpproxyd, deliveries
// routed blind to the moves key (an MTA's stale map: only the source's
// fence stands between them and the old copy), and an IMAP session open
// through nginx.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cluster_hosts.h"
#include "digest_check.h"
#include "harness.h"

namespace replimail::testing {
namespace {

using namespace std::chrono_literals;

// How many times each X-Test-Id is in `user`'s INBOX, read through nginx's
// IMAP (so from the slot mailauthd routes the login to).
std::map<std::string, int> inbox_id_counts(ClusterHosts& hosts, const std::string& user_pw,
                                           std::string* error) {
  auto r = hosts.front().python(
      "imap_script.py",
      {"--timeout", "60", "--port", std::to_string(hosts.imap_port()), "--user", user_pw,
       "SELECT INBOX", "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (X-TEST-ID)])"});
  std::map<std::string, int> ids;
  if (!r.ok()) {
    *error = r.describe();
    return ids;
  }
  const std::string tag = "X-Test-Id: ";
  for (size_t at = r.out.find(tag); at != std::string::npos; at = r.out.find(tag, at + 1)) {
    size_t end = r.out.find_first_of("\r\n\\\"", at + tag.size());
    ids[r.out.substr(at + tag.size(), end - (at + tag.size()))]++;
  }
  return ids;
}

// mailauthd asked directly, as nginx asks it: its Auth-* answer headers,
// one "Name: value" a line.
RunResult ask_mailauthd(ClusterHosts& hosts, const std::string& user, const std::string& pw) {
  return run({"/usr/bin/python3", "-c",
              "import urllib.request\n"
              "r=urllib.request.Request('http://127.0.0.1:" +
                  std::to_string(hosts.auth_port()) +
                  "/auth',headers={'Auth-Method':'plain','Auth-User':'" + user + "','Auth-Pass':'" +
                  pw +
                  "','Auth-Protocol':'imap','Auth-Login-Attempt':'1','Client-IP':'127.0.0.1'})\n"
                  "with urllib.request.urlopen(r,timeout=30) as a:\n"
                  "  for k,v in a.getheaders():\n"
                  "    if k.startswith('Auth-'): print(k+': '+v)\n"});
}

// The load of one move: deliveries through lmtpproxyd with an IMAP session
// open through nginx, and deliveries routed by the user entry alone
// (py/move_load.py, both until the stop file exists).
class MoveLoad {
 public:
  MoveLoad(ClusterHosts& hosts, const std::string& dir, const std::string& round)
      : stop_(dir + "/stop-" + round) {
    const std::vector<std::string> common = {"/usr/bin/python3", py_script("move_load.py"),
                                             "--etcd",           hosts.etcd_endpoints(),
                                             "--prefix",         hosts.options().prefix,
                                             "--user",           "alice",
                                             "--stop-file",      stop_};
    std::vector<std::string> via = common, direct = common;
    via.insert(via.end(),
               {"--via", std::to_string(hosts.lmtp_port()), "--prefix-id", round + "-px",
                "--imap-port", std::to_string(hosts.imap_port()), "--password", "alicepw"});
    direct.insert(direct.end(), {"--prefix-id", round + "-dr"});
    via_ = std::make_unique<Background>(via);
    direct_ = std::make_unique<Background>(direct);
  }

  // Stops both and reads their reports; "" or what went wrong.
  std::string stop() {
    std::ofstream(stop_) << "stop\n";
    const std::pair<Background*, nlohmann::json*> both[] = {{via_.get(), &via_report},
                                                            {direct_.get(), &direct_report}};
    for (const auto& [b, report] : both) {
      RunResult done = b->wait(120s);
      if (!done.ok()) return done.describe();
      *report = nlohmann::json::parse(done.out, nullptr, false);
      if (!report->is_object()) return "not a report: " + done.out;
    }
    return "";
  }

  // Every acknowledged id, with who acknowledged it.
  std::vector<std::pair<std::string, std::string>> acked() const {
    std::vector<std::pair<std::string, std::string>> all;
    for (const auto* r : {&via_report, &direct_report})
      for (const auto& item : (*r)["acked"])
        all.emplace_back(item[0].get<std::string>(), item[1].get<std::string>());
    return all;
  }

  nlohmann::json via_report, direct_report;

 private:
  std::string stop_;
  std::unique_ptr<Background> via_, direct_;
};

// What a round of load left: every acknowledged delivery in alice's INBOX
// exactly once (read through nginx), and nothing else than `before` and
// those. Returns what is wrong, "" if nothing.
std::string check_nothing_lost(ClusterHosts& hosts, const MoveLoad& load,
                               const std::map<std::string, int>& before) {
  std::string error;
  auto counts = inbox_id_counts(hosts, "alice:alicepw", &error);
  if (!error.empty()) return "reading through nginx: " + error;
  std::string wrong;
  size_t lost = 0, twice = 0;
  for (const auto& [id, by] : load.acked()) {
    int n = counts.count(id) ? counts.at(id) : 0;
    if (n == 0 && lost++ < 3) wrong += id + " (acknowledged by " + by + ") missing; ";
    if (n > 1 && twice++ < 3) wrong += id + " present " + std::to_string(n) + " times; ";
  }
  size_t expected = before.size() + load.acked().size();
  if (counts.size() != expected)
    wrong += std::to_string(counts.size()) + " distinct messages, expected " +
             std::to_string(expected) + "; ";
  if (!wrong.empty())
    wrong = std::to_string(lost) + " lost, " + std::to_string(twice) + " duplicated of " +
            std::to_string(load.acked().size()) + " acknowledged: " + wrong;
  return wrong;
}

void print_round(const char* what, const MoveLoad& load, const RunResult& mv) {
  std::printf("%s", mv.out.c_str());
  std::printf(
      "%s: %zu acknowledged (%zu through lmtpproxyd), temporary refusals %d through lmtpproxyd "
      "%s, %d routed by the entry %s; IMAP session: %s, relogins %d\n",
      what, load.acked().size(), load.via_report["acked"].size(),
      load.via_report["temp_refusals"].get<int>(), load.via_report["refusal_texts"].dump().c_str(),
      load.direct_report["temp_refusals"].get<int>(),
      load.direct_report["refusal_texts"].dump().c_str(), load.via_report["bye"].dump().c_str(),
      load.via_report["relogins"].get<int>());
}

// Records in sa's or sb's copy of alice's INBOX, expunged included.
size_t records(ClusterHosts& hosts, const std::string& slot) {
  return hosts.slot(slot).snapshot("user.alice").records.size();
}

// The passes a move ran under its fence that the target refused (its copy
// changed under them): none may be, as nothing new is logged for the user
// then and the source waits for its own rolling channel into the target
// before each pass (cluster/move_source.h).
std::string fenced_passes_refused(const RunResult& mv) {
  size_t fenced = mv.out.find("phase fenced");
  if (fenced == std::string::npos) return "no fenced phase in:\n" + mv.out;
  std::string refused;
  for (size_t at = mv.out.find("; again", fenced); at != std::string::npos;
       at = mv.out.find("; again", at + 1))
    refused += mv.out.substr(mv.out.rfind('\n', at) + 1, at - mv.out.rfind('\n', at) - 1) + "\n";
  return refused;
}

RunResult move_on(ClusterHosts& hosts, const std::string& from, const std::string& to) {
  const Instance& source = hosts.slot(from);
  return hosts.run_on(hosts.host_of(from),
                      {bin_dir() + "/cyr_cluster", "-C", source.imapd_conf(), "move", "alice", to});
}

// A login during a move's fence is answered "try again" by mailauthd (with
// Auth-Wait: nginx keeps the client), never routed to the source.
TEST(ClusterHostsMove, MailauthdHoldsLoginsWhileAMoveIsFenced) {
  ClusterHosts hosts;
  if (auto why = hosts.unavailable(); !why.empty()) GTEST_SKIP() << why;
  ASSERT_EQ(hosts.start(), "") << hosts.logs();
  ASSERT_EQ(hosts.start_slot({"sa", 0, "primary", {}}), "") << hosts.logs();
  ASSERT_EQ(hosts.set_user("alice", "sa", {}), "");
  ASSERT_TRUE(hosts.slot("sa").tool("cyr_mbox", {"create", "user.alice"}).ok());

  auto routed = ask_mailauthd(hosts, "alice", "alicepw");
  ASSERT_TRUE(routed.ok()) << routed.describe();
  EXPECT_NE(routed.out.find("Auth-Status: OK"), std::string::npos) << routed.out;
  EXPECT_NE(routed.out.find("Auth-Server: " + hosts.address(0)), std::string::npos) << routed.out;

  cluster::MoveRecord move;
  move.user = "alice";
  move.source = "sa";
  move.target = "sb";
  const std::string key = hosts.directory().layout().move_key("alice");
  for (auto phase : {cluster::MovePhase::kFenced, cluster::MovePhase::kSwitched}) {
    move.phase = phase;
    ASSERT_TRUE(hosts.directory().etcd().put(key, cluster::encode_move(move)).ok());
    auto held = ask_mailauthd(hosts, "alice", "alicepw");
    ASSERT_TRUE(held.ok()) << held.describe();
    EXPECT_NE(held.out.find("Auth-Status: Temporary server problem"), std::string::npos)
        << held.out;
    EXPECT_NE(held.out.find("Auth-Wait: "), std::string::npos) << held.out;
    EXPECT_EQ(held.out.find("Auth-Server"), std::string::npos) << held.out;
    // Through nginx: the login is refused (NO), not proxied to sa.
    auto login = hosts.front().python(
        "imap_script.py", {"--timeout", "30", "--port", std::to_string(hosts.imap_port()), "--user",
                           "alice:alicepw", "SELECT INBOX"});
    EXPECT_FALSE(login.ok()) << login.describe();
  }
  // Copying: routed to the primary as before; the key gone: the same.
  move.phase = cluster::MovePhase::kCopying;
  ASSERT_TRUE(hosts.directory().etcd().put(key, cluster::encode_move(move)).ok());
  auto copying = ask_mailauthd(hosts, "alice", "alicepw");
  EXPECT_NE(copying.out.find("Auth-Status: OK"), std::string::npos) << copying.out;
  ASSERT_TRUE(hosts.directory().etcd().erase(key).ok());
  auto login = hosts.front().python(
      "imap_script.py", {"--timeout", "30", "--port", std::to_string(hosts.imap_port()), "--user",
                         "alice:alicepw", "SELECT INBOX"});
  EXPECT_TRUE(login.ok()) << login.describe();
  EXPECT_NE(hosts.front().master_log().find("is being moved to sb (fenced)"), std::string::npos);
}

// alice moved from sa (host 0) to sb (host 1) under load, then back to sa,
// which still holds her fence from the first move: every acknowledged
// delivery is on the new primary exactly once after each move, the IMAP
// session open through nginx is ended with BYE [UNAVAILABLE], the next
// login through the same nginx address reads the new primary, and the old
// copy, a replica fed by sb's rolling replication, reaches sb's digest.
TEST(ClusterHostsMove, UserMovedBetweenHostsUnderLoadAndBackWithNothingLost) {
  ClusterHosts hosts;
  if (auto why = hosts.unavailable(); !why.empty()) GTEST_SKIP() << why;
  ASSERT_EQ(hosts.start(), "") << hosts.logs();
  ASSERT_EQ(hosts.start_slot({"sa", 0, "primary", {}}), "") << hosts.logs();
  ASSERT_EQ(hosts.start_slot({"sb", 1, "primary", {"sa"}}), "") << hosts.logs();
  ASSERT_EQ(hosts.set_user("alice", "sa", {}), "");
  ASSERT_TRUE(hosts.slot("sa").tool("cyr_mbox", {"create", "user.alice"}).ok());
  ASSERT_EQ(deliver(hosts.lmtp_port(), "alice", 20, "before"), "");
  std::string error;
  auto before = inbox_id_counts(hosts, "alice:alicepw", &error);
  ASSERT_EQ(error, "");
  ASSERT_EQ(before.size(), 20u);
  TempDir dir;

  // sa -> sb.
  {
    MoveLoad load(hosts, dir.path(), "ab");
    ASSERT_TRUE(wait_until([&] { return records(hosts, "sa") >= 40; }, 60s)) << hosts.logs();
    auto mv = move_on(hosts, "sa", "sb");
    ASSERT_TRUE(mv.ok()) << mv.describe() << hosts.logs();
    size_t at_switch = records(hosts, "sb");
    ASSERT_TRUE(wait_until([&] { return records(hosts, "sb") >= at_switch + 10; }, 60s))
        << hosts.logs();
    ASSERT_EQ(load.stop(), "");
    print_round("sa -> sb", load, mv);
    EXPECT_NE(mv.out.find("pause_ms="), std::string::npos) << mv.out;
    EXPECT_EQ(fenced_passes_refused(mv), "") << mv.out;
    EXPECT_TRUE(load.via_report["failed"].empty() && load.direct_report["failed"].empty());
    // The session open on sa was ended cleanly, by sa's fence.
    EXPECT_NE(load.via_report["bye"].dump().find("UNAVAILABLE"), std::string::npos)
        << load.via_report.dump();

    auto entry = hosts.directory().user("alice");
    ASSERT_TRUE(entry.ok() && entry->has_value());
    EXPECT_EQ((*entry)->primary, "sb");
    EXPECT_EQ((*entry)->replicas, std::vector<std::string>{"sa"});
    EXPECT_EQ(check_nothing_lost(hosts, load, before), "");
    bool sb_took = false;
    for (const auto& [id, by] : load.acked()) sb_took |= by == "sb";
    EXPECT_TRUE(sb_took) << "deliveries routed by the entry go to sb after the switch";
    // sa is alice's replica now: sb's rolling channel brings it level.
    EXPECT_TRUE(converges_to_same_digest(hosts.slot("sb"), hosts.slot("sa"), 60s, {"-u", "alice"}));
    before = inbox_id_counts(hosts, "alice:alicepw", &error);
    ASSERT_EQ(error, "");
  }

  // sb -> sa: sa holds alice's fence from the move away; the move has sa's
  // clusterd lift it once the directory names sa again.
  ASSERT_TRUE(std::filesystem::exists(hosts.slot("sa").config_dir() + "/fence/alice"));
  {
    MoveLoad load(hosts, dir.path(), "ba");
    size_t start = records(hosts, "sb");
    ASSERT_TRUE(wait_until([&] { return records(hosts, "sb") >= start + 20; }, 60s))
        << hosts.logs();
    auto mv = move_on(hosts, "sb", "sa");
    ASSERT_TRUE(mv.ok()) << mv.describe() << hosts.logs();
    EXPECT_NE(mv.out.find("fence of alice lifted"), std::string::npos) << mv.out;
    // sb's rolling channel feeds sa: under the fence it has applied
    // everything before a pass begins, so no fenced pass races it.
    EXPECT_EQ(fenced_passes_refused(mv), "") << mv.out;
    size_t at_switch = records(hosts, "sa");
    ASSERT_TRUE(wait_until([&] { return records(hosts, "sa") >= at_switch + 10; }, 60s))
        << "sa takes alice's deliveries again\n"
        << hosts.logs();
    ASSERT_EQ(load.stop(), "");
    print_round("sb -> sa", load, mv);
    EXPECT_TRUE(load.via_report["failed"].empty() && load.direct_report["failed"].empty());
    EXPECT_EQ((*hosts.directory().user("alice"))->primary, "sa");
    EXPECT_EQ(check_nothing_lost(hosts, load, before), "");
    EXPECT_FALSE(std::filesystem::exists(hosts.slot("sa").config_dir() + "/fence/alice"));
    EXPECT_TRUE(std::filesystem::exists(hosts.slot("sb").config_dir() + "/fence/alice"));
    auto command =
        hosts.directory().etcd().get_prefix(hosts.directory().layout().commands_prefix());
    ASSERT_TRUE(command.ok());
    EXPECT_TRUE(command->kvs.empty()) << "the unfence command is deleted with the move";
  }
}

}  // namespace
}  // namespace replimail::testing
