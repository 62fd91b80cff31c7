// The consistency verifier (sync_verify, issue 16): divergences made behind
// replication's back — with no rolling client, on the replica through the
// store API, and on the primary without syncing — are found, one line each
// naming user, mailbox and UID, with a non-zero exit when only reporting
// (which changes neither side), then repaired through the sync path so that
// both digests agree; the primary is never changed by the verifier, and what
// only a merge changing the primary could resolve (a replica-only mailbox
// or message) is left, saying what to run.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/exposition.h"
#include "common/stats.h"
#include "digest_check.h"
#include "harness.h"
#include "store/instance.h"

namespace replimail::testing {
namespace {

using namespace std::chrono_literals;

RunResult verify(const Instance& primary, std::vector<std::string> args) {
  args.insert(args.begin(), {"-n", "replica", "-d", "0"});
  return primary.tool("sync_verify", args);
}

std::vector<std::string> lines_starting(const std::string& out, const std::string& tag) {
  std::vector<std::string> found;
  for (const auto& l : lines_of(out))
    if (l.starts_with(tag)) found.push_back(l);
  return found;
}

bool has_line(const std::string& out, const std::string& start, const std::string& part = "") {
  for (const auto& l : lines_of(out))
    if (l.starts_with(start) && l.find(part) != std::string::npos) return true;
  return false;
}

nlohmann::json verify_status(const Instance& primary) {
  return nlohmann::json::parse(slurp(primary.config_dir() + "/sync/replica/verify.json"), nullptr,
                               false);
}

// A primary and its replica with `user`'s mailboxes replicated by hand.
struct Pair {
  Instance replica{replica_options()};
  std::unique_ptr<Instance> primary;
  void start(const std::string& user, int messages) {
    ASSERT_EQ(replica.start(), "");
    primary = std::make_unique<Instance>(primary_options(replica.port("csync")));
    ASSERT_EQ(primary->start(), "");
    ASSERT_TRUE(primary->tool("cyr_mbox", {"create", "user." + user}).ok());
    ASSERT_TRUE(primary->tool("cyr_mbox", {"create", "user." + user + ".Sent"}).ok());
    ASSERT_EQ(deliver(*primary, user, messages), "");
    auto sync = primary->tool("sync_client", {"-n", "replica", "-u", user});
    ASSERT_TRUE(sync.ok()) << sync.describe();
    ASSERT_TRUE(same_digest(*primary, replica));
  }
};

TEST(SyncVerify, DivergencesAreReportedThenRepairedAndThePrimaryIsKept) {
  Pair p;
  ASSERT_NO_FATAL_FAILURE(p.start("alice", 4));
  Instance& primary = *p.primary;
  Instance& replica = p.replica;

  auto clean = verify(primary, {"-N", "-u", "alice"});
  EXPECT_EQ(clean.exit_code, 0) << clean.describe();
  EXPECT_TRUE(lines_starting(clean.out, "DIVERGENCE").empty()) << clean.out;

  // Behind replication's back: a flag set and a mailbox made in the
  // replica's own store, a mailbox made on the primary with no client to
  // replicate it.
  {
    auto rs = open_store(replica);
    ASSERT_TRUE(rs->store_flags("user.alice", {2}, store::kFlagFlagged, {"$Replica"}, true));
    ASSERT_TRUE(rs->create_mailbox("user.alice.Extra").ok());
    auto ps = open_store(primary);
    ASSERT_TRUE(ps->create_mailbox("user.alice.Missing").ok());
    ASSERT_TRUE(append_text(*ps, "user.alice.Missing", "Subject: new\r\n\r\nnew\r\n"));
  }
  Digest primary_before = digest_of(primary);
  Digest replica_before = digest_of(replica);
  ASSERT_EQ(primary_before.error, "");
  ASSERT_FALSE(same_digest(primary, replica));

  // Reporting: one line per divergence, exit 1, neither side changed.
  auto report = verify(primary, {"-N", "-u", "alice"});
  EXPECT_EQ(report.exit_code, 1) << report.describe();
  EXPECT_TRUE(has_line(report.out,
                       "DIVERGENCE channel=replica user=alice mailbox=user.alice uid=2: flags "
                       "primary (",
                       "replica (\\Flagged $Replica)"))
      << report.out;
  EXPECT_TRUE(has_line(report.out,
                       "DIVERGENCE channel=replica user=alice mailbox=user.alice.Missing: "
                       "missing on the replica"))
      << report.out;
  EXPECT_TRUE(has_line(report.out,
                       "DIVERGENCE channel=replica user=alice mailbox=user.alice.Extra: only on "
                       "the replica"))
      << report.out;
  EXPECT_TRUE(lines_starting(report.out, "REPAIRED").empty()) << report.out;
  EXPECT_EQ(digest_of(primary).lines, primary_before.lines);
  EXPECT_EQ(digest_of(replica).lines, replica_before.lines);
  auto st = verify_status(primary);
  ASSERT_TRUE(st.is_object());
  EXPECT_EQ(st["mode"], "report");
  EXPECT_EQ(st["divergent_mailboxes"], 3);
  EXPECT_EQ(st["exit"], 1);

  // -m: the named mailboxes only, on either side.
  auto named = verify(primary, {"-N", "-m", "user.alice.Extra", "user.alice.Missing"});
  EXPECT_EQ(named.exit_code, 1) << named.describe();
  EXPECT_EQ(lines_starting(named.out, "DIVERGENCE").size(), 2u) << named.out;
  EXPECT_TRUE(has_line(named.out, "DIVERGENCE channel=replica user=alice mailbox=user.alice.Extra"))
      << named.out;

  // Repairing: the replica takes the primary's records and the missing
  // mailbox, the primary stays as it was; the replica's own mailbox is
  // never removed, the line names the user sync that adopts it.
  auto fix = verify(primary, {"-u", "alice"});
  EXPECT_EQ(fix.exit_code, 1) << fix.describe();
  for (const char* m : {"user.alice", "user.alice.Missing"})
    EXPECT_TRUE(has_line(fix.out, std::string("REPAIRED channel=replica user=alice mailbox=") + m))
        << m << "\n"
        << fix.describe();
  EXPECT_TRUE(has_line(fix.out,
                       "UNREPAIRED channel=replica user=alice mailbox=user.alice.Extra: only on "
                       "the replica; sync_client -n replica -u alice adopts it"))
      << fix.describe();
  EXPECT_EQ(digest_of(primary).lines, primary_before.lines);
  auto left = same_digest(primary, replica);
  EXPECT_FALSE(left);
  EXPECT_NE(std::string(left.message()).find("user.alice.Extra"), std::string::npos)
      << left.message();
  EXPECT_EQ(std::string(left.message()).find("record user.alice "), std::string::npos)
      << left.message();
  auto only_extra = verify(primary, {"-N", "-u", "alice"});
  EXPECT_EQ(lines_starting(only_extra.out, "DIVERGENCE").size(), 1u) << only_extra.out;

  // The operator's user sync adopts it; then nothing differs.
  auto adopt = primary.tool("sync_client", {"-n", "replica", "-u", "alice"});
  ASSERT_TRUE(adopt.ok()) << adopt.describe();
  EXPECT_TRUE(same_digest(primary, replica));
  auto after = verify(primary, {"-N", "-A"});
  EXPECT_EQ(after.exit_code, 0) << after.describe();
  EXPECT_TRUE(lines_starting(after.out, "DIVERGENCE").empty()) << after.out;
  st = verify_status(primary);
  EXPECT_EQ(st["totals"]["repaired"], 2);
  EXPECT_EQ(st["totals"]["unrepaired"], 1);
  EXPECT_EQ(st["totals"]["runs"], 6);
}

// Records expunged on both sides at different MODSEQs converge on a repair
// (the replica takes the primary's records, expunged ones included); a
// record the primary's cyr_expire -X purged while the replica still holds
// it expunged is no divergence (Cyrus's full update leaves it alone too)
// until the replica's own cyr_expire -X removes it.
TEST(SyncVerify, ExpungedRecordsConvergeAndOnesPurgedOnOneSideAreNoDivergence) {
  Pair p;
  ASSERT_NO_FATAL_FAILURE(p.start("carol", 4));
  Instance& primary = *p.primary;
  Instance& replica = p.replica;
  {
    auto ps = open_store(primary);
    ASSERT_TRUE(ps->expunge("user.carol", {1}));
    auto rs = open_store(replica);
    ASSERT_TRUE(rs->store_flags("user.carol", {1}, store::kFlagFlagged, {}, true));
    ASSERT_TRUE(rs->expunge("user.carol", {1}));
  }
  auto report = verify(primary, {"-N", "-u", "carol"});
  EXPECT_EQ(report.exit_code, 1) << report.describe();
  EXPECT_TRUE(has_line(report.out, "DIVERGENCE channel=replica user=carol mailbox=user.carol uid=1: ",
                       "modseq primary"))
      << report.out;
  auto fix = verify(primary, {"-u", "carol"});
  EXPECT_TRUE(has_line(fix.out, "REPAIRED channel=replica user=carol mailbox=user.carol"))
      << fix.describe();
  EXPECT_TRUE(lines_starting(fix.out, "UNREPAIRED").empty()) << fix.describe();
  auto again = verify(primary, {"-N", "-u", "carol"});
  EXPECT_EQ(again.exit_code, 0) << again.describe();
  EXPECT_TRUE(lines_starting(again.out, "DIVERGENCE").empty()) << again.out;
  {
    auto ps = primary.snapshot("user.carol");
    auto rs = replica.snapshot("user.carol");
    ASSERT_EQ(ps.records.size(), rs.records.size());
    for (size_t i = 0; i < ps.records.size(); i++) {
      EXPECT_EQ(rs.records[i].uid, ps.records[i].uid);
      EXPECT_EQ(rs.records[i].modseq, ps.records[i].modseq) << "uid " << ps.records[i].uid;
      EXPECT_EQ(rs.records[i].expunged(), ps.records[i].expunged()) << "uid " << ps.records[i].uid;
    }
  }
  EXPECT_SAME_DIGEST(primary, replica);

  // cyr_expire -X on the primary only; a flag changed there too, so that
  // the verifier compares the records.
  until_next_second();
  auto e = primary.tool("cyr_expire", {"-X", "0", "-v"});
  ASSERT_TRUE(e.ok()) << e.describe();
  EXPECT_NE(e.out.find("user.carol: purged 1 expunged records"), std::string::npos) << e.out;
  {
    auto ps = open_store(primary);
    ASSERT_TRUE(ps->store_flags("user.carol", {3}, store::kFlagFlagged, {}, true));
  }
  report = verify(primary, {"-N", "-u", "carol"});
  EXPECT_EQ(report.exit_code, 1) << report.describe();
  EXPECT_TRUE(has_line(report.out, "DIVERGENCE channel=replica user=carol mailbox=user.carol uid=3"))
      << report.out;
  EXPECT_EQ(report.out.find("uid=1"), std::string::npos) << report.out;
  fix = verify(primary, {"-u", "carol"});
  EXPECT_TRUE(has_line(fix.out, "REPAIRED channel=replica user=carol mailbox=user.carol"))
      << fix.describe();
  EXPECT_TRUE(lines_starting(fix.out, "UNREPAIRED").empty()) << fix.describe();
  again = verify(primary, {"-N", "-u", "carol"});
  EXPECT_EQ(again.exit_code, 0) << again.describe();
  // The replica keeps its expunged record until its own cyr_expire -X.
  auto rs = replica.snapshot("user.carol");
  ASSERT_FALSE(rs.records.empty());
  EXPECT_EQ(rs.records[0].uid, 1u);
  EXPECT_TRUE(rs.records[0].expunged());
  e = replica.tool("cyr_expire", {"-X", "0"});
  ASSERT_TRUE(e.ok()) << e.describe();
  EXPECT_SAME_DIGEST(primary, replica);
}

TEST(SyncVerify, WhatOnlyAMergeCouldResolveIsLeftWithTheCommandToRun) {
  Pair p;
  ASSERT_NO_FATAL_FAILURE(p.start("bob", 3));
  Instance& primary = *p.primary;
  Instance& replica = p.replica;
  // On the replica only: message 2 expunged (its file goes), a message
  // appended as UID 4.
  {
    auto rs = open_store(replica);
    ASSERT_TRUE(rs->expunge("user.bob", {2}));
    ASSERT_TRUE(append_text(*rs, "user.bob", "Subject: replica only\r\n\r\nr\r\n"));
  }
  Digest primary_before = digest_of(primary);
  Digest replica_before = digest_of(replica);

  auto fix = verify(primary, {"-u", "bob"});
  EXPECT_EQ(fix.exit_code, 1) << fix.describe();
  EXPECT_TRUE(has_line(fix.out, "DIVERGENCE channel=replica user=bob mailbox=user.bob uid=2: flags",
                       "replica (\\Expunged)"))
      << fix.out;
  EXPECT_TRUE(has_line(fix.out,
                       "DIVERGENCE channel=replica user=bob mailbox=user.bob uid=4: only on the "
                       "replica"))
      << fix.out;
  EXPECT_TRUE(has_line(fix.out, "UNREPAIRED channel=replica user=bob mailbox=user.bob: uid 2 flags",
                       "sync_client -n replica -m user.bob"))
      << fix.out;
  // Neither side was touched: the replica's own message is still there.
  EXPECT_EQ(digest_of(primary).lines, primary_before.lines);
  EXPECT_EQ(digest_of(replica).lines, replica_before.lines);

  auto report = verify(primary, {"-N", "-u", "bob"});
  EXPECT_EQ(report.exit_code, 1) << report.describe();
}

TEST(SyncVerify, AnEventsEntryRunsItAndRecordsTheFigures) {
  Pair p;
  ASSERT_NO_FATAL_FAILURE(p.start("carol", 2));
  Instance& primary = *p.primary;
  primary.options().imapd_extra.push_back("prometheus_enabled: yes");
  {
    auto rs = open_store(p.replica);
    ASSERT_TRUE(rs->store_flags("user.carol", {1}, store::kFlagAnswered, {}, true));
  }
  ASSERT_FALSE(same_digest(primary, p.replica));
  // An event added to cyrus.conf runs when master reads it, then every period.
  primary.options().events = {{"verify", {"sync_verify -n replica -A -d 0", "period=60"}}};
  primary.reload();
  ASSERT_TRUE(wait_until(
      [&] {
        auto st = verify_status(primary);
        return st.is_object() && st["totals"].is_object() && st["totals"]["repaired"] == 1;
      },
      30s))
      << slurp(primary.config_dir() + "/sync/replica/verify.json") << primary.master_log();
  EXPECT_TRUE(same_digest(primary, p.replica));
  // The figures went to the metrics too: a finished process's stats file
  // stays for promstatsd's retired totals.
  uint64_t repaired = 0;
  const std::string series =
      exposition::series("replimail_verifier_repaired_total", {{"channel", "replica"}});
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator(primary.config_dir() + "/stats", ec)) {
    auto snap = stats::read_file(f.path().string());
    if (!snap.ok()) continue;
    for (const auto& e : snap->entries)
      if (e.kind == stats::Kind::kCounter && e.text == series) repaired += e.value;
  }
  EXPECT_EQ(repaired, 1u) << series;
  // The lines went to the log too.
  EXPECT_NE(primary.master_log().find("DIVERGENCE channel=replica user=carol mailbox=user.carol "
                                      "uid=1: flags"),
            std::string::npos)
      << primary.master_log();
}

}  // namespace
}  // namespace replimail::testing
