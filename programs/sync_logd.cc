// sync_logd: the instance's one sync log writer (issue 15; the seed's
// "single logging process which gets sync_log events on a unix socket and
// writes them out to all the $confdir/sync/$channel/log files").
//
//   sync_logd [-C imapd.conf] [-v]
//
// Run by master as a DAEMON entry (cyrus.conf: synclog cmd="sync_logd");
// it stays in the foreground. It listens on
// $configdirectory/socket/sync_logd (mode 0600; a stale socket is removed;
// a second daemon for the same instance refuses to start). Every process
// that logs a change (imapd, pop3d, lmtpd, sync_server, cyr_synclog, …)
// hands its lines to it through synclog::SyncLog and is answered once they
// are in $configdirectory/sync/journal and fsynced: one fsync covers all
// that arrived meanwhile, from every process and for every channel. The
// lines reach the channel logs ($configdirectory/sync/<channel>/log, in
// Cyrus's format and place) once the writer's change committed, and are
// flushed there every 200 ms (synclog/logd.h). Without the daemon (not
// configured, starting, restarting) writers write the logs themselves.
//
// The channel set is the daemon's: sync_log, sync_log_channels and
// sync_log_unsuppressable_channels are read at start and again on SIGHUP
// and whenever imapd.conf changes (inotify on its directory), so a channel
// added or removed takes effect with the next change and no worker is
// replaced. A channel that appears is first recorded in mailboxes.db as
// bootstrapping (store/channels.h), so that its rolling sync_client fills
// the replica before it rolls. A removed channel's log and log-run stay
// where they are and are named, with their line counts, in the log. SIGTERM or SIGINT: flush what
// is released and exit 0. Exit 75 when the journal fails (master starts a
// new daemon, which replays the journal).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sysexits.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/program_config.h"
#include "store/channels.h"
#include "synclog/logd.h"
#include "synclog/logd_client.h"
#include "synclog/logd_server.h"

using namespace replimail;

