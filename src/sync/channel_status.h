// The state of one replication channel, as its rolling sync_client reports it
// and as sync_status shows it.
//
// A rolling sync_client keeps $configdirectory/sync/<channel>/status.json
// (for the default channel: $configdirectory/sync/status.json), rewritten
// atomically (fs::write_file_atomic) at every state change and at most every
// ~200 ms otherwise. sync_status reads it and adds what only the files can
// tell: the backlog (lines in log + log-run), the age of the oldest pending
// line (the birth time of log-run, else of log), whether the client process
// is alive (kill(pid, 0)) and the bootstrap progress (sync/bootstrap.h).
//
// The JSON helpers are pure; inspect_channel() only reads files.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/status.h"
#include "store/mboxlist.h"
#include "sync/bootstrap.h"

namespace replimail::sync {

// Milliseconds since the Unix epoch, now.
int64_t unix_ms_now();

// The directory of a channel's files: $configdirectory/sync/<channel>, or
// $configdirectory/sync for the default channel "".
std::string channel_dir(const std::string& configdirectory, const std::string& channel);
std::string status_path(const std::string& configdirectory, const std::string& channel);

// status.json. Times are unix milliseconds, 0 when it never happened;
// last_lag_ms is -1 until a log-run has been applied.
struct ChannelStatus {
  std::string channel;
  int64_t pid = 0;
  bool connected = false;
  std::string replica;  // "host:port" or the unix socket path
  std::string state;    // "connecting", "idle", "syncing", "backoff", "stopped"
  int64_t last_success = 0;
  std::string last_error;
  int64_t last_error_time = 0;
  uint64_t batches = 0;
  uint64_t lines_applied = 0;
  // From the log-run's oldest line being written (the file's birth time) to
  // the whole log-run being applied.
  int64_t last_lag_ms = -1;
  int64_t updated = 0;  // when this was written

  bool operator==(const ChannelStatus&) const = default;
};

std::string to_json(const ChannelStatus& s);
// kInvalidArgument on malformed JSON or a missing/mistyped field.
Result<ChannelStatus> status_from_json(std::string_view text);

// Writes status.json: at once when forced (a state change), otherwise only
// if the last write is older than `min_interval`. Errors are logged, never
// fatal: replication goes on without a status file.
class StatusFile {
 public:
  explicit StatusFile(std::string path,
                      std::chrono::milliseconds min_interval = std::chrono::milliseconds(200));
  void update(ChannelStatus status, bool force);
  // Keeps `status` for the next update() or flush() without writing now.
  void set_pending(ChannelStatus status);
  // Writes the last status given to update() if a rate-limited write was
  // skipped since.
  void flush();
  // nullopt if nothing is pending; else how long until flush() may write
  // without exceeding the rate (<= 0: now).
  std::optional<std::chrono::milliseconds> flush_due() const;
  const std::string& path() const { return path_; }

 private:
  void write(ChannelStatus& s);

  std::string path_;
  std::chrono::milliseconds min_interval_;
  std::chrono::steady_clock::time_point last_write_{};
  ChannelStatus pending_;
  bool dirty_ = false;
};

// What sync_status prints for one channel.
struct ChannelReport {
  std::string channel;
  uint64_t backlog_lines = 0;           // lines in log-run + log
  uint64_t backlog_bytes = 0;           // their size in bytes
  int64_t oldest_age_ms = -1;           // age of the oldest pending file; -1: no backlog
  std::optional<ChannelStatus> status;  // none if the client never wrote one
  std::string status_error;             // why status.json could not be read
  bool client_alive = false;            // status->pid answers kill(pid, 0)
  std::string bootstrap;                // "none", "ready", "37/120 users"
  // The channel's state in mailboxes.db (store/channels.h); none if it is
  // not recorded.
  std::optional<store::ChannelState> phase;
  // While the channel bootstraps: how far, from bootstrap.json.
  std::optional<BootstrapEta> progress;
};

// The channel's replication lag: the age of its oldest unreplicated line
// (0 without a backlog). Not the last batch's lag: a stalled channel's lag
// grows while its last batch's stays what it was.
int64_t replication_lag_ms(const ChannelReport& r);

// Reads the channel's files under `configdirectory`; `phase` is its state
// in mailboxes.db, if recorded.
ChannelReport inspect_channel(const std::string& configdirectory, const std::string& channel,
                              int64_t now_ms,
                              const std::optional<store::ChannelState>& phase = std::nullopt);

// Every channel of `cfg`'s sync_log_channels (the default channel "" when
// unset), each with its state in mailboxes.db if the instance has one (read
// only: nothing is created). What sync_status and promstatsd show.
std::vector<ChannelReport> inspect_channels(const Config& cfg, int64_t now_ms);

// {"channels":[{...}, ...]} (one line).
std::string reports_json(const std::vector<ChannelReport>& reports);
// One human-readable block per channel.
std::string reports_text(const std::vector<ChannelReport>& reports, int64_t now_ms);

// Newlines in a file (0 if it does not exist); streamed, never held whole.
Result<uint64_t> count_lines(const std::string& path);
// The birth time (statx btime) of a file in unix ms, falling back to its
// mtime where the filesystem keeps no birth time; nullopt if missing.
std::optional<int64_t> file_birth_ms(const std::string& path);

}  // namespace replimail::sync
