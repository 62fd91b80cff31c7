// sync_verify: the consistency verifier (sync/verify.h). Compares this
// primary's mailboxes with a channel's replica and repairs what differs
// through the normal sync path, never changing the primary.
//
//   sync_verify [-C imapd.conf] [-n channel] [-S host[:port]] [-N | --no-repair]
//               [-d secs] [-v] [-l] (-u user... | -m mailbox... | -A)
//
//   -u USER...   every mailbox of these users, on either side
//   -m MBOX...   these mailboxes (internal names), on either side
//   -A           every user of this instance, then every shared mailbox
//   -N, --no-repair
//                only report: nothing but GET is sent, nothing changes
//   -n CHANNEL   the replica of <channel>_sync_host, _sync_port,
//                _sync_authname, _sync_password, as sync_client -n
//   -S HOST      replica host (overrides sync_host); HOST:PORT or a socket path
//   -d SECS      wait before the second look at a mailbox that differed
//                (default 2; 0: report at once), so that replication lag
//                is not reported
//   -v           log each command to the replica; -l verbose logging
// Each divergence is one line on stdout and in the log ("DIVERGENCE
// channel=C user=U mailbox=M [uid=N]: what differs"), each repair one line
// ("REPAIRED ..." or "UNREPAIRED ...: why"). The run's figures go to
// <configdirectory>/sync/<channel>/verify.json and, with prometheus_enabled,
// in the replimail_verifier_*_total counters. One verifier per channel at
// a time (<channel dir>/verify.lock).
//
// Exit status: 0 if the replica agrees (after repair), 1 if a divergence
// was found with -N, or one is left unrepaired, or something could not be
// compared; 64 on a usage error, 75 if another sync_verify runs for the
// channel, 78 on a configuration error.
#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <getopt.h>
#include <signal.h>
#include <sys/file.h>
#include <sysexits.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/stats.h"
#include "store/instance.h"
#include "sync/channel_status.h"
#include "sync/channel_tool.h"
#include "sync/connection.h"
#include "sync/rolling.h"
#include "sync/verify.h"

namespace {

using namespace replimail;

constexpr const char* kSynopsis =
    "sync_verify [-C imapd.conf] [-n channel] [-S host[:port]] [-N|--no-repair] [-d secs] [-vl]"
    " (-u user... | -m mailbox... | -A)";

int usage_error(const std::string& why) {
  std::fprintf(stderr, "sync_verify: %s; usage: %s\n", why.c_str(), kSynopsis);
  return EX_USAGE;
}

// Holds <channel dir>/verify.lock for the life of the process; false if
// another verifier has it.
bool lock_channel(const std::string& dir, std::string* why) {
  if (Status s = fs::make_dirs(dir); !s) {
    *why = s.to_string();
    return false;
  }
  const std::string path = dir + "/verify.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    *why = fmt::format("{}: {}", path, std::strerror(errno));
    return false;
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    *why = fmt::format("another sync_verify holds {}", path);
    ::close(fd);
    return false;
  }
  return true;  // fd stays open: the lock goes with the process
}

// The run's figures as Prometheus counters (common/stats.h): promstatsd
// keeps a finished process's counters in its retired totals.
void publish(const std::string& channel, const sync::VerifyStats& st) {
  const exposition::Labels labels = {{"channel", channel}};
  stats::counter("replimail_verifier_runs_total", "sync_verify runs.", labels).add();
  stats::counter("replimail_verifier_mailboxes_checked_total", "Mailboxes the verifier compared.",
                 labels)
      .add(st.mailboxes_checked);
  stats::counter("replimail_verifier_divergent_mailboxes_total",
                 "Mailboxes that differed on the verifier's second look.", labels)
      .add(st.divergent_mailboxes);
  stats::counter("replimail_verifier_divergences_total",
                 "Divergence lines the verifier reported (records included).", labels)
      .add(st.divergences);
  stats::counter("replimail_verifier_repaired_total",
                 "Mailboxes the verifier repaired (equal when looked at again).", labels)
      .add(st.repaired);
  stats::counter("replimail_verifier_unrepaired_total",
                 "Mailboxes left diverging (UNREPAIRED lines).", labels)
      .add(st.unrepaired);
  stats::counter("replimail_verifier_errors_total",
                 "Scopes the verifier could not compare (replica unreachable, ...).", labels)
      .add(st.errors);
}

// The command line, once parsed.
struct Args {
  sync::ChannelFlags chan;  // -C -n -S -v; force: repair (not -N)
  bool logverbose = false;  // -l
  int settle = 2;           // -d
  char mode = 0;            // 'u', 'm' or 'A'
  std::vector<std::string> names;
};

