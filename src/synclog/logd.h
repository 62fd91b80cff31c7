// sync_logd's core: one durable, group-committed write per change and the
// fan-out of its lines to every channel log (programs/sync_logd.cc serves
// it on a unix socket; the writers' side is synclog/logd_client.h).
//
// An entry goes through these states:
//   submitted  a writer's lines, with the channels they go to (the set
//              current now, suppression applied) — waiting for the journal;
//   journaled  in $configdirectory/sync/journal and fsynced: the writer is
//              answered and commits its change while it holds the entry;
//   released   the writer sent DONE (or its connection closed): the change
//              has committed or was abandoned;
//   written    appended to each of its channel logs (Cyrus's writer
//              algorithm, synclog.h), not yet fsynced;
//   gone       a checkpoint fsynced those logs; the journal may drop it.
// One committer thread writes and fsyncs whatever was submitted while its
// previous fsync ran (group commit: one fsync for many writers, whatever
// the number of channels). One fan-out thread writes released entries
// within milliseconds and checkpoints every `checkpoint_interval` while
// something is written but not flushed: the dirty channel logs are fsynced
// together, then the journal is emptied (or, while other entries are still
// held, rewritten without the gone ones once they are most of it and it
// passes `journal_rewrite_bytes`). A reader taking a channel log over never sees a
// line whose change has not committed, as with direct writes.
//
// At open(), the entries a previous daemon left in the journal are written
// to their channels again, fsynced, and the journal emptied: a line may
// appear twice after a crash (harmless: a line only marks something dirty),
// none is lost.
//
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/config.h"
#include "common/status.h"
#include "synclog/journal.h"
#include "synclog/synclog.h"

namespace replimail::synclog {

// The part of imapd.conf the daemon logs by.
struct ChannelSet {
  bool enabled = false;               // sync_log
  std::vector<std::string> channels;  // sync_log_channels ("" = default)
  std::vector<std::string> unsuppressable;
  static ChannelSet from_config(const Config& cfg);
  // Where an entry goes: every channel, or while suppressed only the
  // unsuppressable ones. Empty when sync_log is off.
  std::vector<std::string> targets(bool suppressed) const;
};

struct LogdOptions {
  std::chrono::milliseconds checkpoint_interval{200};
  uint64_t journal_rewrite_bytes = 4u << 10;
};

struct LogdStats {
  uint64_t accepted = 0;       // entries journaled
  uint64_t journal_syncs = 0;  // fdatasyncs of the journal
  uint64_t log_fsyncs = 0;     // fsyncs of channel logs (checkpoints)
  uint64_t checkpoints = 0;
  uint64_t replayed = 0;  // entries replayed at open()
};

class LogDaemon {
 public:
  // Opens $configdirectory/sync/journal and replays what it holds (see
  // above), then starts the committer and fan-out threads.
  static Result<std::unique_ptr<LogDaemon>> open(const std::string& configdirectory,
                                                 ChannelSet channels, LogdOptions options = {});
  // Stops the threads after writing and flushing every released entry.
  // Entries still held stay in the journal for the next start.
  ~LogDaemon();
  LogDaemon(const LogDaemon&) = delete;
  LogDaemon& operator=(const LogDaemon&) = delete;

  // Journals `lines` (formatted, LF-terminated) for the channels current
  // now and returns once they are durable: the entry's id (0: no channel to
  // write, nothing journaled). `owner` names the writer's connection (see
  // owner_closed()). An error means nothing was journaled.
  Result<uint64_t> submit(bool suppressed, std::string lines, uint64_t owner);
  // The change of entry `id` committed or was abandoned: its lines may go
  // to the channel logs. Unknown ids are ignored.
  void done(uint64_t id);
  // The writer's connection closed: every entry it still held is released.
  void owner_closed(uint64_t owner);
  // Waits (up to `limit`) until every entry journaled before the call has
  // been released and written to its channel logs; false on timeout.
  bool drain(std::chrono::milliseconds limit);
  // Waits (up to `limit`) until entry `id`, once released, has been written
  // to its channel logs (or is gone, or unknown); false on timeout. For
  // writers that wait for replicas (synclog/applied.h): `positions` then
  // holds, by channel, where its lines went in the logs that have an
  // applied.shm (read as they were appended; empty for an entry gone or
  // unknown).
  bool wait_written(uint64_t id, std::chrono::milliseconds limit,
                    std::map<std::string, LinePosition>* positions = nullptr);

  // Replaces the channel set (imapd.conf re-read). Entries accepted from now
  // on go to the new set; a channel that left keeps its log and log-run
  // (named, with their line counts, in one log line). The caller records
  // new channels (store::record_channels) before: nothing may be logged to
  // a channel before it is recorded as bootstrapping.
  void reconfigure(ChannelSet cs);
  ChannelSet channels() const;

  // Writes and flushes every released entry now, then drops what is done
  // from the journal (what the fan-out thread does on its own every
  // checkpoint_interval).
  Status checkpoint();
  // True once the journal failed: nothing more is accepted; the program
  // exits and master starts a new daemon, which replays the journal.
  bool broken() const;
  LogdStats stats() const;

 private:
  struct Entry {
    uint64_t owner = 0;
    JournalEntry data;
    std::vector<std::string> unwritten;  // channels the lines still go to
    std::map<std::string, LinePosition> positions;  // where they went, by channel
    enum class State { kSubmitted, kJournaled, kReleased, kWritten } state = State::kSubmitted;
  };
  struct Request {
    uint64_t id = 0;
    std::string record;
    bool finished = false;
    Status result;
  };

  LogDaemon(std::string configdirectory, ChannelSet channels, LogdOptions options);
  Status replay(const std::vector<JournalEntry>& entries);
  void commit_loop();
  void fanout_loop();
  // REQUIRES (both): fanout_mu_ held (one fan-out at a time).
  void write_released();
  Status flush_written();

  const std::string confdir_;
  const LogdOptions options_;

  mutable std::mutex mu_;  // everything below but journal_ and logs_
  ChannelSet channels_;
  uint64_t next_id_ = 1;
  std::deque<Request*> submitted_;
  std::map<uint64_t, Entry> entries_;  // journaled and not gone, by id
  std::deque<uint64_t> released_;
  std::deque<uint64_t> retry_;  // a channel failed: again at the next checkpoint
  std::vector<uint64_t> written_;
  bool stopping_ = false;
  bool broken_ = false;
  LogdStats stats_;
  std::condition_variable commit_cv_;   // submitted_ or stopping_
  std::condition_variable durable_cv_;  // a Request finished
  std::condition_variable fanout_cv_;   // released_ or stopping_
  std::condition_variable written_cv_;  // entries written

  std::mutex journal_mu_;  // taken before mu_ when both are needed
  Journal journal_;

  std::mutex fanout_mu_;  // the fan-out and checkpoints, one at a time
  UnsyncedLogs logs_;

  std::thread committer_;
  std::thread fanout_;
};

// The line count of each file (for the operator's log line about a
// removed channel): "log (12 lines), log-run (3 lines)"; "" if none exist.
std::string describe_pending_logs(const std::string& configdirectory, const std::string& channel);

}  // namespace replimail::synclog
