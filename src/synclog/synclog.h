// The sync log writer: the one path from a mutation to every channel's log.
//
// Every process that changes mail state calls SyncLog (the store does it on
// its mutation path) with one-line notifications saying *what* changed. Each
// enabled channel has its own file, $configdirectory/sync/log for the
// default channel and $configdirectory/sync/<channel>/log for a named one;
// a channel's rolling sync_client (or squatter) takes the file over with
// LogReader (synclog/reader.h).
//
// Configuration (imapd.conf): sync_log (master switch), sync_log_channels
// (space separated; the token "" is the default channel; unset means only
// the default channel), sync_log_chain and sync_log_unsuppressable_channels
// (see suppress()).
//
// Writes are durable and atomic per call: for each channel the whole batch
// of lines goes out in one write under an fcntl lock, then fsync (Cyrus's
// writer, so Cyrus and replimail processes can share a log). Nothing is ever
// dropped: a writer whose log was taken over by a reader follows it to the
// new file, however often that happens, and a write that fails returns its
// error so that the change it announces is not made (see announce()).
//
// Lines announce a change *before* it commits, and the announcement stays
// "in flight" until the change has committed or been abandoned: writers
// hold a shared fcntl lock on byte 1 of the log for that time (the append
// itself happens under an exclusive lock on byte 0), and a reader taking the
// log over (LogReader: rename, then a whole-file lock) waits for both. So
// when a reader has a line, the change it names is in the store or never
// will be, and reading the current state after the takeover sees it. A line
// whose change then failed only marks a mailbox dirty: harmless.
//
// The locks are open-file-description locks (they conflict with Cyrus's
// classic POSIX locks). Thread safety: a SyncLog may be used from several
// threads; a process's appends share a cached descriptor per log and take
// turns under a mutex; a LogReader in the same process waits for that
// process's in-flight announcements too.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/config.h"
#include "common/status.h"
#include "synclog/applied.h"
#include "synclog/line.h"

namespace replimail::synclog {

// $configdirectory/sync/log for the default channel (""), else
// $configdirectory/sync/<channel>/log.
std::string log_path(const std::string& configdirectory, const std::string& channel);

class LogdClient;

namespace detail {
struct OpenLog;
struct DaemonTicket;
struct WaitState;
}  // namespace detail

// Lines durably logged, announcing a change still in flight. Written
// directly, they are in their logs and a reader taking those logs over waits
// while the hold lives; handed to sync_logd, they are in its journal and the
// daemon writes them to the channel logs only once the hold is released.
// Destroy (or release()) it once the change has committed or been abandoned.
// Movable; an empty hold holds nothing.
class LogHold {
 public:
  LogHold() = default;
  ~LogHold() { release(); }
  LogHold(LogHold&& o) noexcept
      : logs_(std::move(o.logs_)),
        ticket_(std::move(o.ticket_)),
        wait_(std::move(o.wait_)),
        positions_(std::move(o.positions_)) {}
  LogHold& operator=(LogHold&& o) noexcept;
  LogHold(const LogHold&) = delete;
  LogHold& operator=(const LogHold&) = delete;
  void release();