// One getopt option into `a`: 0, or the exit code of a usage error.
int take_option(int opt, Args& a) {
  if (sync::take_channel_flag(opt, optarg, a.chan)) return 0;
  switch (opt) {
    case 'd': {
      char* end = nullptr;
      long v = std::strtol(optarg, &end, 10);
      if (end == optarg || *end != '\0' || v < 0 || v > 3600)
        return usage_error(fmt::format("-d wants a number of seconds, not '{}'", optarg));
      a.settle = static_cast<int>(v);
      return 0;
    }
    case 'N':
      a.chan.force = false;
      return 0;
    case 'l':
      a.logverbose = true;
      return 0;
    case 'u':
    case 'm':
    case 'A':
      if (a.mode != 0 && a.mode != opt)
        return usage_error(
            fmt::format("-{} and -{} are mutually exclusive", a.mode, static_cast<char>(opt)));
      a.mode = static_cast<char>(opt);
      return 0;
    default:  // ':' or '?'
      return usage_error(sync::option_problem(opt));
  }
}

// The whole command line into `a`: 0, or the exit code of a usage error.
int parse_args(int argc, char** argv, Args& a) {
  // Repairs replace the replica's records with ours (sync/verify.h);
  // reporting (-N) sends APPLY nothing, FORCE included.
  a.chan.force = true;
  static const option kLong[] = {{"no-repair", no_argument, nullptr, 'N'},
                                 {nullptr, 0, nullptr, 0}};
  int opt;
  ::opterr = 0;
  while ((opt = getopt_long(argc, argv, ":C:n:S:d:NvlumA", kLong, nullptr)) != -1)
    if (int rc = take_option(opt, a); rc != 0) return rc;
  a.names.assign(argv + optind, argv + argc);
  if (a.mode == 0) return usage_error("no scope given (-u, -m or -A)");
  if (a.mode != 'A' && a.names.empty())
    return usage_error(fmt::format("-{} needs at least one name", a.mode));
  if (a.mode == 'A' && !a.names.empty()) return usage_error("-A takes no names");
  return 0;
}

// Verifies the scope over `conn`; the run's exit code.
int verify(store::Instance& instance, sync::ReplicaConnection& conn, sync::FetchSink& fetched,
           const Args& a, sync::VerifyRun& run) {
  const bool repair = a.chan.force;
  sync::VerifyOptions vo;
  vo.channel = a.chan.channel;
  vo.repair = repair;
  vo.settle = std::chrono::seconds(a.settle);
  sync::Verifier verifier(instance, conn, fetched, vo, [](const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    if (line.starts_with("REPAIRED"))
      spdlog::info("{}", line);
    else
      spdlog::warn("{}", line);
  });
  Status result;
  auto keep = [&](const Status& s) {
    if (!s && result) result = s;
  };
  if (a.mode == 'u') {
    for (const auto& u : a.names) keep(verifier.verify_user(u));
  } else if (a.mode == 'm') {
    keep(verifier.verify_mailboxes(a.names));
  } else {
    keep(verifier.verify_all());
  }
  const std::string label = a.chan.channel.empty() ? "\"\"" : a.chan.channel;
  if (!result) spdlog::error("channel={}: {}", label, result.to_string());
  if (Status s = conn.simple("EXIT"); !s) spdlog::warn("EXIT: {}", s.to_string());
  run.stats = verifier.stats();
  const auto& st = run.stats;
  bool clean =
      result && st.errors == 0 && st.unrepaired == 0 && (repair || st.divergent_mailboxes == 0);
  spdlog::info(
      "channel={} {}: {} mailboxes checked, {} diverging ({} divergences), {} repaired, {} "
      "unrepaired, {} errors",
      label, run.scope, st.mailboxes_checked, st.divergent_mailboxes, st.divergences, st.repaired,
      st.unrepaired, st.errors);
  return clean ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (int rc = parse_args(argc, argv, a); rc != 0) return rc;
  init_logging("sync_verify", a.logverbose || a.chan.verbose > 0);
  ::signal(SIGPIPE, SIG_IGN);
  auto config = sync::load_tool_config(a.chan.conf);
  if (!config) return EX_CONFIG;
  const std::string& channel = a.chan.channel;
  std::string why;
  if (!lock_channel(sync::channel_dir(config->configdirectory(), channel), &why)) {
    spdlog::error("channel {}: {}", channel.empty() ? "\"\"" : channel, why);
    return EX_TEMPFAIL;
  }
  auto instance = sync::open_tool_store(*config);
  if (!instance) return EX_CONFIG;
  auto co = sync::load_channel_options(*config, a.chan);
  if (!co) return EX_CONFIG;

  const auto started = std::chrono::steady_clock::now();
  sync::VerifyRun run;
  run.channel = channel;
  run.repair = a.chan.force;
  run.scope = a.mode == 'A' ? "-A" : fmt::format("-{} {}", a.mode, fmt::join(a.names, " "));
  sync::FetchSink fetched(*instance);
  int rc = 1;
  if (auto conn = sync::connect_replica(*co, channel, fetched))
    rc = verify(*instance, *conn, fetched, a, run);
  else
    run.stats.errors = 1;
  publish(channel, run.stats);
  run.exit_code = rc;
  run.time_ms = sync::unix_ms_now();
  run.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
  if (Status s = sync::record_verify_run(config->configdirectory(), run); !s)
    spdlog::error("writing {}: {}", sync::verify_status_path(config->configdirectory(), channel),
                  s.to_string());
  return rc;
}
