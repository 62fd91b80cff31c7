// sync_client: replication to a replica's sync_server (Cyrus's sync_client):
// rolling mode over a channel's sync log, or one-shot.
//
//   sync_client [-C imapd.conf] [-n channel] [-S host[:port]] [-p partition]
//               [-v] [-l] [-L] [-z] [-o] [-O] [-w secs]
//               (-r | -R) [-1] [-F file] [-d secs] [-t secs]
//             | -u user... | -m mailbox... | -s user... | -A | [-r | -R] -f file
//
//   -r           rolling: follow the channel's log until stopped (SIGTERM or the
//                shutdown file). A channel mailboxes.db records as bootstrapping
//                (a new replica: master or sync_logd records every channel that
//                appears in sync_log_channels) is first filled by the resumable
//                -A, while its log accumulates, then set rolling; one whose
//                bootstrap failed waits, its one-line reason in sync_status
//                (sync/rolling.h). As Cyrus's, it forks into the background
//                unless master runs it as a DAEMON (CYRUS_ISDAEMON set, the
//                recommended form): the parent exits 0 once the child holds
//                the channel's lock and runs, or with the child's exit code if
//                it could not start (75: another client has the channel; 78:
//                configuration), so that a cyrus.conf START entry completes.
//   -R           rolling in the foreground
//   -1           with -r/-R: one pass, exit 0 once the log is drained
//   -F FILE      shutdown file (overrides sync_shutdown_file)
//   -d SECS      fallback poll interval (overrides sync_repeat_interval)
//   -t SECS      rolling: end and remake the replica connections after SECS
//                connected (Cyrus's negotiated restart; default never)
//   -u USER...   sync these users (with -f: users listed in FILE)
//   -m MBOX...   sync these mailboxes (internal names) as one batch (with -f: from FILE)
//   -s USER...   META: the users' seen state and subscriptions (Cyrus's "sieve
//                mode", sync_do_meta; replimail keeps no sieve scripts to send)
//   -A           bootstrap: every user, then every shared mailbox, resuming an
//                interrupted run (progress in the channel's bootstrap.json); a
//                progress bar on stderr when it is a terminal. Done, it sets
//                the channel rolling if mailboxes.db had it bootstrapping or
//                failed (the way to resume after fixing a failed bootstrap)
//   -f FILE      alone or with -r/-R: process FILE as a sync log (never renamed
//                nor deleted), in the foreground
//   -n CHANNEL   use <channel>_sync_host, _sync_port, _sync_authname, _sync_password
//   -S HOST      replica host (overrides sync_host); HOST:PORT or a unix socket path
//   -p PART      destination partition on the replica
//   -v           verbose: commands to stderr, a summary line on stdout (-v -v: replies too)
//   -l           verbose logging
//   -L           local mailbox operations only: APPLY LOCAL_MAILBOX, LOCAL_RENAME,
//                LOCAL_UNMAILBOX (a Cyrus replica in a Murder leaves mupdate alone)
//   -z           require compression (also to a replica on this host, where it is
//                otherwise skipped: see sync/connection.h)
//   -o           connect once: a failed connection ends the run (exit 1) instead
//                of being retried (rolling; one-shot modes never retry)
//   -O           no copyback: never run a full update; APPLY FORCE after login
//   -w SECS      wait SECS before starting (to attach a debugger)
//   -N           refused: Cyrus's non-blocking per-user sync lock; replimail
//                takes no per-user sync lock (one rolling client per channel)
// Exit status: 0 on success, 1 if anything failed, 64 on a usage error (one
// line on stderr saying what), 75 with -r/-R when another rolling client
// already runs for the channel, 78 on a configuration error (e.g. -r for a
// channel sync_log_channels does not log).
#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/config.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/stats.h"
#include "store/instance.h"
#include "store/memory.h"
#include "sync/bootstrap.h"
#include "sync/client.h"
#include "sync/connection.h"
#include "sync/rolling.h"
#include "synclog/channels.h"
#include "synclog/reader.h"
#include "synclog/synclog.h"

