// Events: when each EVENTS entry runs next, and starting it.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "master/spawn.h"
#include "master/supervisor_impl.h"

namespace replimail::master {

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

}  // namespace replimail::master
