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
//                failed (the way to resume after fixing a failed bootstrap).
//                On a cluster slot a user a move is bringing here is left for
//                a later run (exit 75) and one moved away is not sent
//                (cluster/bootstrap_gate.h)
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
// already runs for the channel, and with -A when users were left for a
// later run, 78 on a configuration error (e.g. -r for a channel
// sync_log_channels does not log).
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
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cluster/bootstrap_gate.h"
#include "common/config.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/stats.h"
#include "store/instance.h"
#include "store/memory.h"
#include "sync/bootstrap.h"
#include "sync/channel_tool.h"
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
    return Status::success();
  }
  auto raw = cfg.raw("sync_log_channels");
  std::vector<std::string> channels =
      raw ? synclog::parse_channel_list(*raw) : std::vector<std::string>{""};
  if (std::find(channels.begin(), channels.end(), channel) == channels.end())
    return Status(Code::kConfigError,
                  fmt::format("channel {} is not in sync_log_channels ({}): its log is never "
                              "written; add it there or use -n with a listed channel",
                              channel.empty() ? "\"\"" : channel, raw.value_or("")));
  return Status::success();
}

// The command line, once parsed.
struct Args {
  sync::ChannelFlags chan;    // -C -n -S -v, -z and -O
  std::string partition;      // -p
  std::string file;           // -f
  bool once = false;          // -1
  bool connect_once = false;  // -o
  std::string shutdown_file;  // -F
  int repeat_secs = 0;        // -d
  int session_secs = 0;       // -t
  int wait_secs = 0;          // -w
  bool logverbose = false;    // -l
  bool local_only = false;    // -L
  bool no_copyback = false;   // -O
  bool background = false;    // -r (not -R)
  char mode = 0;              // 'r' (rolling), 'u', 'm', 's', 'A'; 0: -f alone
  char mode_flag = 0;         // the flag that chose the mode
  std::vector<std::string> names;
};

bool takes_names(char mode) { return mode == 'u' || mode == 'm' || mode == 's'; }

// A number of seconds given to `flag`, or -1.
int seconds_arg(const char* text) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < 0 || v > 86400 * 365) return -1;
  return static_cast<int>(v);
}

// The options that only set a field of Args: a value, or a switch.
struct FieldOption {
  char letter;
  std::string Args::*value = nullptr;
  bool Args::*on = nullptr;
};
constexpr FieldOption kFieldOptions[] = {
    {'p', &Args::partition},          {'f', &Args::file},
    {'F', &Args::shutdown_file},      {'l', nullptr, &Args::logverbose},
    {'L', nullptr, &Args::local_only}, {'o', nullptr, &Args::connect_once},
    {'1', nullptr, &Args::once}};

// One getopt option into `a`: 0, or the exit code of a usage error.
int take_option(int opt, Args& a) {
  if (sync::take_channel_flag(opt, optarg, a.chan)) return 0;
  for (const FieldOption& o : kFieldOptions) {
    if (opt != o.letter) continue;
    if (o.value != nullptr) {
      a.*o.value = optarg;
    } else {
      a.*o.on = true;
    }
    return 0;
  }
  switch (opt) {
    case 'd':
    case 't':
    case 'w': {
      int v = seconds_arg(optarg);
      if (v < 0)
        return usage_error(
            fmt::format("-{} wants a number of seconds, not '{}'", static_cast<char>(opt), optarg));
      (opt == 'd' ? a.repeat_secs : opt == 't' ? a.session_secs : a.wait_secs) = v;
      return 0;
    }
    case 'z':
      a.chan.require_compression = true;
      return 0;
    case 'O':
      a.no_copyback = a.chan.force = true;
      return 0;
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
      if (a.mode_flag != 0 && a.mode_flag != opt)
        return usage_error(
            fmt::format("-{} and -{} are mutually exclusive", a.mode_flag, static_cast<char>(opt)));
      a.mode_flag = static_cast<char>(opt);
      a.mode = opt == 'R' ? 'r' : a.mode_flag;
      a.background = opt == 'r';
      return 0;
    default:  // ':' or '?'
      return usage_error(sync::option_problem(opt));
  }
}