namespace {

int g_signal_pipe[2] = {-1, -1};

void on_signal(int sig) {
  char c = static_cast<char>(sig);
  [[maybe_unused]] ssize_t n = ::write(g_signal_pipe[1], &c, 1);
}

int usage() {
  std::fprintf(stderr, "usage: sync_logd [-C imapd.conf] [-v]\n");
  return EX_USAGE;
}

// A channel that appears is recorded in mailboxes.db as bootstrapping
// before anything is logged to it (store/channels.h: its rolling
// sync_client fills the replica with -A first). False if that failed: the
// channel set must not change then.
bool record_new_channels(const Config& cfg) {
  auto added = store::record_channels(cfg);
  if (added.ok()) return true;
  spdlog::error("sync_logd: cannot record the channels in mailboxes.db: {}",
                added.status().to_string());
  return false;
}

void reload(synclog::LogDaemon& daemon, const std::string& conf, const char* why) {
  auto cfg = Config::load(conf);
  if (!cfg.ok()) {
    spdlog::error("sync_logd: {} ({}): keeping the channels as they are: {}", conf, why,
                  cfg.status().to_string());
    return;
  }
  spdlog::debug("sync_logd: re-reading {} ({})", conf, why);
  if (!record_new_channels(*cfg)) {
    spdlog::error("sync_logd: {} ({}): keeping the channels as they are", conf, why);
    return;
  }
  daemon.reconfigure(synclog::ChannelSet::from_config(*cfg));
}

// Watches imapd.conf's directory: imapd.conf is usually replaced (editor,
// rename) rather than written in place. -1 if it cannot be watched
// (logged: SIGHUP only then).
int watch_conf(const std::string& conf) {
  int watch = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (watch >= 0 && ::inotify_add_watch(watch, fs::dirname(conf).c_str(),
                                        IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0) {
    spdlog::warn("sync_logd: cannot watch {}: SIGHUP only", conf);
    ::close(watch);
    watch = -1;
  }
  return watch;
}

// Drains the watch's events; true if one names `conf_name`.
bool conf_changed(int watch, const std::string& conf_name) {
  alignas(struct inotify_event) char ev[4096];
  bool changed = false;
  for (ssize_t got; (got = ::read(watch, ev, sizeof(ev))) > 0;) {
    for (char* p = ev; p < ev + got;) {
      auto* e = reinterpret_cast<struct inotify_event*>(p);
      if (e->len > 0 && conf_name == e->name) changed = true;
      p += sizeof(struct inotify_event) + e->len;
    }
  }
  return changed;
}

// Handles the signals that arrived: SIGHUP reloads; true if one asks to
// stop (SIGTERM, SIGINT).
bool handle_signals(synclog::LogDaemon& daemon, const std::string& conf) {
  bool stop = false;
  char sigs[16];
  ssize_t got = ::read(g_signal_pipe[0], sigs, sizeof(sigs));
  for (ssize_t i = 0; i < got; ++i) {
    if (sigs[i] == SIGHUP) {
      reload(daemon, conf, "SIGHUP");
    } else {
      stop = true;
    }
  }
  return stop;
}

// Serves writers on the daemon's socket (`server`, listening) until a stop signal (0) or a
// failure (EX_TEMPFAIL), re-reading imapd.conf on SIGHUP and whenever it
// changes.
int serve(synclog::LogDaemon& daemon, synclog::LogdServer& server, const std::string& conf,
          const std::string& confdir) {
  int watch = watch_conf(conf);
  const std::string conf_name = conf.substr(conf.rfind('/') + 1);
  spdlog::info("sync_logd: serving {}", synclog::logd_socket_path(confdir));
  int rc = 0;
  for (bool stop = false; !stop;) {
    struct pollfd fds[3] = {
        {server.fd(), POLLIN, 0}, {g_signal_pipe[0], POLLIN, 0}, {watch, POLLIN, 0}};
    int n = ::poll(fds, watch >= 0 ? 3 : 2, 1000);
    if (n < 0 && errno != EINTR) {
      spdlog::error("sync_logd: poll: {}", std::strerror(errno));
      rc = EX_TEMPFAIL;
      break;
    }
    if (daemon.broken()) {
      rc = EX_TEMPFAIL;
      break;
    }
    if (n <= 0) continue;
    if (fds[1].revents & POLLIN) stop = handle_signals(daemon, conf);
    if (watch >= 0 && (fds[2].revents & POLLIN) && conf_changed(watch, conf_name))
      reload(daemon, conf, "changed");
    if (fds[0].revents & POLLIN) server.accept_one();
  }
  if (watch >= 0) ::close(watch);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  std::string conf = "/etc/imapd.conf";
  bool verbose = false;
  int opt;
  while ((opt = ::getopt(argc, argv, "C:v")) != -1) {
    switch (opt) {
      case 'C':
        conf = optarg;
        break;
      case 'v':
        verbose = true;
        break;
      default:
        return usage();
    }
  }
  if (optind != argc) return usage();
  auto cfg = load_program_config("sync_logd", conf, verbose);
  if (!cfg.ok()) return EX_CONFIG;
  const std::string confdir = cfg->configdirectory();

  if (::pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0) return EX_TEMPFAIL;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) ::sigaction(sig, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  if (!record_new_channels(*cfg)) return EX_TEMPFAIL;
  auto daemon = synclog::LogDaemon::open(confdir, synclog::ChannelSet::from_config(*cfg));
  if (!daemon.ok()) {
    spdlog::error("sync_logd: {}", daemon.status().to_string());
    return EX_TEMPFAIL;
  }
  int rc = 0;
  {
    synclog::LogdServer server(**daemon);
    if (Status s = server.listen(synclog::logd_socket_path(confdir)); !s) {
      spdlog::error("sync_logd: {}", s.to_string());
      return EX_TEMPFAIL;
    }
    rc = serve(**daemon, server, conf, confdir);
  }
  if (Status s = (*daemon)->checkpoint(); !s && rc == 0) rc = EX_TEMPFAIL;
  synclog::LogdStats st = (*daemon)->stats();
  spdlog::info(
      "sync_logd: exiting: {} entries accepted, {} journal syncs, {} channel log fsyncs in {} "
      "checkpoints, {} replayed at start",
      st.accepted, st.journal_syncs, st.log_fsyncs, st.checkpoints, st.replayed);
  return rc;
}
