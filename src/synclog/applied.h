// How a writer learns that replicas have applied its lines
// (sync_wait_replicas: lossless failover; docs/OPERATIONS.md).
//
// Each channel whose rolling sync_client feeds a replica has a small file,
// <channel dir>/applied.shm, mapped shared by every process of the instance:
//   taken    the number of passes the rolling client has begun: it is
//            raised by one *before* the pass looks at the log;
//   applied  the highest pass after which every line appended to the log
//            before that pass began is on the replica (applied by its
//            sync_server, which commits before it answers).
// A writer whose line is in the channel's log reads `taken` (t) and waits
// for `applied` >= t + 1: pass t + 1 begins after the line was appended, so
// the line is in that pass's takeover or an earlier one. A pass raises
// `applied` only when nothing it took over is left for later: the log was
// empty (and no log-run left), or it took over the log itself (not a
// log-run left by an earlier run) and every user's sync succeeded. A failed
// or re-queued pass leaves `applied` alone; the next good pass covers it.
//
// <configdirectory>/sync/wait.shm holds a futex word that every rolling
// client rings (FUTEX_WAKE) after raising `applied`, so a writer waiting on
// any number of channels sleeps on one word, and the counters of waits and
// timeouts that every writer adds to (read by sync_status and metrics).
//
// The files are created by whichever side comes first (zeros are a valid
// state) and never fsynced: they describe running processes, and after a
// crash of the machine nobody waits on what they said before. Their absence
// only means that no rolling client has run for that channel yet: a writer
// then waits until its timeout, as for a replica that is down.
//
// Thread-safe; processes share the files through the page cache.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"

namespace replimail::synclog {

// <channel dir>/applied.shm ($configdirectory/sync/applied.shm for the
// default channel).
std::string applied_path(const std::string& configdirectory, const std::string& channel);
// $configdirectory/sync/wait.shm.
std::string wait_state_path(const std::string& configdirectory);

namespace detail {
struct Mapping;
}

// A channel's positions (see above).
class ChannelPosition {
 public:
  // Maps the channel's file, creating it (and its directory) if missing.
  static Result<ChannelPosition> open(const std::string& configdirectory,
                                      const std::string& channel);
  ChannelPosition(ChannelPosition&&) noexcept;
  ChannelPosition& operator=(ChannelPosition&&) noexcept;
  ~ChannelPosition();

  uint64_t taken() const;
  uint64_t applied() const;
  // The rolling client, one per channel (client.lock): begins a pass and
  // returns its number.
  uint64_t begin_pass();
  // The rolling client: pass `pass` left nothing behind; raises `applied`
  // and rings the instance's bell.
  void mark_applied(uint64_t pass);
  // True if the file at the path is no longer the one mapped (removed or
  // replaced): open() again.
  bool stale() const;

 private:
  ChannelPosition() = default;
  std::unique_ptr<detail::Mapping> map_;
  std::unique_ptr<detail::Mapping> bell_;
};

// What writers have waited for, instance-wide since the file was created.
struct WaitCounters {
  uint64_t waits = 0;             // waits that found enough replicas in time
  uint64_t wait_ms = 0;           // their total duration
  uint64_t timeouts_async = 0;    // timed out, acknowledged anyway
  uint64_t timeouts_refused = 0;  // timed out, the client told to retry
};

// The bell and counters in wait.shm.
class WaitBell {
 public:
  static Result<WaitBell> open(const std::string& configdirectory);
  WaitBell(WaitBell&&) noexcept;
  WaitBell& operator=(WaitBell&&) noexcept;
  ~WaitBell();

  // The bell's current value, read before looking at the positions.
  uint32_t value() const;
  // Sleeps until the bell changes from `seen` or `limit` passes (spurious
  // wake-ups allowed: callers look again).
  void wait(uint32_t seen, std::chrono::milliseconds limit) const;
  void ring();
  void count_wait(std::chrono::milliseconds took);
  void count_timeout(bool refused);
  WaitCounters counters() const;

 private:
  WaitBell() = default;
  std::unique_ptr<detail::Mapping> map_;
};

// The counters of the instance under `configdirectory`, zeros if no writer
// has waited yet (for sync_status and the metrics endpoint).
WaitCounters read_wait_counters(const std::string& configdirectory);

}  // namespace replimail::synclog
