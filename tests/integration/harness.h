// Integration-test harness: runs real replimail instances on loopback.
//
// An Instance owns a fresh state directory (configs, sasldb, configdirectory,
// partition, logs), renders imapd.conf and cyrus.conf from its Options, starts
// `master -D` as a child process and stops it by PID (TERM, then KILL) when
// destroyed. Admin tools and Python client scripts run as child processes
// whose exit status and output are captured.
//
// Everything here is for tests: failures are reported as gtest failures or as
// returned values, never as exceptions. Not thread-safe; one Instance per test.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "store/record.h"
#include "../support/free_port.h"

namespace replimail {
namespace store {
class Instance;
}  // namespace store

namespace testing {

// Where the binaries and the source tree are (compile definitions).
std::string bin_dir();
std::string source_dir();
// tests/integration/py/<name>.
std::string py_script(const std::string& name);

// The outcome of a child process run to completion.
struct RunResult {
  int exit_code = -1;  // exit status, or 128+signal if it was killed
  std::string out;     // everything written to stdout
  std::string err;     // everything written to stderr
  bool ok() const { return exit_code == 0; }
  // "exit N\nstdout:...\nstderr:..." for failure messages.
  std::string describe() const;
};

// Runs argv[0] (a path) with `argv`, feeding `input` on stdin, and waits for
// it. A child still running after `timeout` is killed, with whatever it
// started that is still in its process group (exit_code 128+9).
RunResult run(const std::vector<std::string>& argv, const std::string& input = "",
              std::chrono::seconds timeout = std::chrono::seconds(120));

// free_port(): tests/support/free_port.h (shared with the unit tests).
// Polls `pred` every 20 ms until it holds (true) or `limit` has passed
// (false, after one last try). For waiting on a state, never on a time.
bool wait_until(const std::function<bool()>& pred,
                std::chrono::milliseconds limit = std::chrono::seconds(20));
// Returns once the wall clock's second has changed (wait_until on time()):
// for a step that must see what happened before as older, where the store
// keeps times in whole seconds as Cyrus does.
void until_next_second();
// True once 127.0.0.1:port accepts a connection, false after `timeout`.
bool wait_for_port(int port, std::chrono::milliseconds timeout);

// A unique, empty directory under $TMPDIR, else under the working directory
// (tests/support/temp_dir.h), removed (recursively) when the object is
// destroyed unless REPLIMAIL_KEEP_STATE is set in the environment.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// True if `pid` exists and is not a zombie.
bool pid_alive(pid_t pid);
// The parent PID of `pid`, or -1 if it does not exist.
pid_t parent_of(pid_t pid);
// PIDs of every live (non-zombie) process whose process group is `pgid`.
// An Instance's master leads its own group, and its children stay in it.
std::vector<pid_t> processes_in_group(pid_t pgid);
// PIDs of the live (non-zombie) descendants of `pid`: children, their
// children, and so on.
std::vector<pid_t> descendants_of(pid_t pid);

// SHA-1 as 40 lower-case hex digits, of bytes or of a file ("" if missing).
std::string sha1_hex(std::string_view data);
std::string sha1_file(const std::string& path);
// Reads a whole file ("" if unreadable).
std::string slurp(const std::string& path);
// Writes a whole file; false on error.
bool spit(const std::string& path, const std::string& data);
// Splits `text` into lines (without their line ends).
std::vector<std::string> lines_of(const std::string& text);
// Parses `key: value` lines (as printed by `cyr_mbox info`) into a map.
std::map<std::string, std::string> parse_key_values(const std::string& text);

// A child process running in the background (argv[0] a path), its stdout
// (and with kStdoutAndStderr its stderr) collected in a file; killed
// (SIGKILL, by PID) when destroyed if still running, and when the test
// process dies.
class Background {
 public:
  enum class Capture { kStdout, kStdoutAndStderr };
  explicit Background(const std::vector<std::string>& argv, Capture capture = Capture::kStdout);
  ~Background();
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;
  pid_t pid() const { return pid_; }
  // Waits for the exit; returns the exit code (or -1 after `timeout`) and
  // what it printed.
  RunResult wait(std::chrono::seconds timeout);
  // What it printed so far.
  std::string out() const { return slurp(out_); }

