// The writer's side of sync_logd's socket (the daemon: synclog/logd.h).
//
// The protocol, one request at a time per connection, on a unix stream
// socket at $configdirectory/socket/sync_logd:
//   C: LOG <suppressed 0|1> <length> LF <length bytes: formatted lines>
//   S: OK <id> LF          the lines are durable in the daemon's journal
//   S: NO <reason> LF      not journaled: write them directly
//   C: DONE <id> LF        (no answer) the change they announce committed or
//                          was abandoned: the daemon may now write them to
//                          the channel logs
//   C: WRITTEN <id> LF    (after its DONE)
//   S: OK *(SP <channel>=<file>:<need>) LF
//                          the lines of entry <id> are in its channel logs
//                          (not necessarily fsynced yet), and where they
//                          went in those that have an applied.shm
//                          (synclog/applied.h's LinePosition; the default
//                          channel is spelled ""); NO after 10 s
//   C: FLUSH LF
//   S: OK LF               every entry journaled before FLUSH has been
//                          released and written to its channel logs (not
//                          necessarily fsynced yet); NO after 10 s
// Id 0 means nothing was journaled (no channel to write); its DONE is not
// sent. A connection that closes counts as DONE for all its ids.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "common/status.h"
#include "synclog/applied.h"

namespace replimail::synclog {

// $configdirectory/socket/sync_logd.
std::string logd_socket_path(const std::string& configdirectory);

// A request larger than this is refused by the daemon (the lines of one
// change are a few hundred bytes; a RENAME of a large tree a few MB).
inline constexpr size_t kMaxLogdRequest = 32u << 20;

// The answer to WRITTEN (with its LF) and its reading (without it; false if
// it is not an OK, or a position in it is malformed). Pure.
std::string format_written(const std::map<std::string, LinePosition>& positions);
bool parse_written(std::string_view answer, std::map<std::string, LinePosition>& positions);

// A durable entry in the daemon, to be released with done().
struct LogdTicket {
  uint64_t id = 0;
  uint64_t connection = 0;  // which connection of this client it came on
};

// One connection to the daemon, made on demand and made again after any
// failure (or in a forked child). Thread-safe: requests take turns.
class LogdClient {
 public:
  explicit LogdClient(std::string socket_path);
  ~LogdClient();
  LogdClient(const LogdClient&) = delete;
  LogdClient& operator=(const LogdClient&) = delete;

  // Hands `formatted` to the daemon and waits for it to be journaled. An
  // error means the daemon is absent, refused or failed before answering:
  // the caller writes the lines itself.
  Result<LogdTicket> log(bool suppressed, std::string_view formatted);
  // Tells the daemon that the change of `ticket` is over. False if that
  // connection is gone (the daemon died or was restarted since): then the
  // caller must write the lines itself.
  bool done(const LogdTicket& ticket);
  // done(), then WRITTEN: returns once the lines of `ticket` are in the
  // channel logs, with `positions` (if given) set from the answer (see
  // above; empty if the daemon gave none). False if the daemon cannot say
  // so (gone, or timed out): then the caller writes them itself.
  bool done_and_written(const LogdTicket& ticket,
                        std::map<std::string, LinePosition>* positions = nullptr);
  // FLUSH: returns once the lines of every change logged through the
  // daemon before the call are in the channel logs (for tools and tests
  // that read the logs); an error if there is no daemon or it timed out.
  Status flush();

 private:
  bool connect_locked();
  void drop_locked();
  bool send_locked(std::string_view data);
  // Reads one answer line (without its LF); false (and the connection
  // dropped) if none comes.
  bool answer_locked(std::string& answer);

  std::string path_;
  std::mutex mu_;
  int fd_ = -1;
  pid_t pid_ = 0;
  uint64_t connection_ = 0;  // increases with every connection made
};

}  // namespace replimail::synclog
