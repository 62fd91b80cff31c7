// Private to master/: the supervisor's state, shared by supervisor.cc (life
// cycle, event loop, reaping, shutdown), services.cc (listeners and their
// workers), events.cc (EVENTS entries) and reload.cc (applying a re-read
// cyrus.conf at SIGHUP).
#pragma once

#include <sys/types.h>

#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "master/cyrus_conf.h"
#include "master/schedule.h"
#include "master/spawn.h"
#include "master/supervisor.h"

namespace replimail::master {

// One SERVICES entry with its listener and the status pipe its workers
// write to (fd 3). Retired services live on until their last worker exits.
struct Service {
  ServiceEntry entry;
  int listen_fd = -1;  // -1 while its address cannot be bound (see bind_at)
  Backoff bind_backoff{std::chrono::milliseconds(100), std::chrono::milliseconds(5000)};
  Clock::time_point bind_at{};  // when to try binding again
  int status_r = -1;
  int status_w = -1;
  int generation = 0;  // bumped at every reload; older workers are sent SIGHUP
  bool retired = false;
  bool disabled = false;
  int failures = 0;
  Clock::time_point last_failure{};
  ForkRate forkrate;
  int next_id = 0;
  uint64_t connections = 0;
};

// One DAEMON entry and its (at most one) running process.
struct Daemon {
  DaemonEntry entry;
  pid_t pid = 0;
  int ok_fd = -1;  // read end of the pipe on the daemon's fd 3
  Backoff backoff;
  Clock::time_point started{};
  Clock::time_point restart_at{};
  bool removed = false;
  bool restart_now = false;
};

// One EVENTS entry and when it runs next (wall-clock seconds).
struct Event {
  EventEntry entry;
  std::time_t next_run = 0;
  bool done = false;
};

enum class Kind { kStart, kService, kDaemon, kEvent };

// What master knows about one of its child processes, keyed by pid.
struct Child {
  Kind kind;
  std::string name;
  Service* service = nullptr;
  Daemon* daemon = nullptr;
  bool ready = false;  // services: waiting for a connection
  int generation = 0;
  Clock::time_point started{};
};

std::string_view kind_name(Kind k);

struct Supervisor::Impl {
  explicit Impl(MasterOptions o) : options(std::move(o)) {}

  MasterOptions options;
  int sig_r = -1;
  int sig_w = -1;
  bool stopping = false;
  bool reload_requested = false;
  std::map<pid_t, Child> children;
  std::vector<std::unique_ptr<Service>> services;
  std::vector<std::unique_ptr<Daemon>> daemons;
  std::vector<Event> events;

  int run();
  Status setup_signals();
  Status run_start(const CyrusConf& conf);
  Status start_waiting_daemons();
  void tick();
  void wait_and_dispatch(int timeout_ms);
  int next_timeout_ms() const;
  void drain_signals();
  void reap();
  void on_exit(pid_t pid, int status);
  void read_status(Service& s);
  void read_daemon_pipe(Daemon& d);
  // SIGHUP (reload.cc): cyrus.conf read again, what changed applied.
  void reload();
  void reload_services(const CyrusConf& conf);
  void renew_service(Service& s, const ServiceEntry& e);
  void reload_daemons(const CyrusConf& conf);
  void reload_events(const CyrusConf& conf);
  void shutdown();
  bool wait_for(const std::function<bool(const Child&)>& pred, Clock::time_point deadline);
  void signal_children(const std::function<bool(const Child&)>& pred, int sig);

  // Services.
  // A service with its status pipe; its listener opens now if it can, else
  // later (open_listener()).
  Result<std::unique_ptr<Service>> make_service(const ServiceEntry& e);
  // Tries to bind the service's address; on failure logs it and sets when
  // to try again. True once the listener is open.
  bool open_listener(Service& s);
  void retire(Service& s);
  // Forks one worker; false if the fork rate or fork() said no.
  bool spawn_worker(Service& s);
  int workers(const Service& s) const;
  int ready_workers(const Service& s) const;
  bool may_fork(const Service& s) const;
  void collect_retired();

  // Daemons and events.
  Status start_daemon(Daemon& d);
  void schedule(Event& e, std::time_t now, bool first);
  void run_event(Event& e);

  std::vector<std::string> command(const std::vector<std::string>& argv) const {
    return with_config_option(argv, options.imapd_conf);
  }
};

// Small descriptor helpers.
Status make_pipe(int fds[2]);
void set_nonblocking(int fd);
void close_fd(int& fd);

}  // namespace replimail::master