 private:
  TempDir dir_;
  std::string out_;
  pid_t pid_ = -1;
};

class Instance {
 public:
  struct Options {
    // sync_log_channels; empty means the unnamed default channel.
    std::vector<std::string> channels = {"replica", "squatter"};
    bool sync_log = true;
    // With sync_log on, cyrus.conf runs sync_logd (DAEMON "synclog") and
    // start() waits for its socket; off, every writer logs directly.
    bool sync_logd = true;
    // SASL users created in the instance's sasldb: userid -> password.
    std::map<std::string, std::string> users = {{"admin", "adminpw"}};
    std::string admins = "admin";
    // imapd.conf's servername; the sasldb users are made in this realm
    // (`saslpasswd2 -u <servername>`, as the example configs say).
    std::string servername = "replimail-test";
    // Extra imapd.conf lines, appended verbatim ("key: value").
    std::vector<std::string> imapd_extra;
    // Service-name -> program args for cyrus.conf SERVICES entries that
    // listen on a fresh loopback port each; "lmtp" -> "lmtpd -a" by default.
    std::map<std::string, std::string> services = {{"lmtp", "lmtpd -a"}};
    // The address every service listens on: "0.0.0.0" for an instance in a
    // network namespace that peers reach at its own address (start() still
    // waits for the ports on 127.0.0.1, so run it inside the namespace).
    std::string listen_host = "127.0.0.1";
    // Prefork for every service.
    int prefork = 1;
    // Name -> program args for cyrus.conf DAEMON entries (e.g. "syncreplica"
    // -> "sync_client -r -n replica"); " -C imapd.conf" is added after the
    // program name as for services.
    std::map<std::string, std::string> daemons;
    // Name -> program args for cyrus.conf START entries (run to completion
    // before the services start), " -C imapd.conf" added as for services.
    std::map<std::string, std::string> starts;
    // Name -> {program args, schedule} for cyrus.conf EVENTS entries (e.g.
    // "verify" -> {"sync_verify -A", "period=60"}); " -C imapd.conf" added
    // as for services.
    std::map<std::string, std::pair<std::string, std::string>> events;
  };

  explicit Instance(Options options);
  Instance() : Instance(Options{}) {}
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  // Writes configs, creates sasldb users and starts master; waits (up to
  // `timeout`) for the pidfile and for every service port to accept.
  // Returns "" on success, else what went wrong plus the master log.
  std::string start(std::chrono::seconds timeout = std::chrono::seconds(15));
  // TERM to master, wait up to `grace`, then KILL. Returns master's exit code
  // (128+signal if killed), or -1 if it was not running.
  int stop(std::chrono::seconds grace = std::chrono::seconds(10));
  // Starts master with the given (possibly broken) config files as they are
  // on disk and waits for it to exit; for start-up failure tests.
  RunResult run_master_to_exit(std::chrono::seconds timeout = std::chrono::seconds(15));

  pid_t master_pid() const { return master_pid_; }
  // Port of a configured service ("lmtp", "imap", ...); -1 if not configured.
  int port(const std::string& service) const;
  int lmtp_port() const { return port("lmtp"); }

  const std::string& state_dir() const { return dir_.path(); }
  std::string imapd_conf() const { return state_dir() + "/etc/imapd.conf"; }
  std::string cyrus_conf() const { return state_dir() + "/etc/cyrus.conf"; }
  std::string config_dir() const { return state_dir() + "/conf"; }
  std::string partition_dir() const { return state_dir() + "/spool"; }
  std::string master_log_path() const { return state_dir() + "/log/master.log"; }
  std::string master_log() const { return slurp(master_log_path()); }
  // The sync log of `channel` ("" = the unnamed default channel).
  std::string channel_log_path(const std::string& channel) const;
  // With sync_logd running, first waits (FLUSH) until the lines of every
  // change already answered are in the channel logs.
  std::string channel_log(const std::string& channel) const;
  // The socket of the instance's sync_logd.
  std::string logd_socket() const { return config_dir() + "/socket/sync_logd"; }
  // True if sync_logd is configured for this instance.
  bool runs_logd() const { return options_.sync_log && options_.sync_logd; }

