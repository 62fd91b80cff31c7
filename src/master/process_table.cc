#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>

#include "common/fs.h"
#include "master/imapd_conf_report.h"
#include "master/spawn.h"
#include "master/supervisor_impl.h"

namespace replimail::master {

// ---- Services -------------------------------------------------------------

Result<std::unique_ptr<Service>> Supervisor::Impl::make_service(const ServiceEntry& e) {
  auto svc = std::make_unique<Service>();
  svc->entry = e;
  svc->forkrate.set_limit(e.maxforkrate);
  int fds[2];
  if (Status s = make_pipe(fds); !s) return s;
  svc->status_r = fds[0];
  svc->status_w = fds[1];
  set_nonblocking(svc->status_r);
  (void)open_listener(*svc);
  return svc;
}

bool Supervisor::Impl::open_listener(Service& s) {
  auto fd = net::open_listener(s.entry.address, options.backlog);
  if (!fd) {
    // Typically EADDRINUSE: workers of a master killed a moment ago still
    // hold the socket until the kernel has finished them off.
    auto delay = s.bind_backoff.next(std::chrono::milliseconds(0));
    s.bind_at = Clock::now() + delay;
    spdlog::warn("service {}: {}; retrying in {} ms", s.entry.name, fd.status().message(),
                 delay.count());
    return false;
  }
  s.listen_fd = *fd;
  // Workers that lose the race for a connection must not block in accept().
  set_nonblocking(s.listen_fd);
  s.bind_backoff = Backoff(std::chrono::milliseconds(100), std::chrono::milliseconds(5000));
  spdlog::info("service {}: listening on {}", s.entry.name, s.entry.address.to_string());
  return true;
}

// Stops a service: its listener closes and its workers are told to finish
// (idle ones exit at once, busy ones after their connection).
void Supervisor::Impl::retire(Service& s) {
  spdlog::info("service {}: stopping", s.entry.name);
  s.retired = true;
  close_fd(s.listen_fd);
  if (s.entry.address.kind == net::ListenAddress::Kind::kUnix)
    (void)fs::remove_file(s.entry.address.path);
  signal_children([&](const Child& c) { return c.service == &s; }, SIGHUP);
}

void Supervisor::Impl::collect_retired() {
  std::erase_if(services, [&](const std::unique_ptr<Service>& sp) {
    if (!sp->retired || workers(*sp) > 0) return false;
    close_fd(sp->status_r);
    close_fd(sp->status_w);
    return true;
  });
}

int Supervisor::Impl::workers(const Service& s) const {
  return static_cast<int>(std::count_if(children.begin(), children.end(),
                                        [&](const auto& kv) { return kv.second.service == &s; }));
}

int Supervisor::Impl::ready_workers(const Service& s) const {
  return static_cast<int>(std::count_if(children.begin(), children.end(), [&](const auto& kv) {
    const Child& c = kv.second;
    return c.service == &s && c.ready && c.generation == s.generation;
  }));
}

bool Supervisor::Impl::may_fork(const Service& s) const {
  return s.listen_fd >= 0 && (s.entry.maxchild < 0 || workers(s) < s.entry.maxchild);
}

bool Supervisor::Impl::spawn_worker(Service& s) {
  auto now = Clock::now();
  if (!s.forkrate.allows(now)) return false;
  SpawnSpec spec;
  spec.argv = command(s.entry.argv);
  spec.env = {{"CYRUS_SERVICE", s.entry.name}, {"CYRUS_ID", std::to_string(s.next_id++)}};
  spec.status_fd = s.status_w;
  spec.listen_fd = s.listen_fd;
  // SIGTERM ends a session at once and an idle worker's wait: a worker never
  // outlives its master, whatever it is doing.
  spec.death_signal = SIGTERM;
  auto pid = spawn(spec);
  if (!pid) {
    spdlog::error("service {}: {}", s.entry.name, pid.status().message());
    return false;
  }
  s.forkrate.record(now);
  // Counted ready from the start (as Cyrus does): its first message will be
  // AVAILABLE, and counting it now keeps one pending connection from
  // forking a crowd.
  children[*pid] = Child{Kind::kService, s.entry.name, &s, nullptr, true, s.generation, now};
  spdlog::info("service {}: spawned worker pid {}", s.entry.name, *pid);
  return true;
}

// ---- Events -----------------------------------------------------------------

void Supervisor::Impl::schedule(Event& e, std::time_t now, bool first) {
  if (e.entry.at) {
    e.next_run = next_daily(now, *e.entry.at);
  } else if (first) {
    e.next_run = now;  // periodic events and once-only events run at start-up
  } else if (e.entry.period_minutes > 0) {
    e.next_run = std::max(e.next_run + e.entry.period_minutes * 60, now + 1);
  } else {
    e.done = true;
  }
}

void Supervisor::Impl::run_event(Event& e) {
  SpawnSpec spec;
  spec.argv = command(e.entry.argv);
  spec.env = {{"CYRUS_SERVICE", e.entry.name}};
  auto pid = spawn(spec);
  if (!pid) {
    spdlog::error("event {}: {}", e.entry.name, pid.status().message());
    return;
  }
  children[*pid] = Child{Kind::kEvent, e.entry.name, nullptr, nullptr, false, 0, Clock::now()};
  spdlog::info("event {}: started pid {}", e.entry.name, *pid);
}

// ---- Reload (SIGHUP) ---------------------------------------------------------

void Supervisor::Impl::reload() {
  auto conf = load_cyrus_conf(options.cyrus_conf);
  Status resolved = conf ? resolve_commands(&*conf, options.bin_dir) : conf.status();
  if (!resolved) {
    spdlog::error("reload: {}; keeping the running configuration", resolved.message());
    return;
  }
  spdlog::info("reloading {}", options.cyrus_conf);
  for (const auto& w : conf->warnings) spdlog::warn("{}", w);
  // The new workers read imapd.conf afresh: what it holds is said again.
  std::string imapd_conf = imapd_conf_path(options.imapd_conf);
  if (!options.imapd_conf.empty() || ::access(imapd_conf.c_str(), R_OK) == 0) {
    auto config = report_imapd_conf(imapd_conf);
    if (!config.ok())
      spdlog::error("reload: {}: new workers will not start", config.status().message());
  }
  if (options.on_reload) options.on_reload(*conf);

  // Services: removed ones and those that moved address are retired first,
  // so that a new listener can take over an address.
  std::vector<const ServiceEntry*> to_open;
  for (const auto& e : conf->services) {
    auto it = std::find_if(services.begin(), services.end(), [&](const auto& sp) {
      return !sp->retired && sp->entry.name == e.name;
    });
    if (it == services.end()) {
      to_open.push_back(&e);
      continue;
    }
    Service& s = **it;
    if (s.entry.listen != e.listen || s.entry.proto != e.proto) {
      retire(s);
      to_open.push_back(&e);
      continue;
    }
    // Every kept service's workers are replaced, as Cyrus's master does:
    // SIGHUP makes an idle worker exit at once and a busy one after its
    // connection, and the new workers read imapd.conf afresh (a channel
    // added to sync_log_channels, say), not only when the cmd changed.
    spdlog::info("service {}: {}, replacing its workers", e.name,
                 s.entry.argv != e.argv ? "cmd changed" : "reloading");
    int old = s.generation++;
    signal_children([&](const Child& c) { return c.service == &s && c.generation <= old; }, SIGHUP);
    s.entry = e;
    s.forkrate.set_limit(e.maxforkrate);
    s.disabled = false;
    s.failures = 0;
  }
  for (auto& sp : services) {
    if (sp->retired) continue;
    bool kept = std::any_of(conf->services.begin(), conf->services.end(),
                            [&](const ServiceEntry& e) { return e.name == sp->entry.name; });
    if (!kept) retire(*sp);
  }
  for (const ServiceEntry* e : to_open) {
    auto svc = make_service(*e);
    if (svc) {
      services.push_back(std::move(*svc));
    } else {
      spdlog::error("reload: {}", svc.status().message());
    }
  }

  // Daemons.
  auto now = Clock::now();
  for (auto& dp : daemons) {
    Daemon& d = *dp;
    auto it = std::find_if(conf->daemons.begin(), conf->daemons.end(),
                           [&](const DaemonEntry& e) { return e.name == d.entry.name; });
    if (it == conf->daemons.end()) {
      d.removed = true;
      spdlog::info("daemon {}: removed, stopping", d.entry.name);
      if (d.pid) ::kill(d.pid, SIGTERM);
    } else if (it->argv != d.entry.argv) {
      spdlog::info("daemon {}: cmd changed, restarting", d.entry.name);
      d.entry = *it;
      d.backoff = Backoff();
      if (d.pid) {
        d.restart_now = true;
        ::kill(d.pid, SIGTERM);
      } else {
        d.restart_at = now;
      }
    } else {
      d.entry = *it;
    }
  }
  std::erase_if(daemons, [](const auto& dp) { return dp->removed && dp->pid == 0; });
  for (const auto& e : conf->daemons) {
    bool known = std::any_of(daemons.begin(), daemons.end(), [&](const auto& dp) {
      return dp->entry.name == e.name && !dp->removed;
    });
    if (known) continue;
    auto d = std::make_unique<Daemon>();
    d->entry = e;
    d->restart_at = now;
    daemons.push_back(std::move(d));
  }

  // Events: unchanged ones keep their schedule.
  std::time_t wall = std::time(nullptr);
  std::vector<Event> next;
  for (const auto& e : conf->events) {
    auto it = std::find_if(events.begin(), events.end(), [&](const Event& old) {
      return old.entry.name == e.name && old.entry.argv == e.argv &&
             old.entry.period_minutes == e.period_minutes && old.entry.at == e.at;
    });
    if (it != events.end()) {
      next.push_back(*it);
    } else {
      next.push_back(Event{e});
      schedule(next.back(), wall, true);
    }
  }
  events = std::move(next);
  collect_retired();
}

}  // namespace replimail::master
