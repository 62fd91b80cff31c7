// promstatsd: the instance's Prometheus endpoint (issue 16), named after
// Cyrus 3.6's daemon that collates the same statistics (Cyrus serves them
// through httpd's /metrics; we serve them here).
//
//   promstatsd [-C imapd.conf] -l [host:]port [-v]
//
// Run by master as a DAEMON entry (cyrus.conf:
//   promstatsd cmd="promstatsd -l 127.0.0.1:9101"); stays in the foreground.
// Needs `prometheus_enabled: yes` (the processes publish nothing without it;
// exit 78 otherwise). Every `prometheus_update_freq` (Cyrus's: 10 s, at
// least 1 s) it re-reads imapd.conf and collates: the counters and gauges
// every process of the instance publishes in the stats directory
// (`prometheus_stats_dir`, else <configdirectory>/stats; common/stats.h),
// and each channel's backlog, lag, connection and bootstrap progress
// (sync/channel_status.h, what sync_status shows). GET /metrics returns the
// last report in Prometheus's text format; nothing else is served
// (metrics/http.h). There is no authentication (prometheus_need_auth is
// not implemented): listen on an address only Prometheus reaches.
// SIGTERM or SIGINT: exit 0. Exit 64 on a usage error, 78 on a
// configuration error, 71 if it cannot listen.
#include <sysexits.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "common/config.h"
#include "common/exposition.h"
#include "common/stats.h"
#include "common/log.h"
#include "common/program_config.h"
#include "metrics/collect.h"
#include "metrics/http.h"
#include "sync/channel_status.h"

using namespace replimail;

int main(int argc, char** argv) {
  auto flags = parse_daemon_flags(argc, argv, 'l', "", /*required=*/true,
                                  "usage: promstatsd [-C imapd.conf] -l [host:]port [-v]\n");
  if (!flags) return EX_USAGE;
  const std::string& conf = flags->conf;
  const std::string& listen = flags->value;
  auto config = load_program_config("promstatsd", conf, flags->verbose);
  if (!config.ok()) return EX_CONFIG;
  if (!config->get_bool("prometheus_enabled")) {
    spdlog::error("{}: prometheus_enabled is off: no process publishes statistics", conf);
    return EX_CONFIG;
  }
  metrics::StatsAggregator aggregator(stats::stats_dir(*config));
  if (Status st = aggregator.load(); !st.is_ok()) {
    // Counters start again from the live processes: Prometheus sees a reset.
    spdlog::error("stats: {}: retired totals dropped", st.to_string());
  }
  std::string report;
  auto collate = [&] {
    if (auto fresh = Config::load(conf); fresh.ok()) {
      config = std::move(fresh);
    } else {
      spdlog::warn("{} (collating with the configuration read before)", fresh.status().to_string());
    }
    std::vector<exposition::Family> families = aggregator.collect();
    for (auto& f : metrics::channel_families(sync::inspect_channels(*config, sync::unix_ms_now())))
      families.push_back(std::move(f));
    report = exposition::render(families);
  };
  auto server = metrics::Server::open(listen, [&report] { return report; });
  if (!server.ok()) {
    spdlog::error("cannot listen on {}: {}", listen, server.status().to_string());
    return EX_OSERR;
  }
  auto period = std::max(config->get_duration("prometheus_update_freq"), std::chrono::seconds(1));
  (*server)->every(period, collate);
  spdlog::info("serving /metrics on port {}, collated every {}s", (*server)->port(),
               period.count());
  return (*server)->run();
}
