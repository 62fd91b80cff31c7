// Services: each SERVICES entry's listener and the pool of workers that
// accept on it (spawned, counted, retired).
#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>

#include "common/fs.h"
#include "master/spawn.h"
#include "master/supervisor_impl.h"

namespace replimail::master {

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

}  // namespace replimail::master
