// Full-text search end to end: squatter indexing a real instance, imapd
// answering SEARCH from the index, compared with an imapd that scans
// (search_engine: none) over the same store; rolling squatter under master
// indexing new mail within a second; a replica indexing what it receives.
//
// REPLIMAIL_SEARCH_MESSAGES sets the size of the big comparison (default
// 2000, so that CI stays fast; the figure is 10000).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "harness.h"
#include "store/instance.h"

namespace replimail::testing {
namespace {

using Clock = std::chrono::steady_clock;

int message_count() {
  const char* env = std::getenv("REPLIMAIL_SEARCH_MESSAGES");
  return env ? std::atoi(env) : 2000;
}

// An instance with an indexed imapd ("imap") and a scanning one
// ("imapscan", the same store under a copy of imapd.conf saying
// search_engine: none), and optionally a rolling squatter.
struct SearchInstance {
  explicit SearchInstance(bool rolling, std::map<std::string, std::string> extra_services = {}) {
    Instance::Options o;
    o.users = {{"admin", "adminpw"}, {"alice", "alicepw"}};
    o.services = {{"lmtp", "lmtpd -a"}, {"imap", "imapd"}};
    for (auto& [k, v] : extra_services) o.services[k] = v;
    o.imapd_extra = {"search_engine: xapian", "failedloginpause: 0"};
    if (rolling) o.daemons = {{"squatter", "squatter -R -d"}};
    inst = std::make_unique<Instance>(o);
    scan_conf = inst->state_dir() + "/etc/imapd-scan.conf";
    inst->options().services["imapscan"] = "imapd -C " + scan_conf;
    inst->write_configs();
    std::string conf = slurp(inst->imapd_conf());
    auto at = conf.find("search_engine: xapian");
    conf.replace(at, std::string("search_engine: xapian").size(), "search_engine: none");
    spit(scan_conf, conf);
  }

  std::unique_ptr<Instance> inst;
  std::string scan_conf;
};

RunResult python(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/python3", py_script("search_cases.py")};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, "", std::chrono::seconds(900));
}

RunResult deliver(const Instance& inst, int count, int start = 0) {
  return python({"deliver", "--lmtp", std::to_string(inst.lmtp_port()), "--rcpt", "alice",
                 "--count", std::to_string(count), "--start", std::to_string(start)});
}

// 100 generated UID SEARCHes on every port, compared with the first's.
RunResult compare(const std::vector<int>& ports, int queries = 100) {
  std::vector<std::string> args = {
      "compare", "--user", "alice", "--password", "alicepw", "--queries", std::to_string(queries)};
  for (int p : ports) args.push_back(std::to_string(p));
  return python(args);
}

// Expunges `uids` of user.alice through the store, as imapd would.
void expunge(const Instance& inst, const std::vector<uint32_t>& uids) {
  auto store = open_store(inst);
  ASSERT_TRUE(store);
  Status s = store->expunge("user.alice", uids);
  ASSERT_TRUE(s.is_ok()) << s.to_string();
}

// UIDs squatter -e finds for a (stemmed) word, straight from the index.
std::string index_words(const Instance& inst, const std::string& word) {
  auto r = inst.tool("squatter", {"-e", word, "user.alice"});
  return r.ok() ? r.out : "error: " + r.describe();
}

TEST(Search, IndexAnswersEqualAFullScan) {
  SearchInstance si(false);
  Instance& inst = *si.inst;
  ASSERT_EQ(inst.start(), "");
  ASSERT_TRUE(inst.tool("cyr_mbox", {"create", "user.alice"}).ok());
  const int n = message_count();
  auto d = deliver(inst, n);
  ASSERT_TRUE(d.ok()) << d.describe();
  auto t0 = Clock::now();
  auto sq = inst.tool("squatter", {"-v", "-u", "alice"});
  ASSERT_TRUE(sq.ok()) << sq.describe();
  auto secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("squatter -u alice: %d messages in %.1f s\n", n, secs);
  // Some mail the index does not cover yet, and some expunged.
  ASSERT_TRUE(deliver(inst, 25, n).ok());
  expunge(inst, {3, 77, 500});
  auto c = compare({inst.port("imap"), inst.port("imapscan")});
  EXPECT_TRUE(c.ok()) << c.describe();
  std::printf("%s", c.out.c_str());
  EXPECT_NE(c.out.find("\"differences\": []"), std::string::npos) << c.out;
}

// A message with a word no generated message has, delivered over LMTP.
RunResult deliver_marker(const Instance& inst, const std::string& word) {
  return python(
      {"marker", "--lmtp", std::to_string(inst.lmtp_port()), "--rcpt", "alice", "--word", word});
}

// Polls `squatter -e word` until it names a UID; the seconds since `t0`,
// or -1 after `limit`.
double seconds_until_indexed(const Instance& inst, const std::string& word, double limit,
                             Clock::time_point t0 = Clock::now()) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      t0 + std::chrono::duration<double>(limit) - Clock::now());
  bool indexed = wait_until(
      [&] {
        std::string out = index_words(inst, word);
        return out.rfind("user.alice: ", 0) == 0 && out.size() > 13;
      },
      std::max(left, std::chrono::milliseconds(0)));
  return indexed ? std::chrono::duration<double>(Clock::now() - t0).count() : -1;
}

