// sync_logd's socket: the protocol of synclog/logd_client.h served on a
// unix stream socket, one thread per writer connection (a connection per
// writing process: the workers master runs), each handing its requests to
// the LogDaemon.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>

#include "common/status.h"
#include "synclog/logd.h"

namespace replimail::synclog {

class LogdServer {
 public:
  explicit LogdServer(LogDaemon& daemon) : daemon_(daemon) {}
  // Closes the socket (removing its file), ends every connection and waits
  // for their threads. Their held entries count as released.
  ~LogdServer();
  LogdServer(const LogdServer&) = delete;
  LogdServer& operator=(const LogdServer&) = delete;

  // Listens on `path` (its directory created 0750; mode 0600). A socket
  // left there by a daemon that is gone is removed; one that still answers
  // is an error: another daemon serves this instance.
  Status listen(const std::string& path);
  // The listening descriptor, for poll().
  int fd() const { return listen_fd_; }
  // Accepts a pending connection (poll said fd() is readable) and serves it
  // on a thread of its own.
  void accept_one();

 private:
  void serve(int fd, uint64_t owner);

  LogDaemon& daemon_;
  std::string path_;
  int listen_fd_ = -1;
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<int> connections_;
  int threads_ = 0;
  uint64_t next_owner_ = 1;
};

}  // namespace replimail::synclog
