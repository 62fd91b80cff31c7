#include "master/supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <map>
#include <vector>

#include "common/fs.h"
#include "master/spawn.h"
#include "master/supervisor_impl.h"
#include "net/service.h"

namespace replimail::master {
namespace {

int g_signal_pipe = -1;

void on_signal(int sig) {
  int saved = errno;
  unsigned char b = static_cast<unsigned char>(sig);
  ssize_t ignored = ::write(g_signal_pipe, &b, 1);
  (void)ignored;
  errno = saved;
}

std::chrono::milliseconds since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t);
}

// How a ready worker's death counts towards disabling its service (Cyrus:
// five abnormal deaths, each within 10 s of the previous one).
constexpr int kMaxFailures = 5;
constexpr std::chrono::seconds kFailureWindow{10};

}  // namespace

Status make_pipe(int fds[2]) {
  if (::pipe2(fds, O_CLOEXEC) != 0) return errno_status("pipe");
  return Status::success();
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

std::string_view kind_name(Kind k) {
  switch (k) {
    case Kind::kStart:
      return "start";
    case Kind::kService:
      return "service";
    case Kind::kDaemon:
      return "daemon";
    case Kind::kEvent:
      return "event";
  }
  return "process";
}

Supervisor::Supervisor(MasterOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Supervisor::~Supervisor() = default;
int Supervisor::run() { return impl_->run(); }

Status Supervisor::Impl::setup_signals() {
  int fds[2];
  if (Status s = make_pipe(fds); !s) return s;
  sig_r = fds[0];
  sig_w = fds[1];
  set_nonblocking(sig_r);
  set_nonblocking(sig_w);
  g_signal_pipe = sig_w;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  for (int sig : {SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGCHLD}) ::sigaction(sig, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  return Status::success();
}

Status Supervisor::Impl::run_start(const CyrusConf& conf) {
  for (const auto& e : conf.start) {
    SpawnSpec spec;
    spec.argv = command(e.argv);
    auto pid = spawn(spec);
    if (!pid) return pid.status();
    spdlog::info("start {}: running pid {}", e.name, *pid);
    int status = 0;
    while (::waitpid(*pid, &status, 0) < 0) {
      if (errno != EINTR)
        return Status(Code::kInternal, fmt::format("waitpid: {}", std::strerror(errno)));
    }
    spdlog::info("start {} pid {} {}", e.name, *pid, describe_exit(status));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      return Status(Code::kInternal, fmt::format("START entry '{}' failed", e.name));
  }
  return Status::success();
}

Status Supervisor::Impl::start_daemon(Daemon& d) {
  int fds[2];
  if (Status s = make_pipe(fds); !s) return s;
  SpawnSpec spec;
  spec.argv = command(d.entry.argv);
  spec.env = {{"CYRUS_SERVICE", d.entry.name}, {"CYRUS_ISDAEMON", "1"}};
  spec.status_fd = fds[1];
  auto pid = spawn(spec);
  ::close(fds[1]);
  if (!pid) {
    ::close(fds[0]);
    return pid.status();
  }
  set_nonblocking(fds[0]);
  d.pid = *pid;
  d.ok_fd = fds[0];
  d.started = Clock::now();
  d.restart_now = false;
  children[*pid] = Child{Kind::kDaemon, d.entry.name, nullptr, &d, false, 0, d.started};
  spdlog::info("daemon {}: started pid {}", d.entry.name, *pid);
  return Status::success();
}

// wait=y daemons start one at a time, each confirming with "ok\r\n" on fd 3
// before the next one (and any service) starts.
Status Supervisor::Impl::start_waiting_daemons() {
  for (auto& dp : daemons) {
    Daemon& d = *dp;
    if (!d.entry.wait) continue;
    if (Status s = start_daemon(d); !s) return s;
    std::string got;
    while (got.find("ok\n") == std::string::npos && got.find("ok\r\n") == std::string::npos) {
      struct pollfd p {
        d.ok_fd, POLLIN, 0
      };
      if (::poll(&p, 1, -1) < 0 && errno != EINTR) return errno_status("poll");
      char buf[64];
      ssize_t n = ::read(d.ok_fd, buf, sizeof buf);
      if (n == 0)
        return Status(Code::kInternal,
                      fmt::format("daemon '{}' (wait=y) did not report ok", d.entry.name));
      if (n > 0) got.append(buf, static_cast<size_t>(n));
    }
    spdlog::info("daemon {}: ready", d.entry.name);
  }
  return Status::success();
}

int Supervisor::Impl::run() {
  if (Status s = setup_signals(); !s) {
    spdlog::error("{}", s.message());
    return 1;
  }
  auto conf = load_cyrus_conf(options.cyrus_conf);
  Status resolved = conf ? resolve_commands(&*conf, options.bin_dir) : conf.status();
  if (!resolved) {
    spdlog::error("{}", resolved.message());
    return 1;
  }
  for (const auto& w : conf->warnings) spdlog::warn("{}", w);

  Status s = run_start(*conf);
  for (const auto& e : conf->daemons) {
    daemons.push_back(std::make_unique<Daemon>());
    daemons.back()->entry = e;
  }
  if (s) s = start_waiting_daemons();
  for (const auto& e : conf->services) {
    if (!s) break;
    auto svc = make_service(e);
    if (svc) {
      services.push_back(std::move(*svc));
    } else {
      s = svc.status();
    }
  }
  if (!s) {
    spdlog::error("{}", s.message());
    shutdown();
    return 1;
  }
  std::time_t now = std::time(nullptr);
  for (const auto& e : conf->events) {
    events.push_back(Event{e});
    schedule(events.back(), now, true);
  }
  tick();
  // Logged first, so that whoever sees the pidfile also finds this line.
  int unbound = static_cast<int>(std::count_if(services.begin(), services.end(),
                                               [](const auto& sp) { return sp->listen_fd < 0; }));
  spdlog::info("ready: {} service(s){}, {} daemon(s), {} event(s)", services.size(),
               unbound ? fmt::format(" ({} waiting for their address)", unbound) : "",
               daemons.size(), events.size());
  if (!options.pidfile.empty()) {
    if (Status ps = fs::write_file_atomic(options.pidfile, fmt::format("{}\n", ::getpid())); !ps) {
      spdlog::error("pidfile: {}", ps.message());
      shutdown();
      return 1;
    }
  }
  if (options.on_ready) options.on_ready();

  while (!stopping) {
    wait_and_dispatch(next_timeout_ms());
    if (reload_requested) {
      reload_requested = false;
      reload();
    }
    if (!stopping) tick();
  }
  shutdown();
  if (!options.pidfile.empty()) (void)fs::remove_file(options.pidfile);
  spdlog::info("exiting");
  return 0;
}

// Starts whatever is due: workers services lack, daemons past their
// backoff, events whose time has come.
void Supervisor::Impl::tick() {
  auto now = Clock::now();
  for (auto& sp : services) {
    Service& s = *sp;
    if (s.listen_fd < 0 && !s.retired && now >= s.bind_at) (void)open_listener(s);
    while (!s.retired && !s.disabled && ready_workers(s) < s.entry.prefork && may_fork(s)) {
      if (!spawn_worker(s)) break;  // retried after kForkRetry (see next_timeout_ms)
    }
  }
  for (auto& dp : daemons) {
    Daemon& d = *dp;
    if (d.pid == 0 && !d.removed && now >= d.restart_at) {
      if (Status st = start_daemon(d); !st) {
        spdlog::error("daemon {}: {}", d.entry.name, st.message());
        d.restart_at = now + d.backoff.next(std::chrono::milliseconds(0));
      }
    }
  }
  std::time_t wall = std::time(nullptr);
  for (auto& e : events) {
    if (!e.done && wall >= e.next_run) {
      run_event(e);
      schedule(e, wall, false);
    }
  }
}

int Supervisor::Impl::next_timeout_ms() const {
  auto now = Clock::now();
  std::chrono::milliseconds wait{60000};
  for (const auto& dp : daemons) {
    if (dp->pid == 0 && !dp->removed)
      wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::max(dp->restart_at - now, Clock::duration::zero())));
  }
  std::time_t wall = std::time(nullptr);
  for (const auto& e : events) {
    if (!e.done)
      wait = std::min(
          wait, std::chrono::milliseconds(std::max<std::time_t>(e.next_run - wall, 0) * 1000));
  }
  for (const auto& sp : services) {
    const Service& s = *sp;
    if (s.listen_fd < 0 && !s.retired)
      wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::max(s.bind_at - now, Clock::duration::zero())));
    bool wants = !s.retired && !s.disabled && ready_workers(s) < s.entry.prefork;
    if (wants && !s.forkrate.allows(now)) wait = std::min(wait, kForkRetry);
  }
  return static_cast<int>(wait.count());
}

