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
// algorithm, so Cyrus and replimail processes can share a log). A write that
// fails is logged at error level naming the channel and path: the event is
// lost, loudly. Thread safety: a SyncLog may be used from several threads;
// appends from one process are serialized by a mutex, since fcntl locks only
// exclude other processes.
#pragma once

#include <atomic>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/status.h"
#include "synclog/line.h"

namespace replimail::synclog {

// $configdirectory/sync/log for the default channel (""), else
// $configdirectory/sync/<channel>/log.
std::string log_path(const std::string& configdirectory, const std::string& channel);

// Appends `lines` to the log at `path` with Cyrus's writer algorithm: open
// O_APPEND|O_CREAT 0640 (creating directories 0755), blocking fcntl lock,
// retry if the file was renamed away meanwhile (up to 64 times), one write,
// fsync, unlock. Unlike Cyrus, the process keeps the file open for its next
// append (the rename check covers a file opened long ago). Ignores sync_log
// and suppression: this is the explicit per-channel write sync_client and
// squatter use to re-queue work.
Status append_lines(const std::string& path, std::string_view formatted);
// append_lines() to several logs at once: each is locked and written, then
// all are fsynced at the same time (one thread per log beyond the first), so
// that the flushes share journal commits, and unlocked. One status per path,
// in order.
std::vector<Status> append_to_logs(const std::vector<std::string>& paths,
                                   std::string_view formatted);

class SyncLog {
 public:
  // Reads sync_log, sync_log_channels, sync_log_chain,
  // sync_log_unsuppressable_channels and configdirectory.
  explicit SyncLog(const Config& cfg);

  // Appends `lines` to every enabled channel, one write per channel. A line
  // that cannot be formatted (CR/LF in a name) is logged and dropped; the
  // others are still written.
  void log(const std::vector<Line>& lines);
  // log() for callers that want to know: the first error (a line that could
  // not be formatted, a channel that could not be written), after trying
  // every line and channel. Errors are logged either way.
  Status write(const std::vector<Line>& lines);
  // Writes `text` (one line, no CR/LF; LF appended) to every enabled
  // channel, as cyr_synclog does without a type flag.
  Status log_raw(std::string_view text);

  void user(const std::string& userid);
  void unuser(const std::string& userid);
  void meta(const std::string& userid);
  void mailbox(const std::string& name);
  void append(const std::string& name);
  void doublemailbox(const std::string& from, const std::string& to);
  void unmailbox(const std::string& name);
  // Writes RENAME old new, MAILBOX old, MAILBOX new (one batch).
  void rename(const std::string& oldname, const std::string& newname);
  void quota(const std::string& root);
  // "" is the server-wide annotation namespace.
  void annotation(const std::string& name);
  void seen(const std::string& userid, const std::string& uniqueid);
  void sub(const std::string& userid, const std::string& name);

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
  Status write_all_channels(const std::string& formatted, std::string_view what);

  std::string confdir_;
  bool enabled_ = false;
  bool chain_ = false;
  std::vector<std::string> channels_;
  std::vector<std::string> unsuppressable_;
  std::atomic<bool> suppressed_{false};
};

// Splits a space-separated channel list (sync_log_channels,
// sync_log_unsuppressable_channels); the token "" becomes the empty string,
// i.e. the default channel. An empty value gives an empty list.
std::vector<std::string> parse_channel_list(std::string_view value);

}  // namespace replimail::synclog