// The whole command line into `a`: 0, or the exit code of a usage error.
int parse_args(int argc, char** argv, Args& a) {
  int opt;
  ::opterr = 0;
  while ((opt = getopt(argc, argv, ":C:n:S:p:f:F:d:t:w:vlLzoONumsArR1")) != -1)
    if (int rc = take_option(opt, a); rc != 0) return rc;
  a.names.assign(argv + optind, argv + argc);
  if (a.mode == 0 && a.file.empty())
    return usage_error("no replication mode given (-r, -R, -u, -m, -s, -A or -f)");
  if (a.once && a.mode != 'r') return usage_error("-1 needs -r or -R");
  if (a.mode == 'r' && !a.file.empty() && a.once) return usage_error("-1 and -f are exclusive");
  if (a.mode == 'r' && !a.file.empty()) a.mode = 0;  // Cyrus: -r -f FILE is -f FILE
  if (takes_names(a.mode) && a.names.empty() && a.file.empty())
    return usage_error(fmt::format("-{} needs at least one name (or -f FILE)", a.mode));
  return 0;
}

sync::ClientOptions client_options(const Args& a) {
  sync::ClientOptions opts;
  opts.channel = a.chan.channel;
  opts.partition = a.partition;
  opts.no_copyback = a.no_copyback;
  opts.local_only = a.local_only;
  return opts;
}

// A cluster slot's bootstrap asks the directory about each user
// (cluster/bootstrap_gate.h). False once a bad cluster option is logged.
bool set_bootstrap_gate(const Config& cfg,
                        std::function<sync::UserVerdict(const std::string&)>& verdict) {
  static std::unique_ptr<cluster::BootstrapGate> gate;
  auto g = cluster::BootstrapGate::from_config(cfg);
  if (!g.ok()) {
    spdlog::error("{}", g.status().message());
    return false;
  }
  gate = std::move(*g);
  if (gate) verdict = [](const std::string& user) { return gate->verdict(user); };
  return true;
}