void Supervisor::Impl::wait_and_dispatch(int timeout_ms) {
  std::vector<struct pollfd> fds;
  std::vector<Service*> listen_for;
  std::vector<Service*> status_for;
  std::vector<Daemon*> daemon_for;
  fds.push_back({sig_r, POLLIN, 0});
  auto now = Clock::now();
  for (auto& sp : services) {
    Service& s = *sp;
    fds.push_back({s.status_r, POLLIN, 0});
    status_for.push_back(&s);
  }
  for (auto& sp : services) {
    Service& s = *sp;
    // Only a service that has no idle worker and may fork another listens
    // here; otherwise a pending connection would make poll() spin.
    if (s.retired || s.disabled || ready_workers(s) > 0 || !may_fork(s)) continue;
    if (!s.forkrate.allows(now)) {
      timeout_ms = std::min(timeout_ms, static_cast<int>(kForkRetry.count()));
      continue;
    }
    fds.push_back({s.listen_fd, POLLIN, 0});
    listen_for.push_back(&s);
  }
  for (auto& dp : daemons) {
    if (dp->ok_fd < 0) continue;
    fds.push_back({dp->ok_fd, POLLIN, 0});
    daemon_for.push_back(dp.get());
  }
  int n = ::poll(fds.data(), fds.size(), timeout_ms);
  if (n < 0) {
    if (errno != EINTR) spdlog::error("poll: {}", std::strerror(errno));
    return;
  }
  size_t i = 1;
  for (Service* s : status_for)
    if (fds[i++].revents) read_status(*s);
  for (Service* s : listen_for) {
    // A connection is waiting and no worker is free: fork one (the status
    // pipe read above may already have supplied one).
    if (fds[i++].revents && !s->retired && ready_workers(*s) == 0 && may_fork(*s))
      (void)spawn_worker(*s);
  }
  for (Daemon* d : daemon_for)
    if (fds[i++].revents) read_daemon_pipe(*d);
  // Last: reaping may free retired services and removed daemons, which the
  // pointers above refer to.
  if (fds[0].revents) drain_signals();
}