  // Runs <bin>/<tool> -C imapd.conf args...
  RunResult tool(const std::string& tool, const std::vector<std::string>& args) const;
  // Runs python3 <tests/integration/py/script> args...
  RunResult python(const std::string& script, const std::vector<std::string>& args) const;

  // A mailbox as committed in the store, read through the store API (the
  // same code the servers use, opened by this test process).
  struct Snapshot {
    std::string error;  // "" on success
    std::string dir;    // the mailbox's directory on its partition
    store::MailboxCounters counters;
    std::vector<store::IndexRecord> records;  // UID order, expunged included
  };
  Snapshot snapshot(const std::string& mboxname) const;

  // (Re)writes imapd.conf and cyrus.conf from the options.
  void write_configs() const;
  // The options, to change before write_configs() / reload(). A service
  // added here gets a fresh port at the next write_configs().
  Options& options() { return options_; }
  // write_configs(), then SIGHUP to master (which re-reads cyrus.conf).
  void reload();

 private:
  Options options_;
  TempDir dir_;
  mutable std::map<std::string, int> ports_;
  pid_t master_pid_ = -1;
};


// ---- What the integration fixtures share (one copy each) ----

// Options of an instance serving `services` (cyrus.conf SERVICES: name ->
// program and arguments) to `users` (userid -> password) and to the
// administrator admin/adminpw.
Instance::Options serving(const std::map<std::string, std::string>& services,
                          const std::map<std::string, std::string>& users);
// `cyr_mbox create` of each of `names`, in order: "" once all exist, else
// what the first failure said.
std::string create_mailboxes(const Instance& inst, const std::vector<std::string>& names);

// A replica for a replication test: lmtpd and sync_server ("csync") on
// fresh ports, no login pause.
Instance::Options replica_options();
// A primary whose channel "replica" (sync_client -n replica, or -S) reaches
// 127.0.0.1:`replica_port` as admin; the same credentials as sync_authname
// for `sync_client -S host`.
Instance::Options primary_options(int replica_port);

// Delivers `n` generated messages (py/lmtp_deliver.py: each carries
// X-Test-Id <prefix>-<i>, about `size` bytes) to `rcpt` over LMTP on
// 127.0.0.1:`lmtp_port`, or to the instance's "lmtp" service. "" once every
// one got its 250, else the script's exit and output.
std::string deliver(int lmtp_port, const std::string& rcpt, int n, const std::string& prefix = "m",
                    int size = 600);
std::string deliver(const Instance& to, const std::string& rcpt, int n,
                    const std::string& prefix = "m", int size = 600);
// py/imap_script.py as `user` ("name:password") against the instance's
// "imap" service, one JSON command per argument.
RunResult imap_script(const Instance& inst, const std::string& user,
                      const std::vector<std::string>& commands);

// The number of live (not expunged) records of `mailbox`; 0 if it cannot be
// read.
size_t live_records(const Instance& inst, const std::string& mailbox);
// The live processes under the instance's master whose command line (NULs
// as spaces) contains `needle`.
std::vector<pid_t> processes_running(const Instance& inst, const std::string& needle);
// The live processes, under the instance's master or not (orphans of a
// killed master too), whose command line names `program` and the
// instance's imapd.conf.
std::vector<pid_t> processes_of(const Instance& inst, const std::string& program);
// The entry of `channel` in `sync_status -j`; a test failure and an empty
// object if sync_status fails or does not list the channel.
nlohmann::json channel_status(const Instance& primary, const std::string& channel = "replica");

// The instance's store, opened by the test process as imapd opens it (a test
// failure and nullptr if it cannot be).
std::unique_ptr<store::Instance> open_store(const Instance& inst);
// Appends `text` to `mailbox` through the store API, as IMAP APPEND does
// (behind the servers' back when the test wants a divergence).
Status append_text(store::Instance& st, const std::string& mailbox, const std::string& text);
Status append_text(const Instance& inst, const std::string& mailbox, const std::string& text);

}  // namespace testing
}  // namespace replimail
