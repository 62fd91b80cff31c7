// Bootstrap of a replica (sync_client -A [-n CHANNEL]): every user, then
// every shared mailbox, with per-user progress kept by the instance so that
// an interrupted bootstrap resumes and the system can say when the replica
// is ready (the part of FastMail's cyrus_firstsync.pl the seed wishes were
// in Cyrus itself).
//
// Progress lives in $configdirectory/sync/<channel>/bootstrap.json (beside
// the channel's log; $configdirectory/sync/bootstrap.json for the default
// channel), written atomically after users complete (at most every 200 ms,
// and always at the end): the user list taken at the start, each user done
// or pending, start and finish times. A bootstrap whose file says finished
// starts over with a fresh list; an unfinished one continues with its
// pending users (users created since are replicated by the rolling client
// from the channel's log anyway).
//
// The JSON, resume and progress-bar helpers are pure; Bootstrap does I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/instance.h"
#include "sync/client.h"
#include "sync/connection.h"

namespace replimail::sync {

struct BootstrapUser {
  std::string user;
  bool done = false;
  int64_t finished = 0;  // unix ms
  // Runs in a row in which this user failed while the replica answered,
  // and the last such error (one line).
  int failures = 0;
  std::string error;

  bool operator==(const BootstrapUser&) const = default;
};

struct BootstrapProgress {
  std::string channel;
  int64_t started = 0;   // unix ms
  int64_t finished = 0;  // unix ms; 0 while in progress
  std::vector<BootstrapUser> users;
  bool shared_done = false;  // the shared (non-user) mailboxes
  uint64_t messages = 0;     // uploaded so far, all runs together
  uint64_t bytes = 0;        // of those messages

  size_t done_count() const;
  bool operator==(const BootstrapProgress&) const = default;
};

std::string bootstrap_path(const std::string& configdirectory, const std::string& channel);
std::string to_json(const BootstrapProgress& p);
Result<BootstrapProgress> bootstrap_from_json(std::string_view text);
// The progress file of `channel`; nullopt if there is none or it is
// unreadable (logged).
std::optional<BootstrapProgress> load_bootstrap(const std::string& configdirectory,
                                                const std::string& channel);

// The progress a new -A run works from: `previous` if it is unfinished
// and started at or after `not_before` (resume), else a fresh one over
// `users` started at `now_ms`. `not_before` is when the channel began
// bootstrapping (its state's since): an unfinished run from before that,
// one of a channel since removed and added again, did not see the changes
// made while the channel was not logged, so its done users are not done.
BootstrapProgress start_or_resume(const std::optional<BootstrapProgress>& previous,
                                  const std::string& channel, const std::vector<std::string>& users,
                                  int64_t now_ms, int64_t not_before = 0);
// "none" (never bootstrapped), "ready" (finished), "bootstrap 37/120 users".
std::string bootstrap_summary(const std::optional<BootstrapProgress>& p);

// How far a bootstrap is, for sync_status and the progress bar: users
// done/total, bytes uploaded, and the rates and ETA over `elapsed`. Pure.
struct BootstrapEta {
  size_t done = 0;
  size_t total = 0;
  uint64_t bytes = 0;
  double users_per_s = 0;
  double bytes_per_s = 0;
  int64_t eta_s = -1;  // -1: unknown (nothing done yet)
};
BootstrapEta bootstrap_eta(size_t done, size_t total, uint64_t bytes,
                           std::chrono::milliseconds elapsed);
// "1.5 KiB", "12.0 MiB", "3.2 GiB" (bytes below 1 KiB as "512 B").
std::string human_bytes(double bytes);
// "0:42", "12:05", "3:02:10"; "--:--" for -1.
std::string human_duration(int64_t seconds);
// "37/120 users, 12.0 MiB, 1.5 MiB/s, ETA 1:20" (one line).
std::string eta_text(const BootstrapEta& e);

// One progress-bar line (no newline): bar, users done/total, bytes
// uploaded, rate and ETA, at most `width` columns wide.
std::string progress_line(size_t done, size_t total, uint64_t bytes,
                          std::chrono::milliseconds elapsed, size_t width = 79);

// A user failing in this many runs in a row (the replica answering) fails
// the whole bootstrap: it will not get better by itself. A refusal of a
// replica in read-only mode (IMAP_READ_ONLY) is temporary: it never counts
// up to this.
inline constexpr int kMaxUserFailures = 3;
// Why the bootstrap in `p` cannot finish without someone's help (one line),
// or nullopt: the first user that failed kMaxUserFailures runs in a row.
std::optional<std::string> bootstrap_failure(const BootstrapProgress& p);
// True for an error connecting to the replica that retrying will not cure:
// authentication refused (kPermissionDenied), a configuration error, a peer
// that does not speak the protocol (kProtocolError).
bool is_permanent_connect_error(const Status& s);

// Whether a bootstrap sends a user now. A slot of a cluster holds users it
// is not the primary of (docs/CLUSTER.md): the old copy a move left (a
// replica now) and the copy a move is still filling. Sending either to a
// replica pushes a copy that is not the user's primary state: refused where
// the replica is that primary, after which the full update copies the
// primary's newest messages back into this copy as replica-only ones.
enum class UserTurn {
  kSend,     // this instance's user: sync it
  kNotOurs,  // never this instance's to send: done, nothing sent
  kLater,    // not yet (a move here not switched): pending, asked again next run
};
struct UserVerdict {
  UserTurn turn = UserTurn::kSend;
  std::string why;  // one line, for the log and the progress file (not kSend)
};
// The instance's own say, from its files: a user fenced here with a moved
// file was moved away (the fence stays on the old copy: store/instance.h),
// so kNotOurs; anything else kSend.
UserVerdict local_user_verdict(const store::Instance& instance, const std::string& user);

struct BootstrapOptions {
  std::string channel;
  ConnectOptions connect;
  ClientOptions client;
  bool progress_bar = false;  // draw on stderr (when it is a terminal)
  // Asked between users: true ends run() with kAgain, the progress saved
  // (the rolling client's SIGTERM).
  std::function<bool()> stop;
  // Unix ms: an unfinished earlier run started before this is not resumed
  // (start_or_resume); the rolling client passes its channel's since.
  int64_t not_before = 0;
  // Asked for each user after local_user_verdict says kSend (a cluster
  // slot's clusterd directory: cluster/bootstrap_gate.h); unset: kSend.
  std::function<UserVerdict(const std::string& user)> user_verdict;
};

class Bootstrap {
 public:
  Bootstrap(store::Instance& instance, BootstrapOptions options);