// New mail becomes searchable through the index without a squatter run by
// hand. How soon is printed, not asserted: the squatter wakes on the
// channel log (inotify) with a poll every second behind it, so no bound a
// loaded machine keeps would tell the two apart, and speed is the
// benchmarks' business (bench/).
TEST(Search, RollingSquatterIndexesNewMail) {
  SearchInstance si(true);
  Instance& inst = *si.inst;
  ASSERT_EQ(inst.start(), "");
  ASSERT_TRUE(inst.tool("cyr_mbox", {"create", "user.alice"}).ok());
  ASSERT_TRUE(deliver(inst, 200).ok());
  ASSERT_GE(seconds_until_indexed(inst, "tombstone", 30), 0) << inst.master_log();
  for (const char* word : {"zanzibarquux", "quokkaflute", "marmalade"}) {
    // From before the delivery starts (a Python process and an LMTP
    // session included) to an answer from the index.
    auto t0 = Clock::now();
    auto d = deliver_marker(inst, word);
    ASSERT_TRUE(d.ok()) << d.describe();
    double s = seconds_until_indexed(inst, word, 30, t0);
    std::printf("%s searchable %.3f s after its delivery began\n", word, s);
    EXPECT_GE(s, 0) << inst.master_log();
  }
  auto c = compare({inst.port("imap"), inst.port("imapscan")}, 40);
  EXPECT_TRUE(c.ok()) << c.describe();
  // The rolling squatter never starves the writers of its channel.
  EXPECT_EQ(inst.master_log().find("event lost"), std::string::npos) << inst.master_log();
}

// The rolling squatter keeps its channel's status.json as a rolling
// sync_client does, so sync_status shows it (it said "never ran").
TEST(Search, RollingSquatterShowsItsChannelInSyncStatus) {
  SearchInstance si(true);
  Instance& inst = *si.inst;
  ASSERT_EQ(inst.start(), "");
  ASSERT_TRUE(inst.tool("cyr_mbox", {"create", "user.alice"}).ok());
  ASSERT_TRUE(deliver(inst, 5).ok());
  ASSERT_GE(seconds_until_indexed(inst, "tombstone", 30), 0) << inst.master_log();
  nlohmann::json squatter;
  EXPECT_TRUE(wait_until(
      [&] {
        auto r = inst.tool("sync_status", {"-j"});
        auto j = nlohmann::json::parse(r.out, nullptr, false);
        if (!j.is_object()) return false;
        for (const auto& c : j["channels"])
          if (c["channel"] == "squatter") squatter = c;
        return squatter.is_object() && squatter["state"] == "idle" &&
               squatter.value("lines_applied", uint64_t{0}) > 0 && squatter["client_alive"] == true;
      },
      std::chrono::milliseconds(10000)))
      << squatter.dump();
  EXPECT_GT(squatter.value("last_success", int64_t{0}), 0) << squatter.dump();
  auto text = inst.tool("sync_status", {}).out;
  auto at = text.find("channel squatter\n");
  ASSERT_NE(at, std::string::npos) << text;
  std::string block = text.substr(at, text.find("\nchannel ", at) - at);
  EXPECT_EQ(block.find("never ran"), std::string::npos) << block;
  EXPECT_NE(block.find("running (pid"), std::string::npos) << block;
}

