// sync_status: the state of every replication channel of this instance.
//
//   sync_status [-C imapd.conf] [-j]
//
// For each channel of sync_log_channels (the default channel "" when unset):
// the backlog (lines in log-run + log) and the age of the oldest pending
// file, whether its rolling sync_client runs (pid in status.json, kill 0)
// and is connected, its last success, error and lag, and the bootstrap
// state ("ready", "bootstrap 37/120 users", "none"). First, its state in
// mailboxes.db (store/channels.h), one line: "rolling since ...",
// "bootstrapping since ...: 412/1000 users, 12.0 MiB, 1.5 MiB/s, ETA 0:40"
// (and why it waits, if it does), or "failed since ...: <reason>". -j prints
// one JSON object {"channels":[...]} on stdout instead (phase, phase_since,
// phase_reason, bootstrap_progress{users_done, users_total, bytes,
// users_per_s, bytes_per_s, eta_s}).
// Exit status: 0, 64 on a usage error, 78 on a configuration error.
#include <sysexits.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/log.h"
#include "sync/channel_status.h"

int main(int argc, char** argv) {
  using namespace replimail;
  std::string conf = "/etc/imapd.conf";
  bool as_json = false;
  int opt;
  while ((opt = getopt(argc, argv, "C:j")) != -1) {
    switch (opt) {
      case 'C':
        conf = optarg;
        break;
      case 'j':
        as_json = true;
        break;
      default:
        std::fprintf(stderr, "usage: sync_status [-C imapd.conf] [-j]\n");
        return EX_USAGE;
    }
  }
  init_logging("sync_status");
  auto config = Config::load(conf);
  if (!config.ok()) {
    spdlog::error("{}", config.status().to_string());
    return EX_CONFIG;
  }
  const int64_t now = sync::unix_ms_now();
  std::vector<sync::ChannelReport> reports = sync::inspect_channels(*config, now);
  std::string out = as_json ? sync::reports_json(reports) : sync::reports_text(reports, now);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}