void Supervisor::Impl::drain_signals() {
  unsigned char buf[64];
  for (;;) {
    ssize_t n = ::read(sig_r, buf, sizeof buf);
    if (n <= 0) break;
    for (ssize_t k = 0; k < n; ++k) {
      switch (buf[k]) {
        case SIGCHLD:
          break;
        case SIGHUP:
          reload_requested = true;
          break;
        default:
          if (!stopping) spdlog::info("received signal {}, shutting down", buf[k]);
          stopping = true;
      }
    }
  }
  reap();
}

void Supervisor::Impl::reap() {
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) break;
    on_exit(pid, status);
  }
  collect_retired();
}

void Supervisor::Impl::on_exit(pid_t pid, int status) {
  auto it = children.find(pid);
  if (it == children.end()) {
    spdlog::info("process pid {} {}", pid, describe_exit(status));
    return;
  }
  Child c = it->second;
  children.erase(it);
  bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  // Exits master asked for (stop, removal, replacement) are not warnings.
  bool asked = stopping || (c.daemon && (c.daemon->removed || c.daemon->restart_now)) ||
               (c.service && (c.service->retired || c.generation != c.service->generation));
  auto log_level = clean || asked ? spdlog::level::info : spdlog::level::warn;
  spdlog::log(log_level, "{} {} pid {} {}", kind_name(c.kind), c.name, pid, describe_exit(status));
  if (c.kind == Kind::kService && c.ready && !clean && !asked && c.service) {
    Service& s = *c.service;
    auto now = Clock::now();
    s.failures = now - s.last_failure < kFailureWindow ? s.failures + 1 : 1;
    s.last_failure = now;
    if (s.failures >= kMaxFailures && !s.disabled) {
      s.disabled = true;
      spdlog::error("service {}: too many failures, disabled until SIGHUP", s.entry.name);
    }
  }
  if (c.kind == Kind::kDaemon && c.daemon) {
    Daemon& d = *c.daemon;
    d.pid = 0;
    if (d.ok_fd >= 0) {
      read_daemon_pipe(d);
      close_fd(d.ok_fd);
    }
    if (d.removed && !stopping) {
      daemons.erase(std::find_if(daemons.begin(), daemons.end(),
                                 [&](const auto& p) { return p.get() == &d; }));
    } else if (d.restart_now) {
      d.restart_at = Clock::now();
    } else if (!stopping) {
      auto delay = d.backoff.next(since(d.started));
      d.restart_at = Clock::now() + delay;
      spdlog::info("daemon {}: restarting in {} ms", d.entry.name, delay.count());
    }
  }
}

