// squatter's sync-log modes: -R (rolling on a channel) and -f (one file).
//
// The channel's log is taken over with synclog::LogReader exactly as a
// rolling sync_client takes over its own (log -> log-run, at-least-once:
// log-run is unlinked only after every mailbox it names was indexed or
// re-queued). As Cyrus's squatter, APPEND names a mailbox to index and USER
// a user; we also take MAILBOX (so expunges and flag changes reach the index
// promptly; an incremental pass over an unchanged mailbox costs one query).
// Every mailbox is indexed incrementally; one whose index another process
// is writing is re-queued as "APPEND name" on the channel; a mailbox that no
// longer exists is skipped; other failures are logged and dropped.
//
// A channel mailboxes.db records as bootstrapping (store/channels.h: a new
// squatter channel, or an instance upgraded to the channel states) is
// first given squatter's full pass: every user and the shared mailboxes,
// incrementally (what is indexed already costs a query), taken no sooner
// than 1 s after the channel was recorded, while its log accumulates; then
// it is set rolling. A user that fails leaves it bootstrapping, the reason
// recorded, and the pass is tried again a minute later (the index is
// rebuilt from the store: nothing to give up on). Any other state rolls.
//
// Waiting: inotify on the channel's directory wakes the loop as soon as a
// writer appends to the log, with a one-second poll as a net. An empty log
// is left alone: its writer has not checked it yet (synclog.h's retry on
// rename), and taking it over would make that writer start again.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "search/indexer.h"
#include "store/instance.h"
#include "synclog/line.h"

namespace replimail::search {

// What a batch of log lines asks for, sorted and de-duplicated.
struct LogWork {
  std::vector<std::string> users;
  std::vector<std::string> mailboxes;
  bool operator==(const LogWork&) const = default;
};
LogWork work_from_lines(const std::vector<synclog::Line>& lines);

struct PassResult {
  IndexStats stats;
  std::vector<std::string> requeued;  // mailboxes locked by another writer
  size_t failed = 0;                  // logged and dropped
  size_t lines = 0;                   // log lines the pass took over
};

// Indexes what `work` names (incrementally), sleeping `pause` between
// mailboxes (-S). With `block` locked indexes are waited for, else
// reported in `requeued`.
PassResult process_work(store::Instance& instance, const LogWork& work, bool block,
                        std::chrono::milliseconds pause);

class RollingSquatter {
 public:
  RollingSquatter(store::Instance& instance, std::string channel, std::chrono::milliseconds pause);
  // If the channel is bootstrapping: the full pass described above. OK if
  // there was nothing to do or it finished (the channel then rolling);
  // else why not (stopped: kAgain).
  Status bootstrap_if_needed(const std::atomic<bool>& stop);
  // One pass: take over the log, index, re-queue what was locked, end the
  // log. kAgain when nothing was logged; kIoError if the log could not be
  // read or the re-queue could not be written (log-run is then kept).
  Result<PassResult> run_once();
  // Passes until `stop` is set or the shutdown file
  // (<configdirectory>/msg/shutdown) exists.
  Status run(const std::atomic<bool>& stop);

  // Called by run() after every pass that took over a log (its result or
  // its error), e.g. to keep the channel's status.json for sync_status.
  using PassObserver = std::function<void(const Result<PassResult>&)>;
  void set_observer(PassObserver observer) { observer_ = std::move(observer); }

 private:
  PassObserver observer_;
  store::Instance& instance_;
  std::string channel_;
  std::chrono::milliseconds pause_;
  std::chrono::steady_clock::time_point next_bootstrap_{};
};

}  // namespace replimail::search
