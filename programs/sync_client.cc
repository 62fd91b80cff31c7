// sync_client: replication to a replica's sync_server (Cyrus's sync_client):
// rolling mode over a channel's sync log, or one-shot.
//
//   sync_client [-C imapd.conf] [-n channel] [-S host[:port]] [-p partition]
//               [-v] [-l] [-z] [-o] [-O]
//               (-r [-1] [-F file] [-d secs] | -u user... | -m mailbox... | -A | -f file)
//
//   -r, -R       rolling: follow the channel's log until stopped (SIGTERM or the
//                shutdown file); runs in the foreground (master's DAEMON entry
//                supervises it). -1: one pass, exit 0 once the log is drained
//   -F FILE      shutdown file (overrides sync_shutdown_file)
//   -d SECS      fallback poll interval (overrides sync_repeat_interval)
//   -u USER...   sync these users (with -f: users listed in FILE)
//   -m MBOX...   sync these mailboxes (internal names) as one batch (with -f: from FILE)
//   -A           bootstrap: every user, then every shared mailbox, resuming an
//                interrupted run (progress in the channel's bootstrap.json); a
//                progress bar on stderr when it is a terminal
//   -f FILE      alone: process FILE as a sync log (never renamed nor deleted)
//   -n CHANNEL   use <channel>_sync_host, _sync_port, _sync_authname, _sync_password
//   -S HOST      replica host (overrides sync_host); HOST:PORT or a unix socket path
//   -p PART      destination partition on the replica
//   -v           verbose: commands to stderr, a summary line on stdout (-v -v: replies too)
//   -l           verbose logging
//   -z           require compression (also to a replica on this host, where it is
//                otherwise skipped: see sync/connection.h)
//   -o           accepted for Cyrus compatibility (unused, as in Cyrus 3.6)
//   -O           no copyback: never run a full update
// Exit status: 0 on success, 1 if anything failed, 64 on a usage error, 75 with
// -r when another rolling client already runs for the channel, 78 on a
// configuration error (e.g. -r for a channel sync_log_channels does not log).
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/fs.h"
#include "common/log.h"
#include "store/instance.h"
#include "sync/bootstrap.h"
#include "sync/client.h"
#include "sync/connection.h"
#include "sync/rolling.h"
#include "synclog/channels.h"
#include "synclog/reader.h"
#include "synclog/synclog.h"

namespace {

using namespace replimail;

constexpr int kExitUsage = 64;
constexpr int kExitConfig = 78;

void usage() {
  std::fprintf(stderr,
               "usage: sync_client [-C imapd.conf] [-n channel] [-S host[:port]] [-p partition]\n"
               "                   [-v] [-l] [-z] [-o] [-O]\n"
               "                   (-r [-1] [-F file] [-d secs] | -u user... | -m mailbox... |"
               " -A | -f file)\n");
}

// Names listed in a file, one per line; blank lines and # comments skipped.
std::vector<std::string> names_in(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty() && line[0] != '#') out.push_back(line);
  }
  return out;
}

sync::RollingClient* g_rolling = nullptr;

void on_stop_signal(int) {
  if (g_rolling) g_rolling->request_stop();
}

// Refuses (kConfigError) a rolling client for a channel nothing is logged
// to, and logs synclog::check_channels()'s warnings (e.g. sync_log_channels
// naming only squatter: replication silently off, Cyrus issue #2248).
Status check_channel(const Config& cfg, const std::string& channel) {
  for (const auto& w : synclog::check_channels(cfg)) spdlog::warn("{}", w);
  if (!cfg.get_bool("sync_log")) {
    spdlog::warn("sync_log is off: no change is logged to channel {}",
                 channel.empty() ? "\"\"" : channel);
    return Status::ok();
  }
  auto raw = cfg.raw("sync_log_channels");
  std::vector<std::string> channels =
      raw ? synclog::parse_channel_list(*raw) : std::vector<std::string>{""};
  if (std::find(channels.begin(), channels.end(), channel) == channels.end())
    return Status(Code::kConfigError,
                  fmt::format("channel {} is not in sync_log_channels ({}): its log is never "
                              "written; add it there or use -n with a listed channel",
                              channel.empty() ? "\"\"" : channel, raw.value_or("")));
  return Status::ok();
}

