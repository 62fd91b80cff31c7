// Rolling replication of one channel (sync_client -r -n CHANNEL), Cyrus's
// sync_client rolling loop (reference §1.7–§1.9) with three changes where
// Cyrus's users hurt (§9): it wakes on inotify as soon as the channel's log
// grows (sync_repeat_interval is only the fallback poll), the users of one
// batch are synced in parallel over several connections so that one slow
// or failing user does not stall the channel, and it reports its state in
// status.json (sync/channel_status.h).
//
// The loop, as a state machine (RollingClient::State):
//
//   kConnecting ──ok──> kIdle <──────────────┐
//        ^  │fail                 │log grew / poll     │
//        │  v                     v                    │
//      kBackoff          kSyncing: take over log → log-run (LogReader,
//                          a log-run left by a crash first), split into
//                          batches of sync_batchsize lines, each batch's
//                          users in parallel; all done → end() (unlink)
//
// Before every pass the client reads its channel's state in mailboxes.db
// (store/channels.h: recorded by whoever added the channel):
//   bootstrapping: kBootstrapping runs sync/bootstrap's resumable -A for the
//     channel (progress in bootstrap.json; a kill or restart resumes it)
//     while the log accumulates, untouched; done, the channel is set
//     rolling and the accumulated log is processed as usual. The user list
//     is taken no sooner than 1 s after the channel was recorded (its
//     recorder starts logging to it right after recording). A replica that
//     cannot be reached is retried with backoff, the channel staying
//     bootstrapping with the reason recorded; a refusal that retrying will
//     not cure (authentication, configuration, protocol) or a user failing
//     kMaxUserFailures runs in a row sets it failed, with the reason.
//   failed: kFailed, nothing is sent and the log accumulates; a
//     `sync_client -A -n CHANNEL` run by hand that completes sets it rolling.
//   rolling, or not recorded (an instance without a recorder): passes.
//
// Every pass is numbered in the channel's applied.shm (synclog/applied.h):
// begun before the log is looked at, marked applied when it leaves nothing
// behind (an empty log, or the log taken over and every user synced).
// Writers under sync_wait_replicas wait for the pass that takes their own
// line over (whoever appended it read the number then). The loop wakes on
// inotify as soon as the log is created or grows, and goes straight from a
// finished pass to the next, which takes over whatever arrived meanwhile
// in one go: one pass, one sync per user (group commit on the replica).
// Nothing slow stands between a pass's last batch and its mark: the
// rate-limited status.json write (an fsync) comes after it.
//
// A user whose sync fails while the replica is reachable has its lines
// appended to the channel's log again (synclog::append_lines, as Cyrus's
// sync_client re-queues deferred work) and is retried after a per-user
// backoff, while the others go on; log-run is then ended. When the replica
// is unreachable, log-run is kept for the next attempt (at-least-once) and
// the client reconnects with ReconnectBackoff. Replaying lines is harmless:
// every sync compares current state.
//
// One channel has one rolling client: run() first takes an exclusive flock
// on <channel dir>/client.lock (holding it, with its pid inside, until it
// returns) and returns kExitLocked, after one log line naming the
// holder, when another client has it. Two clients on one log would both take
// it over and replicate the same lines out of order.
//
// Stopping: request_stop() (SIGTERM) or the shutdown file makes the client
// finish the batch in progress, EXIT its connections and return 0 (the
// shutdown file is removed, as Cyrus does).
//
// REQUIRES: SIGPIPE ignored (a replica that goes away mid-write must give an
// error, not kill the process); sync_client does it at start.
//
// Threads: run() and request_stop() may be called from different threads
// (request_stop() is async-signal-safe); each worker thread owns its own
// store::Instance and ReplicaConnection (Instance is thread-compatible).
#pragma once

#include <sysexits.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/status.h"
#include "store/mboxlist.h"
#include "sync/channel_status.h"
#include "sync/client.h"
#include "sync/connection.h"
#include "synclog/applied.h"
#include "synclog/line.h"
#include "synclog/log_watch.h"

