// master: starts and supervises the processes cyrus.conf lists.
//
//   master -C imapd.conf -M cyrus.conf [-p pidfile] [-D | -d] [-L logfile] [-l backlog] [-v]
//   master -C imapd.conf -M cyrus.conf -t
//
// -D stays in the foreground (what tests use); -d detaches, and the parent
// exits 0 only once the pidfile is written, 1 if start-up failed. -L sends
// master's and every child's stderr to a file. -t checks both files and
// exits (master/config_check.h): 0 if they are fine, 78 with one "error:"
// line per problem (file:line) on stderr otherwise; warnings do not fail it.
#include <fcntl.h>
#include <getopt.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <sysexits.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

#include "common/config.h"
#include "common/log.h"
#include "master/config_check.h"
#include "master/cyrus_conf.h"
#include "master/imapd_conf_report.h"
#include "master/supervisor.h"
#include "store/channels.h"
#include "synclog/channels.h"

namespace {

void usage() {
  std::fprintf(stderr,
               "usage: master [-C imapd.conf] [-M cyrus.conf] [-p pidfile] [-D | -d] "
               "[-L logfile] [-l backlog] [-v] [-t]\n");
}

// Children and a detached master change directory, so every path given on
// the command line is made absolute first.
std::string absolute(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  char cwd[4096];
  if (!::getcwd(cwd, sizeof cwd)) return path;
  return std::string(cwd) + "/" + path;
}

// True if cyrus.conf runs sync_logd: the channel set is then the daemon's,
// and so is recording the channels it adds.
bool runs_sync_logd(const replimail::master::CyrusConf& conf) {
  for (const auto& d : conf.daemons) {
    if (d.argv.empty()) continue;
    const std::string& prog = d.argv[0];
    if (prog.substr(prog.rfind('/') + 1) == "sync_logd") return true;
  }
  return false;
}

// Records the channels sync_log_channels adds as bootstrapping
// (store/channels.h), before any child logs to them: at start-up and on
// SIGHUP. Without sync_logd, master is what hands a new channel set to the
// writers (it replaces them), so it is the one to record it; with sync_logd,
// the daemon records before it fans out to a new channel. A failure is
// logged: the new channel is then recorded at the next reload.
void record_channels(const std::string& imapd_conf, const replimail::master::CyrusConf& conf) {
  if (runs_sync_logd(conf)) return;
  auto config = replimail::Config::load(imapd_conf);
  if (!config.ok()) return;  // report_imapd_conf already said why
  auto added = replimail::store::record_channels(*config);
  if (!added.ok())
    spdlog::error("sync log: cannot record the channels in mailboxes.db: {}",
                  added.status().to_string());
}

// master -t.
int check_configuration(const replimail::master::MasterOptions& options) {
  auto bin_dir = replimail::master::self_exe_dir();
  if (!bin_dir) {
    std::fprintf(stderr, "error: %s\n", bin_dir.status().message().c_str());
    return 78;
  }
  const std::string imapd_conf = replimail::master::imapd_conf_path(options.imapd_conf);
  auto report = replimail::master::check_configuration(imapd_conf, options.cyrus_conf, *bin_dir);
  for (const std::string& w : report.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  for (const std::string& e : report.errors) std::fprintf(stderr, "error: %s\n", e.c_str());
  if (!report.ok()) return 78;
  std::printf("%s and %s: configuration OK\n", imapd_conf.c_str(), options.cyrus_conf.c_str());
  return 0;
}

// The command line, once parsed.
struct Args {
  replimail::master::MasterOptions options;
  std::string logfile;     // -L
  bool daemonise = false;  // -d (-D: false)
  bool verbose = false;    // -v
  bool check = false;      // -t
};

// False on a usage error.
bool parse_args(int argc, char** argv, Args& a) {
  a.options.cyrus_conf = "/etc/cyrus.conf";
  int c;
  while ((c = ::getopt(argc, argv, "C:M:p:DdL:l:vt")) != -1) {
    switch (c) {
      case 'C':
        a.options.imapd_conf = absolute(optarg);
        break;
      case 'M':
        a.options.cyrus_conf = absolute(optarg);
        break;
      case 'p':
        a.options.pidfile = absolute(optarg);
        break;
      case 'D':
      case 'd':
        a.daemonise = c == 'd';
        break;
      case 'L':
        a.logfile = absolute(optarg);
        break;
      case 'l':
        a.options.backlog = std::atoi(optarg);
        break;
      case 'v':
        a.verbose = true;
        break;
      case 't':
        a.check = true;
        break;
      default:
        return false;
    }
  }
  return optind == argc && a.options.backlog > 0;
}

// -L: stdout and stderr (master's and every child's) to `logfile`.
bool redirect_output(const std::string& logfile) {
  int fd = ::open(logfile.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::perror(logfile.c_str());
    return false;
  }
  ::dup2(fd, 1);
  ::dup2(fd, 2);
  ::close(fd);
  return true;
}

// imapd.conf reported here, before "ready" and the pidfile, and only here:
// the programs master starts leave it to master (store/startup.h). Without
// -C the children read /etc/imapd.conf, if there is one. False if it is
// broken (logged).
bool report_configuration(replimail::master::MasterOptions& options) {
  std::string imapd_conf = replimail::master::imapd_conf_path(options.imapd_conf);
  if (options.imapd_conf.empty() && ::access(imapd_conf.c_str(), R_OK) != 0) return true;
  auto config = replimail::master::report_imapd_conf(imapd_conf);
  if (!config) {
    spdlog::error("{}", config.status().message());
    return false;
  }
  replimail::master::export_syslog_prefix(*config);
  replimail::apply_logging_config(*config);
  for (const std::string& w : replimail::synclog::check_channels(*config))
    spdlog::warn("sync log: {}", w);
  if (auto conf = replimail::master::load_cyrus_conf(options.cyrus_conf); conf.ok())
    record_channels(imapd_conf, *conf);
  options.on_reload = [imapd_conf](const replimail::master::CyrusConf& conf) {
    record_channels(imapd_conf, conf);
  };
  return true;
}

// -d: forks. The parent waits until the child is ready (its pidfile
// written) and returns the exit code: 0 once ready, 1 if start-up failed.
// The child, in its own session with stdin (and without -L stdout and
// stderr) on /dev/null, returns nullopt with options.on_ready set to tell
// the parent.
std::optional<int> detach(Args& a) {
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) {
    spdlog::error("pipe: {}", std::strerror(errno));
    return 1;
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    spdlog::error("fork: {}", std::strerror(errno));
    return 1;
  }
  if (pid > 0) {
    ::close(ready[1]);
    char b = 0;
    ssize_t n;
    do {
      n = ::read(ready[0], &b, 1);
    } while (n < 0 && errno == EINTR);
    return n == 1 ? 0 : 1;
  }
  ::close(ready[0]);
  ::setsid();
  if (::chdir("/") != 0) return 1;
  int devnull = ::open("/dev/null", O_RDWR);
  ::dup2(devnull, 0);
  if (a.logfile.empty()) {
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
  }
  if (devnull > 2) ::close(devnull);
  // The logger was built before forking; its name carries the old pid.
  spdlog::drop_all();
  replimail::init_logging("master", a.verbose);
  std::string imapd_conf = replimail::master::imapd_conf_path(a.options.imapd_conf);
  if (auto config = replimail::Config::load(imapd_conf); config.ok())
    replimail::apply_logging_config(*config);
  int fd = ready[1];
  a.options.on_ready = [fd] {
    ssize_t ignored = ::write(fd, "1", 1);
    (void)ignored;
    ::close(fd);
  };
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!parse_args(argc, argv, a)) {
    usage();
    return EX_USAGE;
  }
  if (a.check) return check_configuration(a.options);
  if (!a.logfile.empty() && !redirect_output(a.logfile)) return 1;
  replimail::init_logging("master", a.verbose);
  if (!report_configuration(a.options)) return 1;
  auto bin_dir = replimail::master::self_exe_dir();
  if (!bin_dir) {
    spdlog::error("{}", bin_dir.status().message());
    return 1;
  }
  a.options.bin_dir = *bin_dir;
  if (a.daemonise) {
    if (auto rc = detach(a)) return *rc;
  }
  replimail::master::Supervisor supervisor(std::move(a.options));
  return supervisor.run();
}