  // Runs (or resumes) the bootstrap. OK when every user and shared mailbox
  // was synced; otherwise the first error, with the failed users left
  // pending in the progress file for the next run. A user that fails is
  // logged and the walk goes on, as Cyrus's -A does; a replica that cannot
  // be reached ends the run. Runs of one channel take turns (an flock on
  // bootstrap.lock beside bootstrap.json): a second one waits.
  Status run();

  const ClientStats& stats() const { return stats_; }
  // Users skipped because an earlier, interrupted run had done them.
  size_t resumed_done() const { return resumed_done_; }
  // The run ended because the replica could not be reached (or went away):
  // nothing is wrong with the users.
  bool lost_replica() const { return lost_replica_; }
  const BootstrapProgress& progress() const { return progress_; }
  // Users this run left alone for good (kNotOurs) or for now (kLater).
  size_t not_ours() const { return not_ours_; }
  size_t later() const { return later_; }

 private:
  Status run_locked();
  Status connect();
  // Syncs through a fresh SyncClient (its RESERVE bookkeeping is per
  // session), then RESTART; drops the connection if it is broken.
  Status with_client(const std::function<Status(SyncClient&)>& work);
  void save(bool force);
  void draw(bool final);

  store::Instance& inst_;
  BootstrapOptions opts_;
  std::string path_;
  BootstrapProgress progress_;
  FetchSink sink_;
  std::unique_ptr<ReplicaConnection> conn_;
  ClientStats stats_;
  // What the walk does with `u` before syncing it: true when it may sync
  // (kSend); otherwise `u` says why not, and `later` too for the first
  // user left for a later run.
  bool may_send(BootstrapUser& u, Status& later);
  // Every shared (non-user) mailbox, each in its own batch: the first failure.
  Status sync_shared();

  size_t resumed_done_ = 0;
  size_t not_ours_ = 0;
  size_t later_ = 0;
  bool lost_replica_ = false;
  std::chrono::steady_clock::time_point begun_;
  std::chrono::steady_clock::time_point last_save_{};
  uint64_t bytes_at_start_ = 0;
};

}  // namespace replimail::sync