namespace replimail::sync {

// How to reach the replica of `channel`: <channel>_sync_host (or `server`,
// sync_client -S, when not empty) as host, host:port or a unix socket path,
// with Cyrus's /tls (TLS from the first byte) and /noauth flags,
// <channel>_sync_port (default the csync service), <channel>_sync_authname /
// _sync_password, sync_timeout (at least 3 s), and the client TLS context
// (net::LazyClientTlsContext) for a TCP replica, made when TLS is first
// used, so a TLS file that cannot be loaded fails that connection with
// kConfigError. kConfigError when no host is configured, a flag is unknown
// or the port does not resolve.
Result<ConnectOptions> channel_connect_options(const Config& cfg, const std::string& channel,
                                               const std::string& server);

// Waits between attempts to reach a replica. Pure.
//
// A connect attempt that fails fast (refused: the replica's sync_server is
// down but its host is up) costs well under a millisecond, so those are
// retried every 250 ms for the first 10 minutes of an outage (a replica
// restarted after a long outage is reached within 0.25 s) and then every
// second. Slow failures (timeouts: host or network
// gone) back off 1 s, 2 s, 4 s, ... up to `maxwait`.
class ReconnectBackoff {
 public:
  static constexpr std::chrono::milliseconds kCheapAttempt{200};
  static constexpr std::chrono::milliseconds kFastPhase{10 * 60 * 1000};
  static constexpr std::chrono::milliseconds kFastWait{250};
  static constexpr std::chrono::milliseconds kCheapWait{1000};

  explicit ReconnectBackoff(std::chrono::milliseconds maxwait) : maxwait_(maxwait) {}
  // The wait after a failed attempt that took `attempt_took`, the outage
  // having lasted `outage` so far.
  std::chrono::milliseconds next(std::chrono::milliseconds attempt_took,
                                 std::chrono::milliseconds outage);
  void reset() { slow_failures_ = 0; }

 private:
  std::chrono::milliseconds maxwait_;
  int slow_failures_ = 0;
};

// The wait before retrying a user whose sync failed `failures` times in a
// row: 1 s, 2 s, 4 s, ... capped at `maxwait`. Pure.
std::chrono::milliseconds user_retry_delay(int failures, std::chrono::milliseconds maxwait);

// The work of one user in one batch: the lines concerning that user ("" for
// shared mailboxes and server-wide items), without duplicates, in log order.
struct UserUnit {
  std::string user;
  std::vector<synclog::Line> lines;
};

// The userid a line concerns: USER/UNUSER/META/SIEVE/SEEN/SUB/UNSUB name it;
// MAILBOX/APPEND/DOUBLEMAILBOX/RENAME/UNMAILBOX/QUOTA the owner of their
// first mailbox name; "" for shared mailboxes and ANNOTATION.
std::string line_user(const synclog::Line& line, std::string_view deletedprefix = "DELETED");

// Splits a log's lines into batches of at most `batch_size` lines (0 = one
// batch), each batch into per-user units in first-seen order. Pure.
std::vector<std::vector<UserUnit>> plan_batches(const std::vector<synclog::Line>& lines,
                                                size_t batch_size,
                                                std::string_view deletedprefix = "DELETED");

struct RollingOptions {
  std::string channel;
  ConnectOptions connect;
  ClientOptions client;
  bool once = false;         // -1: one pass; run() returns 0 when drained, 1 on failure
  size_t batch_size = 8192;  // sync_batchsize: log lines per batch
  int workers = 4;           // sync_client_workers: parallel connections
  std::chrono::milliseconds repeat_interval{1000};     // sync_repeat_interval
  std::chrono::milliseconds reconnect_maxwait{20000};  // sync_reconnect_maxwait
  std::string shutdown_file;                           // sync_shutdown_file
  // -t: after this long connected, the connections are ended (EXIT) between
  // passes and made again, as Cyrus's "negotiated restart" (it sends
  // RESTART and reconnects). 0: never (Cyrus's default is 600 s; this
  // client already RESTARTs after every user's work, so its replica keeps
  // nothing staged between users).
  std::chrono::seconds session_timeout{0};
  // -o: a failed attempt to reach the replica ends run() (1) instead of
  // retrying with backoff.
  bool connect_once = false;
  // Called once by run() when the channel is locked and the client set up,
  // before the first connection attempt (sync_client -r's background child
  // tells its parent it started). Not called when set-up fails.
  std::function<void()> on_started;
  // Asked by the bootstrap for each user (BootstrapOptions::user_verdict):
  // a cluster slot's sync_client sets it (cluster/bootstrap_gate.h).
  std::function<UserVerdict(const std::string& user)> user_verdict;

  // Reads <channel>_sync_batchsize, sync_client_workers,
  // <channel>_sync_repeat_interval, sync_reconnect_maxwait (default 20 s,
  // not Cyrus's 20 min: see ReconnectBackoff) and
  // <channel>_sync_shutdown_file (default <channel dir>/shutdown).
  static Result<RollingOptions> from_config(const Config& cfg, const std::string& channel);
};

class RollingClient {
 public:
  enum class State { kConnecting, kIdle, kSyncing, kBackoff, kBootstrapping, kFailed, kStopped };

  RollingClient(const Config& cfg, RollingOptions options);
  ~RollingClient();
  RollingClient(const RollingClient&) = delete;
  RollingClient& operator=(const RollingClient&) = delete;