int run_rolling(const Config& cfg, const std::string& channel, const std::string& server,
                sync::ClientOptions copts, bool once, const std::string& shutdown_file,
                int repeat_secs, int verbose, bool compress) {
  if (Status s = check_channel(cfg, channel); !s) {
    spdlog::error("{}", s.message());
    return kExitConfig;
  }
  auto opts = sync::RollingOptions::from_config(cfg, channel);
  if (opts.ok() && !server.empty()) {
    auto co = sync::channel_connect_options(cfg, channel, server);
    if (!co.ok()) {
      opts = co.status();
    } else {
      opts->connect = *co;
    }
  }
  if (!opts.ok()) {
    spdlog::error("{}", opts.status().message());
    return kExitConfig;
  }
  opts->client = std::move(copts);
  opts->once = once;
  opts->connect.verbose = verbose;
  opts->connect.require_compression = compress;
  if (!shutdown_file.empty()) opts->shutdown_file = shutdown_file;
  if (repeat_secs > 0) opts->repeat_interval = std::chrono::seconds(repeat_secs);
  sync::RollingClient client(cfg, *opts);
  g_rolling = &client;
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  spdlog::info("rolling replication of channel {} to {} ({} workers, batches of {} lines)",
               channel.empty() ? "\"\"" : channel, opts->connect.host, opts->workers,
               opts->batch_size);
  int rc = client.run();
  g_rolling = nullptr;
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  std::string conf = "/etc/imapd.conf", channel, server, partition, file, shutdown_file;
  int verbose = 0, repeat_secs = 0;
  bool logverbose = false, compress = false, no_copyback = false, once = false;
  char mode = 0;
  int opt;
  while ((opt = getopt(argc, argv, "C:n:S:p:f:F:d:vlzoOumArR1")) != -1) {
    switch (opt) {
      case 'C':
        conf = optarg;
        break;
      case 'n':
        channel = optarg;
        break;
      case 'S':
        server = optarg;
        break;
      case 'p':
        partition = optarg;
        break;
      case 'f':
        file = optarg;
        break;
      case 'F':
        shutdown_file = optarg;
        break;
      case 'd':
        repeat_secs = std::atoi(optarg);
        break;
      case 'v':
        verbose++;
        break;
      case 'l':
        logverbose = true;
        break;
      case 'z':
        compress = true;
        break;
      case 'o':
        break;
      case 'O':
        no_copyback = true;
        break;
      case '1':
        once = true;
        break;
      case 'R':
      case 'r':
      case 'u':
      case 'm':
      case 'A': {
        char m = opt == 'R' ? 'r' : static_cast<char>(opt);
        if (mode != 0 && mode != m) {
          usage();
          return kExitUsage;
        }
        mode = m;
        break;
      }
      default:
        usage();
        return kExitUsage;
    }
  }
  init_logging("sync_client", logverbose || verbose > 0);
  // A replica that goes away mid-write gives an error, not a dead client.
  ::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + optind, argv + argc);
  if ((mode == 0 && file.empty()) || (mode == 'r' && !file.empty()) || (once && mode != 'r')) {
    usage();
    return kExitUsage;
  }
  auto config = Config::load(conf);
  if (!config.ok()) {
    spdlog::error("{}", config.status().to_string());
    return kExitConfig;
  }
  sync::ClientOptions opts;
  opts.channel = channel;
  opts.partition = partition;
  opts.no_copyback = no_copyback;
  if (mode == 'r')
    return run_rolling(*config, channel, server, opts, once, shutdown_file, repeat_secs, verbose,
                       compress);

  auto instance = store::Instance::open(*config);
  if (!instance.ok()) {
    spdlog::error("cannot open the mail store: {}", instance.status().to_string());
    return kExitConfig;
  }
  if (!file.empty() && (mode == 'u' || mode == 'm')) {
    auto text = fs::read_file(file);
    if (!text.ok()) {
      spdlog::error("{}", text.status().to_string());
      return 1;
    }
    for (auto& n : names_in(*text)) args.push_back(n);
  }
  if ((mode == 'u' || mode == 'm') && args.empty()) {
    usage();
    return kExitUsage;
  }
  auto co = sync::channel_connect_options(*config, channel, server);
  if (!co.ok()) {
    spdlog::error("{}", co.status().message());
    return kExitConfig;
  }
  co->require_compression = compress;
  co->verbose = verbose;

  if (mode == 'A') {
    sync::BootstrapOptions bo;
    bo.channel = channel;
    bo.connect = *co;
    bo.client = opts;
    bo.progress_bar = ::isatty(STDERR_FILENO) != 0;
    sync::Bootstrap boot(**instance, bo);
    Status s = boot.run();
    const auto& st = boot.stats();
    if (verbose > 0)
      std::printf(
          "uploaded %llu messages (%llu bytes), applied %llu mailboxes, %llu full updates; "
          "%zu users done before\n",
          static_cast<unsigned long long>(st.messages_uploaded),
          static_cast<unsigned long long>(st.bytes_uploaded),
          static_cast<unsigned long long>(st.mailboxes_applied),
          static_cast<unsigned long long>(st.full_updates), boot.resumed_done());
    return s ? 0 : 1;
  }

  sync::FetchSink fetched(**instance);
  auto conn = sync::ReplicaConnection::open(*co, &fetched);
  if (!conn.ok()) {
    spdlog::error("SYNCERROR channel={} connecting to {}: {}", channel.empty() ? "\"\"" : channel,
                  co->host, conn.status().to_string());
    return 1;
  }
  sync::SyncClient client(**instance, **conn, fetched, opts);

  Status result;
  auto keep = [&](Status s) {
    if (!s && result) result = s;
  };
  if (mode == 'u') {
    for (const auto& u : args) keep(client.sync_user(u));
  } else if (mode == 'm') {
    keep(client.sync_mailboxes(args));
  } else {
    synclog::LogReader reader = synclog::LogReader::for_file(file);
    Status s = reader.begin();
    if (!s) {
      spdlog::error("reading {}: {}", file, s.to_string());
      return 1;
    }
    keep(client.sync_lines(reader.lines()));
  }
  Status s = (*conn)->simple("EXIT");
  if (!s) spdlog::warn("EXIT: {}", s.to_string());
  const auto& st = client.stats();
  if (verbose > 0)
    std::printf("uploaded %llu messages (%llu bytes), applied %llu mailboxes, %llu full updates\n",
                static_cast<unsigned long long>(st.messages_uploaded),
                static_cast<unsigned long long>(st.bytes_uploaded),
                static_cast<unsigned long long>(st.mailboxes_applied),
                static_cast<unsigned long long>(st.full_updates));
  return result ? 0 : 1;
}
