// The master process: runs cyrus.conf's process table as an explicit event
// loop. One poll() waits on a self-pipe fed by the signal handlers (which
// only write the signal number), the listeners of services that need
// another worker, the services' status pipes, and the DAEMON fd-3 pipes;
// timers (EVENTS, daemon restarts, fork-rate retries) bound its timeout.
//
// Life cycle: START entries run in order, each to completion (a failure is
// fatal); DAEMON wait=y entries start one by one and must write "ok\r\n" on
// fd 3; every SERVICES listener opens; prefork workers, the other daemons
// and the start-up EVENTS launch; then "ready" is logged and the pidfile
// written. SIGHUP re-reads cyrus.conf (START excepted) and applies the
// difference; SIGTERM/SIGINT/SIGQUIT stop every child (TERM, then KILL after
// the grace period), remove the pidfile and end run() with 0.
//
// Every child gets "-C <imapd.conf>" when master was given -C and its cmd
// has no -C of its own (a convenience over Cyrus). Children stay in master's
// process group and die with master (SIGTERM to workers, which ends a session
// at once; SIGKILL to the others, whose SIGTERM means "finish the pass"), so
// a master killed with SIGKILL, alone or with its group, leaves nothing
// running that would hold a listener or a channel.
//
// A listener that cannot be opened (the address still held by a dying
// worker of a previous master, say) does not stop master: it logs why and
// tries again, 100 ms at first and doubling up to 5 s, while the other
// services, daemons and events start.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace replimail::master {

struct CyrusConf;

struct MasterOptions {
  std::string imapd_conf;  // -C: passed on to children; empty: nothing added
  std::string cyrus_conf;  // -M
  std::string pidfile;     // -p: empty means none
  std::string bin_dir;     // where bare program names in cmd= resolve
  int backlog = 32;        // -l
  std::chrono::milliseconds stop_grace{5000};
  // Called once, right after the pidfile is written (daemonise handshake).
  std::function<void()> on_ready;
  // Called on SIGHUP with the new cyrus.conf, once it has been read and
  // before any worker is replaced or daemon started (programs/master.cc
  // records the channels sync_log_channels adds: store/channels.h).
  std::function<void(const CyrusConf&)> on_reload;
};

class Supervisor {
 public:
  explicit Supervisor(MasterOptions options);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Runs master until it is told to stop. Returns the process exit code:
  // 0 after a requested stop, non-zero when start-up failed.
  // REQUIRES: called once, from a single-threaded process.
  int run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace replimail::master