  // What run() returns when another rolling client holds the channel
  // (EX_TEMPFAIL: master's DAEMON backoff tries again later).
  static constexpr int kExitLocked = EX_TEMPFAIL;

  // Runs the loop until stopped (0) or, with `once`, until the log is
  // drained (0) or a pass failed (1). Fatal set-up errors (the store or the
  // channel directory unusable) also return 1; kExitLocked if another
  // rolling client runs for the channel.
  int run();
  // Finish the current batch and stop. Async-signal-safe.
  void request_stop();

  static const char* state_name(State s);

 private:
  struct Worker;
  enum class Pass { kNothing, kDone, kRequeued, kKept, kStopped };

  // Takes the channel's client.lock; kAgain (naming the holder) if taken.
  Status lock_channel(const std::string& dir);
  void unlock_channel();
  Status setup();
  // Connects worker 0 (the one that proves the replica is reachable).
  Status connect_first();
  // Takes over the log and syncs it (see the header comment).
  Pass pass();
  // pass() and its mark in applied.shm.
  Pass numbered_pass();
  void open_position();
  // The channel's phase in mailboxes.db; nullopt if not recorded (or
  // unreadable: logged, and the channel rolls).
  std::optional<store::ChannelPhase> read_phase();
  void record_phase(store::ChannelPhase phase, const std::string& reason);
  enum class Boot { kDone, kRetry, kFailed, kStopped };
  // One run of the bootstrap (see the header comment).
  Boot bootstrap(const store::ChannelState& state);
  // Runs one batch's units on the workers; returns the units that failed
  // or were deferred.
  std::vector<const UserUnit*> run_batch(const std::vector<UserUnit>& units);
  Status requeue(const std::vector<synclog::Line>& lines);
  // What one round of run()'s loop (or a step of it) asks of the loop:
  // go on within the round, start the next round, stop (exit 0), or stop
  // with exit 1 (-1 and -c: the pass or connection failed).
  enum class Step { kProceed, kNextRound, kStop, kFail };
  // One round: the channel's phase, the connection, then a bootstrap run
  // or a pass over the log.
  Step round();
  // Reconnects after -t's session age or when the connection is gone;
  // kProceed once connected.
  Step ensure_connected(bool bootstrapping);
  // A failed connect_first(): logged once per outage, recorded (a
  // bootstrapping channel's phase: failed if refused for good), backoff.
  Step connect_failed(const Status& c, std::chrono::steady_clock::time_point t0,
                      bool bootstrapping);
  Step bootstrap_round();
  Step rolling_round();
  // The end of run(): connections closed, the shutdown file removed, the
  // status written, client.lock released.
  void finish_run();
  // Sleeps up to `timeout`; returns early when the log grew (if
  // `on_log`), on request_stop() or when the shutdown file appears.
  void wait(std::chrono::milliseconds timeout, bool on_log);
  bool should_stop();
  void set_state(State s);
  void set_error(const std::string& what);
  void publish(bool force);
  // publish(false) even while a pass is open (between batches).
  void publish_progress();
  void shutdown_connections();

  const Config& cfg_;
  RollingOptions opts_;
  std::string log_path_;
  std::vector<std::unique_ptr<Worker>> workers_;
  ReconnectBackoff backoff_;
  ChannelStatus status_;
  StatusFile status_file_;
  State state_ = State::kConnecting;
  int lock_fd_ = -1;  // client.lock, flocked while run() runs
  std::unique_ptr<synclog::LogDirWatch> log_watch_;  // the channel directory, from setup()
  int wake_fd_ = -1;  // eventfd written by request_stop()
  std::atomic<bool> stop_{false};
  // Users whose last sync failed: failures in a row, retry not before.
  struct Deferral {
    int failures = 0;
    std::chrono::steady_clock::time_point until;
  };
  std::map<std::string, Deferral> deferred_;
  // The link to the replica: when the current outage began (in_outage_)
  // and when the current session was made (-t).
  std::chrono::steady_clock::time_point outage_start_{};
  std::chrono::steady_clock::time_point session_start_{};
  bool in_outage_ = false;
  // Set by requeue(): the log holds lines other writers added.
  bool requeue_external_ = false;
  std::string deletedprefix_;
  // applied.shm of the channel; empty if it could not be opened (logged:
  // writers waiting for this replica then time out).
  std::optional<synclog::ChannelPosition> position_;
  // Set by pass(): it left nothing of what it looked at for later.
  bool last_pass_complete_ = false;
  // A numbered pass is under way and not yet marked: rate-limited status
  // writes wait (see publish()).
  bool pass_open_ = false;
  bool position_error_logged_ = false;
};

}  // namespace replimail::sync