TEST(Search, KilledSquatterLeavesAUsableIndex) {
  SearchInstance si(false);
  Instance& inst = *si.inst;
  ASSERT_EQ(inst.start(), "");
  ASSERT_TRUE(inst.tool("cyr_mbox", {"create", "user.alice"}).ok());
  ASSERT_TRUE(deliver(inst, 1500).ok());
  // squatter -u, killed with SIGKILL part way through.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::string bin = bin_dir() + "/squatter";
    std::string conf = inst.imapd_conf();
    ::execl(bin.c_str(), "squatter", "-C", conf.c_str(), "-u", "alice", nullptr);
    ::_exit(127);
  }
  // Part way: once its first batch is committed (or it has finished).
  wait_until(
      [&] {
        std::string out = index_words(inst, "tombstone");
        siginfo_t info{};
        ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
        return (out.rfind("user.alice: ", 0) == 0 && out.size() > 13) || info.si_pid == pid;
      },
      std::chrono::seconds(60));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  auto c = compare({inst.port("imap"), inst.port("imapscan")}, 30);
  EXPECT_TRUE(c.ok()) << c.describe();
  auto again = inst.tool("squatter", {"-v", "-i", "-u", "alice"});
  ASSERT_TRUE(again.ok()) << again.describe();
  c = compare({inst.port("imap"), inst.port("imapscan")}, 30);
  EXPECT_TRUE(c.ok()) << c.describe();
  EXPECT_NE(index_words(inst, "tombstone"), "user.alice:\n");
}

TEST(Search, DamagedIndexIsRebuiltFromTheStore) {
  SearchInstance si(false);
  Instance& inst = *si.inst;
  ASSERT_EQ(inst.start(), "");
  ASSERT_TRUE(inst.tool("cyr_mbox", {"create", "user.alice"}).ok());
  ASSERT_TRUE(deliver(inst, 100).ok());
  ASSERT_TRUE(inst.tool("squatter", {"-u", "alice"}).ok());
  std::string db = inst.config_dir() + "/search/alice/xapian";
  for (const auto& f : std::filesystem::directory_iterator(db)) {
    spit(f.path().string(), "garbage");
  }
  // SEARCH still answers exactly (the damaged index is not used) ...
  auto c = compare({inst.port("imap"), inst.port("imapscan")}, 20);
  EXPECT_TRUE(c.ok()) << c.describe();
  // ... and an incremental run notices the damage and rebuilds.
  auto r = inst.tool("squatter", {"-v", "-i", "-u", "alice"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_NE(r.err.find("rebuilding"), std::string::npos) << r.err;
  EXPECT_NE(index_words(inst, "tombstone"), "user.alice:\n");
  c = compare({inst.port("imap"), inst.port("imapscan")}, 20);
  EXPECT_TRUE(c.ok()) << c.describe();
}

TEST(Search, ReplicaIndexesWhatItReceives) {
  SearchInstance primary(false);
  primary.inst->options().imapd_extra.push_back("sync_authname: admin");
  primary.inst->options().imapd_extra.push_back("sync_password: adminpw");
  primary.inst->write_configs();
  SearchInstance replica(true, {{"csync", "sync_server"}});
  ASSERT_EQ(primary.inst->start(), "");
  ASSERT_EQ(replica.inst->start(), "");
  ASSERT_TRUE(primary.inst->tool("cyr_mbox", {"create", "user.alice"}).ok());
  ASSERT_TRUE(deliver(*primary.inst, 300).ok());
  ASSERT_TRUE(primary.inst->tool("squatter", {"-u", "alice"}).ok());
  auto sync = primary.inst->tool(
      "sync_client",
      {"-S", "127.0.0.1:" + std::to_string(replica.inst->port("csync")), "-u", "alice"});
  ASSERT_TRUE(sync.ok()) << sync.describe();
  // The replica logged what it applied to its squatter channel, and its
  // rolling squatter indexed it.
  EXPECT_GE(seconds_until_indexed(*replica.inst, "tombstone", 10), 0) << replica.inst->master_log();
  auto c = compare(
      {primary.inst->port("imap"), replica.inst->port("imap"), replica.inst->port("imapscan")}, 60);
  EXPECT_TRUE(c.ok()) << c.describe();
}

}  // namespace
}  // namespace replimail::testing