namespace {

using namespace replimail;

constexpr const char* kSynopsis =
    "sync_client [-C imapd.conf] [-n channel] [-S host[:port]] [-p partition] [-vlLzoO]"
    " [-w secs] ((-r|-R) [-1] [-F file] [-d secs] [-t secs] | -u user... | -m mailbox... |"
    " -s user... | -A | -f file)";

// A usage error: one line saying what is wrong, with the synopsis.
int usage_error(const std::string& why) {
  std::fprintf(stderr, "sync_client: %s; usage: %s\n", why.c_str(), kSynopsis);
  return EX_USAGE;
}

// -r's detach (see the header comment). The child reports once on
// g_started_fd: 0 when it started, else the code it exits with.
int g_started_fd = -1;

void report_start(int code) {
  if (g_started_fd < 0) return;
  const unsigned char b = static_cast<unsigned char>(code);
  while (::write(g_started_fd, &b, 1) < 0 && errno == EINTR) {
  }
  ::close(g_started_fd);
  g_started_fd = -1;
}

// Forks; returns in the child (its own session, stdin from /dev/null). The
// parent waits for the child's report and exits with it, never returning.
// Called before logging starts and before any thread exists.
void detach() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    std::fprintf(stderr, "sync_client: pipe: %s\n", std::strerror(errno));
    std::exit(1);
  }
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    std::fprintf(stderr, "sync_client: fork: %s\n", std::strerror(errno));
    std::exit(1);
  }
  if (pid > 0) {
    ::close(p[1]);
    unsigned char b = 0;
    ssize_t n;
    while ((n = ::read(p[0], &b, 1)) < 0 && errno == EINTR) {
    }
    if (n == 1 && b == 0) ::_exit(0);
    if (n == 1) {
      std::fprintf(stderr,
                   "sync_client: the background rolling client (pid %d) did not start "
                   "(exit %d)\n",
                   static_cast<int>(pid), b);
      ::_exit(b);
    }
    // The child ended without a word: it died before it could report.
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(status))
      std::fprintf(stderr,
                   "sync_client: the background rolling client (pid %d) was killed by "
                   "signal %d before it started\n",
                   static_cast<int>(pid), WTERMSIG(status));
    else
      std::fprintf(stderr,
                   "sync_client: the background rolling client (pid %d) ended before "
                   "it started (exit %d)\n",
                   static_cast<int>(pid), WEXITSTATUS(status));
    ::_exit(WIFEXITED(status) && WEXITSTATUS(status) != 0 ? WEXITSTATUS(status) : 1);
  }
  ::close(p[0]);
  g_started_fd = p[1];
  // Out of master's (or the shell's) process group: a signal to the group
  // that started it is not meant for the daemon.
  ::setsid();
  int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null >= 0) {
    ::dup2(null, STDIN_FILENO);
    ::close(null);
  }
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

struct RollingFlags {
  bool once = false;          // -1
  bool connect_once = false;  // -o
  std::string shutdown_file;  // -F
  int repeat_secs = 0;        // -d
  int session_secs = 0;       // -t
  int verbose = 0;            // -v
  bool compress = false;      // -z
  bool force = false;         // -O
};

int run_rolling(const Config& cfg, const std::string& channel, const std::string& server,
                sync::ClientOptions copts, const RollingFlags& f) {
  if (Status s = check_channel(cfg, channel); !s) {
    spdlog::error("{}", s.message());
    return EX_CONFIG;
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
    return EX_CONFIG;
  }
  opts->client = std::move(copts);
  opts->once = f.once;
  opts->connect_once = f.connect_once;
  opts->connect.verbose = f.verbose;
  opts->connect.require_compression = f.compress;
  opts->connect.force = f.force;
  if (!f.shutdown_file.empty()) opts->shutdown_file = f.shutdown_file;
  if (f.repeat_secs > 0) opts->repeat_interval = std::chrono::seconds(f.repeat_secs);
  opts->session_timeout = std::chrono::seconds(f.session_secs);
  opts->on_started = [] { report_start(0); };
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

// A number of seconds given to `flag`, or -1.
int seconds_arg(const char* text) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < 0 || v > 86400 * 365) return -1;
  return static_cast<int>(v);
}

int sync_client_main(int argc, char** argv);

}  // namespace

int main(int argc, char** argv) {
  // Mailboxes are streamed through once: a bigger SQLite cache would only
  // make memory grow with the mailbox (issue 17).
  store::limit_database_memory(1 << 20);
  int rc = sync_client_main(argc, argv);
  report_start(rc);
  return rc;
}