 private:
  friend struct HoldAccess;
  std::vector<std::shared_ptr<detail::OpenLog>> logs_;
  std::shared_ptr<detail::DaemonTicket> ticket_;
  // Set when the writer waits for replicas: release() then makes sure the
  // lines are in the channel logs and notes the positions to wait for.
  std::shared_ptr<detail::WaitState> wait_;
  // Written directly with positions asked for: where the lines went, by
  // log path (synclog/applied.h).
  std::vector<std::pair<std::string, LinePosition>> positions_;
};

// Appends `formatted` to the log at `path` with Cyrus's writer algorithm:
// open O_RDWR|O_APPEND|O_CREAT 0640 (creating directories 0755), blocking fcntl
// lock, check that the locked file is still the one at `path` (else a reader
// took it over: open the new one and try again, with no limit), one write,
// fsync, unlock. A write that fails is truncated away so that no partial
// line is left for the next writer to append to. Unlike Cyrus, the process
// keeps the file open for its next append (the identity check covers a file
// opened long ago). Ignores sync_log and suppression: this is the explicit
// per-channel write sync_client and squatter use to re-queue work.
[[nodiscard]] Status append_lines(const std::string& path, std::string_view formatted);
// append_lines() to several logs at once: each is locked and written, then
// all are fsynced at the same time (one thread per log beyond the first), so
// that the flushes share journal commits. If every log was written, returns
// a hold on all of them (see LogHold); else the first error, and nothing is
// held (lines already in some logs stay: they are harmless). With
// `positions`, the hold also knows where the lines went in each log (for
// sync_wait_replicas).
[[nodiscard]] Result<LogHold> append_to_logs(const std::vector<std::string>& paths,
                                             std::string_view formatted, bool positions = false);

// For sync_logd (synclog/logd.h), which keeps the durable copy of every
// line in its journal: appends to channel logs with the same writer
// algorithm as append_lines() (lock, identity check, takeovers followed) but
// without an fsync per append; flush() fsyncs every file written since, at
// once. The files written stay open (even if taken over meanwhile) until
// flushed. Not thread-safe; one instance per daemon.
class UnsyncedLogs {
 public:
  UnsyncedLogs() = default;
  ~UnsyncedLogs();
  UnsyncedLogs(const UnsyncedLogs&) = delete;
  UnsyncedLogs& operator=(const UnsyncedLogs&) = delete;
  // With `position`: where the lines went (synclog/applied.h), nullopt if
  // the channel has no applied.shm.
  [[nodiscard]] Status append(const std::string& path, std::string_view formatted,
                              std::optional<LinePosition>* position = nullptr);
  // fsyncs the files appended to since the last flush (one thread per file
  // beyond the first) and forgets them. A file whose fsync failed is not
  // written again (its lines must be written anew); the first error.
  [[nodiscard]] Status flush();
  bool dirty() const { return !dirty_.empty(); }
  // fsyncs issued by flush() so far.
  uint64_t fsyncs() const { return fsyncs_; }

 private:
  std::vector<std::shared_ptr<detail::OpenLog>> dirty_;
  uint64_t fsyncs_ = 0;
};

// For LogReader: after the log at `path` has been renamed to the file open
// as `fd`, waits until no writer (of any process, this one included) still
// appends to it or holds an announcement in it in flight. Then every line
// the file will ever have is in it, and every change those lines announce
// has committed or been abandoned.
[[nodiscard]] Status wait_for_writers(int fd, const std::string& path);

class SyncLog {
 public:
  // Reads sync_log, sync_log_channels, sync_log_chain,
  // sync_log_unsuppressable_channels and configdirectory.
  //
  // When sync_logd (synclog/logd.h) answers on its socket
  // ($configdirectory/socket/sync_logd), every announce() goes through it:
  // the lines and this process's suppression state are sent, the daemon
  // journals them (one fsync for everything that arrived meanwhile from every
  // process) and writes them to the channels *it* has configured once the
  // hold is released. When the socket is absent or the daemon fails before
  // answering, the lines are written directly to the channels configured
  // here (as above), so nothing depends on the daemon running. If the daemon
  // is gone by the time the hold is released, the lines are written directly
  // then as well (after the commit: a duplicate at worst), because a
  // restarted daemon replays its journal without knowing whether the change
  // has committed yet. One connection per process, shared by its threads;
  // the daemon is tried again on every call after a fallback.
  explicit SyncLog(const Config& cfg);
  ~SyncLog();

