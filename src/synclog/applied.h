// How a writer learns that replicas have applied its lines
// (sync_wait_replicas: lossless failover; docs/OPERATIONS.md).
//
// Each channel whose rolling sync_client feeds a replica has a small file,
// <channel dir>/applied.shm, mapped shared by every process of the instance:
//   taken    how many times the rolling client has begun a pass, raised by
//            one *before* the pass looks at the log (and so before it takes
//            the log over, log -> log-run);
//   applied  the highest pass number n such that every line appended to the
//            log while `taken` was below n is on the replica (applied by its
//            sync_server, which commits before it answers).
// A line's position in a channel is `taken` + 1, read by whoever appends it
// right after the append, with the log's append lock still held (synclog.cc:
// the writer itself, or sync_logd, which hands it back with WRITTEN). The
// line is then in the file the next pass to begin will take over, or in
// the one a pass that has just begun is taking over: a pass that begins
// after it reads `taken` always finds it, in the log or in an earlier
// takeover's leftovers. So the writer waits for `applied` >= its position:
// for the pass that carries its own line, not for one that begins after it
// learns it has been logged (the rolling client, woken by the append, has
// usually begun that pass by then). A pass raises `applied` to its own
// number only when nothing it took over is left for later: the log was
// empty (and no log-run left), or it took over the log itself (not a
// log-run left by an earlier run) and every user's sync succeeded. A failed
// or re-queued pass leaves `applied` alone; a re-queued line goes back into
// the log, where the next good pass covers it.
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
// then waits until its timeout, as for a replica that is down. A position
// names the file it was read from (its inode): read from a file replaced
// since, it means nothing, and the writer takes the new file's `taken` + 1.
//
// Thread-safe; processes share the files through the page cache.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
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

// Where lines went in one channel (see above): `need` is the value of
// `applied` that covers them, `file` the inode of the applied.shm it was
// read from.
struct LinePosition {
  uint64_t file = 0;
  uint64_t need = 0;
};

// For whoever appends to the log at `log_path` (synclog.cc), with its
// append lock held, right after the append: the position of what it
// appended, from <its directory>/applied.shm (mapped once per process and
// kept; opened again when replaced). nullopt if that file does not exist:
// no rolling client has run for the channel, and a writer that waits reads
// the position itself. Thread-safe.
std::optional<LinePosition> position_after_append(const std::string& log_path);

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
  // The inode of the mapped file (LinePosition::file).
  uint64_t file() const;
  // {file(), taken() + 1}: what a line appended before now needs.
  LinePosition position() const;
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

// Waits, at most `limit`, until `channel`'s rolling client has applied
// every line appended to the channel's log before the call: the pass that
// takes them over has ended with nothing left behind (`applied` reaches
// `taken` + 1 as read at the call), or the client is idle with everything
// applied (`applied` equal to `taken`, no line in log or log-run, `taken`
// the same before and after looking at them). False when `limit` passed
// first: the client is not running, failing, or still busy. For a process
// that is about to write to the replica itself and must not race the
// channel (cluster/move_source.h).
Result<bool> wait_channel_applied(const std::string& configdirectory, const std::string& channel,
                                  std::chrono::milliseconds limit);

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