namespace {

int sync_client_main(int argc, char** argv) {
  std::string conf = "/etc/imapd.conf", channel, server, partition, file;
  RollingFlags rf;
  int verbose = 0, wait_secs = 0;
  bool logverbose = false, no_copyback = false, local_only = false, background = false;
  char mode = 0, mode_flag = 0;  // mode_flag: the flag that chose it
  int opt;
  ::opterr = 0;
  while ((opt = getopt(argc, argv, ":C:n:S:p:f:F:d:t:w:vlLzoONumsArR1")) != -1) {
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
        rf.shutdown_file = optarg;
        break;
      case 'd':
      case 't':
      case 'w': {
        int v = seconds_arg(optarg);
        if (v < 0)
          return usage_error(fmt::format("-{} wants a number of seconds, not '{}'",
                                         static_cast<char>(opt), optarg));
        (opt == 'd' ? rf.repeat_secs : opt == 't' ? rf.session_secs : wait_secs) = v;
        break;
      }
      case 'v':
        verbose++;
        break;
      case 'l':
        logverbose = true;
        break;
      case 'L':
        local_only = true;
        break;
      case 'z':
        rf.compress = true;
        break;
      case 'o':
        rf.connect_once = true;
        break;
      case 'O':
        no_copyback = true;
        break;
      case '1':
        rf.once = true;
        break;
      case 'N':
        return usage_error(
            "-N (skip users whose per-user sync lock another sync_client holds) is not "
            "supported: replimail's sync_client takes no per-user sync lock");
      case 'r':
      case 'R':
      case 'u':
      case 'm':
      case 's':
      case 'A':
        if (mode_flag != 0 && mode_flag != opt)
          return usage_error(
              fmt::format("-{} and -{} are mutually exclusive", mode_flag, static_cast<char>(opt)));
        mode_flag = static_cast<char>(opt);
        mode = opt == 'R' ? 'r' : mode_flag;
        background = opt == 'r';
        break;
      case ':':
        return usage_error(fmt::format("option -{} needs an argument", static_cast<char>(optopt)));
      default:
        return usage_error(optopt > 32 && optopt < 127
                               ? fmt::format("unknown option -{}", static_cast<char>(optopt))
                               : std::string("unknown option"));
    }
  }
  std::vector<std::string> args(argv + optind, argv + argc);
  if (mode == 0 && file.empty())
    return usage_error("no replication mode given (-r, -R, -u, -m, -s, -A or -f)");
  if (rf.once && mode != 'r') return usage_error("-1 needs -r or -R");
  if (mode == 'r' && !file.empty() && rf.once) return usage_error("-1 and -f are exclusive");
  if (mode == 'r' && !file.empty()) mode = 0;  // Cyrus: -r -f FILE is -f FILE
  if ((mode == 'u' || mode == 'm' || mode == 's') && args.empty() && file.empty())
    return usage_error(fmt::format("-{} needs at least one name (or -f FILE)", mode));
  // As Cyrus: rolling -r forks unless master runs it as a DAEMON.
  if (mode == 'r' && background && std::getenv("CYRUS_ISDAEMON") == nullptr) detach();
  init_logging("sync_client", logverbose || verbose > 0);
  // A replica that goes away mid-write gives an error, not a dead client.
  ::signal(SIGPIPE, SIG_IGN);
  if (wait_secs > 0) {
    std::fprintf(stderr, "Waiting for %d seconds for gdb attach...\n", wait_secs);
    std::this_thread::sleep_for(std::chrono::seconds(wait_secs));
  }
  auto config = Config::load(conf);
  if (!config.ok()) {
    spdlog::error("{}", config.status().to_string());
    return EX_CONFIG;
  }
  apply_logging_config(*config);
  stats::configure(*config);
  sync::ClientOptions opts;
  opts.channel = channel;
  opts.partition = partition;
  opts.no_copyback = no_copyback;
  opts.local_only = local_only;
  if (mode == 'r') {
    rf.verbose = verbose;
    rf.force = no_copyback;
    return run_rolling(*config, channel, server, opts, rf);
  }

  auto instance = store::Instance::open(*config);
  if (!instance.ok()) {
    spdlog::error("cannot open the mail store: {}", instance.status().to_string());
    return EX_CONFIG;
  }
  if (!file.empty() && (mode == 'u' || mode == 'm' || mode == 's')) {
    auto text = fs::read_file(file);
    if (!text.ok()) {
      spdlog::error("{}", text.status().to_string());
      return 1;
    }
    for (auto& n : names_in(*text)) args.push_back(n);
  }
  if ((mode == 'u' || mode == 'm' || mode == 's') && args.empty()) {
    spdlog::error("{}: no names in it", file);
    return 1;
  }
  auto co = sync::channel_connect_options(*config, channel, server);
  if (!co.ok()) {
    spdlog::error("{}", co.status().message());
    return EX_CONFIG;
  }
  co->require_compression = rf.compress;
  co->verbose = verbose;
  co->force = no_copyback;

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
    if (s) {
      // A channel its rolling client was bootstrapping (or gave up on) is
      // ready now: its client rolls from its next pass on.
      auto& mbl = (*instance)->mailboxes();
      auto state = mbl.channel_state(channel);
      if (state.ok() && *state && (*state)->phase != store::ChannelPhase::kRolling) {
        Status r =
            mbl.set_channel_state(channel, store::ChannelPhase::kRolling, "", sync::unix_ms_now());
        if (!r) spdlog::error("recording channel state: {}", r.to_string());
      }
    }
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
  } else if (mode == 's') {
    for (const auto& u : args) keep(client.sync_meta(u));
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

}  // namespace