  // The one way a change is logged: appends `lines` to every enabled
  // channel (one write per channel) and fsyncs, BEFORE the change commits.
  // The caller commits while the returned hold lives, then drops it. On an
  // error (a line that cannot be formatted, a channel that cannot be
  // written; logged at error level) the caller must not make the change and
  // must report the error: nothing may be acknowledged that no replica will
  // hear of. Nothing to log (sync_log off, every channel suppressed): an
  // empty hold.
  [[nodiscard]] Result<LogHold> announce(const std::vector<Line>& lines);
  // announce() and release at once: for a change already made durable by
  // other means, or tools that only log.
  [[nodiscard]] Status write(const std::vector<Line>& lines);
  // Writes `text` (one line, no CR/LF; LF appended) to every enabled
  // channel, as cyr_synclog does without a type flag.
  [[nodiscard]] Status log_raw(std::string_view text);

  // One-line write()s.
  [[nodiscard]] Status user(const std::string& userid);
  [[nodiscard]] Status unuser(const std::string& userid);
  [[nodiscard]] Status meta(const std::string& userid);
  [[nodiscard]] Status mailbox(const std::string& name);
  [[nodiscard]] Status append(const std::string& name);
  [[nodiscard]] Status doublemailbox(const std::string& from, const std::string& to);
  [[nodiscard]] Status unmailbox(const std::string& name);
  // Writes RENAME old new, MAILBOX old, MAILBOX new (one batch).
  [[nodiscard]] Status rename(const std::string& oldname, const std::string& newname);
  [[nodiscard]] Status quota(const std::string& root);
  // "" is the server-wide annotation namespace.
  [[nodiscard]] Status annotation(const std::string& name);
  [[nodiscard]] Status seen(const std::string& userid, const std::string& uniqueid);
  [[nodiscard]] Status sub(const std::string& userid, const std::string& name);

  // sync_wait_replicas (docs/OPERATIONS.md "Lossless failover"): waits
  // until at least that many replica channels have applied every change
  // this process logged (and released) since the last call, for at most
  // sync_wait_timeout. The replica channels are the configured ones with a
  // sync host, squatter's excepted; their positions are
  // synclog/applied.h's. On timeout, one warning naming the channels
  // behind and a counter in wait.shm; then OK with sync_wait_on_timeout:
  // async (the default), kNotReplicated with refuse (the change is made
  // here, but the client is told to try again). OK at once when
  // sync_wait_replicas is 0, the process is suppressed (a replica's
  // sync_server) or nothing was logged. Protocols call it just before they
  // acknowledge a change (LMTP's 250, IMAP's tagged response).
  [[nodiscard]] Status wait_for_replicas();
  // The replica channels sync_wait_replicas counts.
  const std::vector<std::string>& replica_channels() const { return replicas_; }

  // Replica side (sync_server calls it per connection): from now on only the
  // channels listed in sync_log_unsuppressable_channels are written, so a
  // replica does not re-log what it receives. No effect when sync_log_chain
  // is on.
  void suppress();
  bool suppressed() const { return suppressed_.load(); }

  // The channels a log() call writes to now; "" is the default channel.
  // Empty when sync_log is off.
  std::vector<std::string> channels() const;
  // Every configured channel, whether or not suppressed or switched off.
  const std::vector<std::string>& configured_channels() const { return channels_; }
  const std::string& configdirectory() const { return confdir_; }

 private:
  Result<LogHold> write_all_channels(const std::string& formatted, std::string_view what);
  std::vector<std::string> channel_paths() const;

  std::string confdir_;
  bool enabled_ = false;
  bool chain_ = false;
  std::vector<std::string> channels_;
  std::vector<std::string> unsuppressable_;
  std::atomic<bool> suppressed_{false};
  std::shared_ptr<LogdClient> daemon_;
  std::vector<std::string> replicas_;
  std::shared_ptr<detail::WaitState> wait_;  // null: sync_wait_replicas is 0
};

// Splits a space-separated channel list (sync_log_channels,
// sync_log_unsuppressable_channels); the token "" becomes the empty string,
// i.e. the default channel. An empty value gives an empty list.
std::vector<std::string> parse_channel_list(std::string_view value);

}  // namespace replimail::synclog
