// Reload (SIGHUP): cyrus.conf is read again and what changed is applied to
// the running services, daemons and events; imapd.conf is reported again
// for the new workers.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>

#include "master/imapd_conf_report.h"
#include "master/supervisor_impl.h"

namespace replimail::master {

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
  reload_services(*conf);
  reload_daemons(*conf);
  reload_events(*conf);
  collect_retired();
}

// Removed services and those that moved address are retired first, so
// that a new listener can take over an address.
void Supervisor::Impl::reload_services(const CyrusConf& conf) {
  std::vector<const ServiceEntry*> to_open;
  for (const auto& e : conf.services) {
    auto it = std::find_if(services.begin(), services.end(), [&](const auto& sp) {
      return !sp->retired && sp->entry.name == e.name;
    });
    if (it == services.end()) {
      to_open.push_back(&e);
    } else if ((*it)->entry.listen != e.listen || (*it)->entry.proto != e.proto) {
      retire(**it);
      to_open.push_back(&e);
    } else {
      renew_service(**it, e);
    }
  }
  for (auto& sp : services) {
    if (sp->retired) continue;
    bool kept = std::any_of(conf.services.begin(), conf.services.end(),
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
}

// Every kept service's workers are replaced, as Cyrus's master does: SIGHUP
// makes an idle worker exit at once and a busy one after its connection,
// and the new workers read imapd.conf afresh (a channel added to
// sync_log_channels, say), not only when the cmd changed.
void Supervisor::Impl::renew_service(Service& s, const ServiceEntry& e) {
  spdlog::info("service {}: {}, replacing its workers", e.name,
               s.entry.argv != e.argv ? "cmd changed" : "reloading");
  int old = s.generation++;
  signal_children([&](const Child& c) { return c.service == &s && c.generation <= old; }, SIGHUP);
  s.entry = e;
  s.forkrate.set_limit(e.maxforkrate);
  s.disabled = false;
  s.failures = 0;
}

// Removed daemons are stopped, those whose cmd changed restarted, new ones
// started at the next tick.
void Supervisor::Impl::reload_daemons(const CyrusConf& conf) {
  auto now = Clock::now();
  for (auto& dp : daemons) {
    Daemon& d = *dp;
    auto it = std::find_if(conf.daemons.begin(), conf.daemons.end(),
                           [&](const DaemonEntry& e) { return e.name == d.entry.name; });
    if (it == conf.daemons.end()) {
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
  for (const auto& e : conf.daemons) {
    bool known = std::any_of(daemons.begin(), daemons.end(), [&](const auto& dp) {
      return dp->entry.name == e.name && !dp->removed;
    });
    if (known) continue;
    auto d = std::make_unique<Daemon>();
    d->entry = e;
    d->restart_at = now;
    daemons.push_back(std::move(d));
  }
}

// Unchanged events keep their schedule; new or changed ones are scheduled
// as at start-up.
void Supervisor::Impl::reload_events(const CyrusConf& conf) {
  std::time_t wall = std::time(nullptr);
  std::vector<Event> next;
  for (const auto& e : conf.events) {
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
}

}  // namespace replimail::master