void Supervisor::Impl::read_status(Service& s) {
  net::StatusRecord recs[64];
  for (;;) {
    ssize_t n = ::read(s.status_r, recs, sizeof recs);
    if (n <= 0) return;
    // Records are 8 bytes and pipe writes of up to PIPE_BUF are atomic, so
    // reads always return whole records.
    for (size_t k = 0; k < static_cast<size_t>(n) / sizeof recs[0]; ++k) {
      auto it = children.find(recs[k].pid);
      if (it == children.end() || it->second.service != &s) continue;
      switch (recs[k].message) {
        case net::kServiceAvailable:
          it->second.ready = true;
          break;
        case net::kServiceUnavailable:
          it->second.ready = false;
          break;
        case net::kServiceConnection:
          ++s.connections;
          break;
        default:
          spdlog::warn("service {}: unknown status message {} from pid {}", s.entry.name,
                       recs[k].message, recs[k].pid);
      }
    }
  }
}

void Supervisor::Impl::read_daemon_pipe(Daemon& d) {
  char buf[256];
  for (;;) {
    ssize_t n = ::read(d.ok_fd, buf, sizeof buf);
    if (n > 0) continue;
    if (n == 0) close_fd(d.ok_fd);
    return;
  }
}

// ---- Shutdown -----------------------------------------------------------------

void Supervisor::Impl::signal_children(const std::function<bool(const Child&)>& pred, int sig) {
  for (const auto& [pid, c] : children)
    if (pred(c)) ::kill(pid, sig);
}

// Reaps until no child matching `pred` is left or `deadline` passes.
bool Supervisor::Impl::wait_for(const std::function<bool(const Child&)>& pred,
                                Clock::time_point deadline) {
  for (;;) {
    reap();
    bool any = std::any_of(children.begin(), children.end(),
                           [&](const auto& kv) { return pred(kv.second); });
    if (!any) return true;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    struct pollfd p {
      sig_r, POLLIN, 0
    };
    ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 100)));
    unsigned char buf[64];
    while (::read(sig_r, buf, sizeof buf) > 0) {
    }
  }
}

void Supervisor::Impl::shutdown() {
  stopping = true;
  for (auto& sp : services) {
    close_fd(sp->listen_fd);
    if (sp->entry.address.kind == net::ListenAddress::Kind::kUnix && !sp->retired)
      (void)fs::remove_file(sp->entry.address.path);
  }
  auto is_waiting_daemon = [](const Child& c) {
    return c.kind == Kind::kDaemon && c.daemon && c.daemon->entry.wait;
  };
  auto others = [&](const Child& c) { return !is_waiting_daemon(c); };
  signal_children(others, SIGTERM);
  if (!wait_for(others, Clock::now() + options.stop_grace)) {
    spdlog::warn("children still running after {} ms, killing them", options.stop_grace.count());
    signal_children(others, SIGKILL);
    wait_for(others, Clock::now() + std::chrono::seconds(5));
  }
  // wait=y daemons were started first; they stop last, in reverse order.
  for (auto it = daemons.rbegin(); it != daemons.rend(); ++it) {
    Daemon& d = **it;
    if (!d.entry.wait || d.pid == 0) continue;
    pid_t pid = d.pid;
    auto this_one = [pid](const Child& c) {
      return c.kind == Kind::kDaemon && c.daemon && c.daemon->pid == pid;
    };
    ::kill(pid, SIGTERM);
    if (!wait_for(this_one, Clock::now() + options.stop_grace)) {
      ::kill(pid, SIGKILL);
      wait_for(this_one, Clock::now() + std::chrono::seconds(5));
    }
  }
  for (auto& sp : services) {
    close_fd(sp->status_r);
    close_fd(sp->status_w);
  }
}

}  // namespace replimail::master