int run_rolling(const Config& cfg, const Args& a) {
  const std::string& channel = a.chan.channel;
  if (Status s = check_channel(cfg, channel); !s) {
    spdlog::error("{}", s.message());
    return EX_CONFIG;
  }
  auto opts = sync::RollingOptions::from_config(cfg, channel);
  if (opts.ok() && !a.chan.server.empty()) {
    auto co = sync::channel_connect_options(cfg, channel, a.chan.server);
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
  opts->client = client_options(a);
  opts->once = a.once;
  opts->connect_once = a.connect_once;
  sync::apply_channel_flags(a.chan, opts->connect);
  if (!a.shutdown_file.empty()) opts->shutdown_file = a.shutdown_file;
  if (a.repeat_secs > 0) opts->repeat_interval = std::chrono::seconds(a.repeat_secs);
  opts->session_timeout = std::chrono::seconds(a.session_secs);
  opts->on_started = [] { report_start(0); };
  if (!set_bootstrap_gate(cfg, opts->user_verdict)) return EX_CONFIG;
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

// -v's summary line on stdout.
void print_stats(const sync::ClientStats& st, const std::string& tail = "") {
  std::printf("uploaded %llu messages (%llu bytes), applied %llu mailboxes, %llu full updates%s\n",
              static_cast<unsigned long long>(st.messages_uploaded),
              static_cast<unsigned long long>(st.bytes_uploaded),
              static_cast<unsigned long long>(st.mailboxes_applied),
              static_cast<unsigned long long>(st.full_updates), tail.c_str());
}

// -A.
int run_bootstrap(store::Instance& instance, const sync::ConnectOptions& co, const Args& a) {
  const std::string& channel = a.chan.channel;
  sync::BootstrapOptions bo;
  if (!set_bootstrap_gate(instance.config(), bo.user_verdict)) return EX_CONFIG;
  bo.channel = channel;
  bo.connect = co;
  bo.client = client_options(a);
  bo.progress_bar = ::isatty(STDERR_FILENO) != 0;
  sync::Bootstrap boot(instance, bo);
  Status s = boot.run();
  if (a.chan.verbose > 0)
    print_stats(boot.stats(), fmt::format("; {} users done before; {} not this instance's, {} "
                                          "left for a later run",
                                          boot.resumed_done(), boot.not_ours(), boot.later()));
  if (!s) {
    spdlog::error("bootstrap of channel {} not finished: {}", channel.empty() ? "\"\"" : channel,
                  s.to_string());
    // Users left for a later run (a move to this slot under way): run -A
    // again once it is over.
    return s.code() == Code::kAgain ? EX_TEMPFAIL : 1;
  }
  // A channel its rolling client was bootstrapping (or gave up on) is
  // ready now: its client rolls from its next pass on.
  auto& mbl = instance.mailboxes();
  auto state = mbl.channel_state(channel);
  if (state.ok() && *state && (*state)->phase != store::ChannelPhase::kRolling) {
    Status r =
        mbl.set_channel_state(channel, store::ChannelPhase::kRolling, "", sync::unix_ms_now());
    if (!r) spdlog::error("recording channel state: {}", r.to_string());
  }
  return 0;
}

// -u, -m, -s, -f.
int run_one_shot(store::Instance& instance, const sync::ConnectOptions& co, const Args& a) {
  sync::FetchSink fetched(instance);
  auto conn = sync::connect_replica(co, a.chan.channel, fetched);
  if (!conn) return 1;
  sync::SyncClient client(instance, *conn, fetched, client_options(a));
  Status result;
  auto keep = [&](const Status& s) {
    if (!s && result) result = s;
  };
  if (a.mode == 'u') {
    for (const auto& u : a.names) keep(client.sync_user(u));
  } else if (a.mode == 's') {
    for (const auto& u : a.names) keep(client.sync_meta(u));
  } else if (a.mode == 'm') {
    keep(client.sync_mailboxes(a.names));
  } else {
    synclog::LogReader reader = synclog::LogReader::for_file(a.file);
    Status s = reader.begin();
    if (!s) {
      spdlog::error("reading {}: {}", a.file, s.to_string());
      return 1;
    }
    keep(client.sync_lines(reader.lines()));
  }
  Status s = conn->simple("EXIT");
  if (!s) spdlog::warn("EXIT: {}", s.to_string());
  if (a.chan.verbose > 0) print_stats(client.stats());
  return result ? 0 : 1;
}

// -f FILE with -u, -m or -s: the names it lists join those of the command
// line. False once the reason is logged.
bool read_names_file(Args& a) {
  if (!takes_names(a.mode)) return true;
  if (!a.file.empty()) {
    auto text = fs::read_file(a.file);
    if (!text.ok()) {
      spdlog::error("{}", text.status().to_string());
      return false;
    }
    for (auto& n : names_in(*text)) a.names.push_back(n);
  }
  if (a.names.empty()) {
    spdlog::error("{}: no names in it", a.file);
    return false;
  }
  return true;
}

int sync_client_main(int argc, char** argv) {
  Args a;
  if (int rc = parse_args(argc, argv, a); rc != 0) return rc;
  // As Cyrus: rolling -r forks unless master runs it as a DAEMON.
  if (a.mode == 'r' && a.background && std::getenv("CYRUS_ISDAEMON") == nullptr) detach();
  init_logging("sync_client", a.logverbose || a.chan.verbose > 0);
  // A replica that goes away mid-write gives an error, not a dead client.
  ::signal(SIGPIPE, SIG_IGN);
  if (a.wait_secs > 0) {
    std::fprintf(stderr, "Waiting for %d seconds for gdb attach...\n", a.wait_secs);
    std::this_thread::sleep_for(std::chrono::seconds(a.wait_secs));
  }
  auto config = sync::load_tool_config(a.chan.conf);
  if (!config) return EX_CONFIG;
  if (a.mode == 'r') return run_rolling(*config, a);
  auto instance = sync::open_tool_store(*config);
  if (!instance) return EX_CONFIG;
  if (!read_names_file(a)) return 1;
  auto co = sync::load_channel_options(*config, a.chan);
  if (!co) return EX_CONFIG;
  return a.mode == 'A' ? run_bootstrap(*instance, *co, a) : run_one_shot(*instance, *co, a);
}

}  // namespace

int main(int argc, char** argv) {
  // Mailboxes are streamed through once: a bigger SQLite cache would only
  // make memory grow with the mailbox (issue 17).
  store::limit_database_memory(1 << 20);
  int rc = sync_client_main(argc, argv);
  report_start(rc);
  return rc;
}
