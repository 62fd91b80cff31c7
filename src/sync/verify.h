// The continuous consistency verifier (sync_verify, issue 16): compares a
// primary's mailboxes with a replica's copies and, unless told only to
// report, repairs what differs through the normal sync path.
//
// Per scope (a user, some mailboxes, or everything), one look:
//   1. the primary's MAILBOX states (sync/state.h) against the replica's
//      answer to GET USER / GET MAILBOXES: a mailbox missing on the
//      replica, one only the replica has, or counters / sync CRCs / ACL /
//      options / annotations that differ (sync/verify_diff.h);
//   2. mailboxes that differ are looked at again after `settle` (a rolling
//      client catches up meanwhile: lag is not a divergence);
//   3. where the counters that follow the records still differ, the
//      replica's records (GET FULLMAILBOX) against ours, UID by UID.
// Each divergence is one line (`report`): "DIVERGENCE channel=C user=U
// mailbox=M uid=N: what differs" (uid= only for a record). Mailboxes
// under deletedprefix are skipped, as cyr_digest skips them.
//
// Reporting sends only GET commands: nothing changes on either side.
//
// Repair (VerifyOptions::repair, over a connection opened with
// ConnectOptions::force) never changes the primary:
//   - a diverging or missing mailbox: SyncClient::sync_mailboxes, the path
//     of `sync_client -m`, with no copyback (never a full update, the only
//     part of that path that writes to the master) and push_all (the whole
//     record list, which a FORCE replica takes over its own);
//   - a mailbox only the replica has is never removed (it may hold mail only
//     the replica has, e.g. a folder made there during a failover):
//     UNREPAIRED names `sync_client -u USER`, whose full user sync adopts
//     it into the primary;
//   - what only a merge changing the primary could resolve (a message only
//     the replica holds, one the replica lost, a split-brain UID, another
//     mailbox under the same name) is left alone: "UNREPAIRED ... run
//     sync_client -m M" says what to run.
// A repaired mailbox is looked at again: "REPAIRED channel=C user=U
// mailbox=M" only if it now agrees, else UNREPAIRED with the reason.
//
// Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "store/instance.h"
#include "sync/client.h"
#include "sync/connection.h"
#include "sync/types.h"
#include "sync/verify_diff.h"

namespace replimail::sync {

struct VerifyOptions {
  std::string channel;  // for the lines ("" = default channel)
  bool repair = true;
  // The wait before the second look at a mailbox that differed.
  std::chrono::milliseconds settle{2000};
  // Record lines printed per mailbox; the rest are counted in one line.
  size_t max_record_lines = 20;
};

struct VerifyStats {
  uint64_t mailboxes_checked = 0;
  uint64_t divergent_mailboxes = 0;  // after the second look
  uint64_t divergences = 0;          // lines, records included
  uint64_t repaired = 0;             // mailboxes that agree after repair
  uint64_t unrepaired = 0;           // mailboxes still diverging
  uint64_t errors = 0;               // scopes that could not be compared
};

class Verifier {
 public:
  // `conn` must have been opened with `sink`, and with force when
  // `opts.repair`. `report` receives each DIVERGENCE / REPAIRED /
  // UNREPAIRED line.
  Verifier(store::Instance& instance, ReplicaConnection& conn, FetchSink& sink, VerifyOptions opts,
           std::function<void(const std::string&)> report);

  // -u: every mailbox of the user, on either side.
  Status verify_user(const std::string& userid);
  // -m: these mailboxes (internal names), on either side.
  Status verify_mailboxes(const std::vector<std::string>& names);
  // -A: every user of the primary, then every shared mailbox.
  Status verify_all();

  const VerifyStats& stats() const { return stats_; }

 private:
  // A mailbox name's two sides; either may be absent.
  struct Pair {
    std::optional<MailboxState> primary;
    std::optional<MailboxState> replica;
  };
  using Pairs = std::map<std::string, Pair>;

  // The states of `userid`'s mailboxes (or of `names`) on both sides.
  Result<Pairs> look_user(const std::string& userid);
  Result<Pairs> look_names(const std::vector<std::string>& names);
  Status add_primary(Pairs& pairs, const store::MailboxEntry& e);
  Status add_replica(Pairs& pairs, const std::vector<dlist::Value>& items);
  // The whole comparison of one scope's first look.
  Status check(Result<Pairs> first);
  // The differences of one name, records included.
  Result<std::vector<Difference>> differences(const std::string& name, const Pair& pair);
  Result<std::vector<RecordItem>> primary_records(const std::string& name);
  Result<std::vector<RecordItem>> replica_records(const std::string& name);
  // Repairs `name`; "" when done, else why it was not (UNREPAIRED).
  std::string repair(const std::string& name, const Pair& pair,
                     const std::vector<Difference>& diffs);
  bool skipped(const std::string& name) const;
  std::string prefix(const std::string& tag, const std::string& name) const;

  store::Instance& inst_;
  ReplicaConnection& conn_;
  FetchSink& sink_;
  VerifyOptions opts_;
  std::function<void(const std::string&)> report_;
  VerifyStats stats_;
};

// The figures of the last run and the running totals, kept in
// <configdirectory>/sync/<channel>/verify.json beside the rolling client's
// status.json (written atomically), for monitoring:
//   {"channel", "time" (unix ms, end of run), "duration_ms", "mode"
//    ("report"|"repair"), "scope", "exit", "mailboxes_checked",
//    "divergent_mailboxes", "divergences", "repaired", "unrepaired",
//    "errors", "totals": {"runs", "divergences", "repaired", "unrepaired",
//    "errors"}}
// The totals only grow (counters for Prometheus); a missing or unreadable
// file starts them at 0.
struct VerifyRun {
  std::string channel;
  int64_t time_ms = 0;
  int64_t duration_ms = 0;
  bool repair = true;
  std::string scope;  // "-A", "-u alice", "-m user.alice"
  int exit_code = 0;
  VerifyStats stats;
};
std::string verify_status_path(const std::string& configdirectory, const std::string& channel);
Status record_verify_run(const std::string& configdirectory, const VerifyRun& run);

}  // namespace replimail::sync
