// The steps of cyr_promote and of clusterd's automatic promotion
// (promote.h). Written for cyr_promote (issue 16), moved here unchanged in
// behaviour so that clusterd runs the same steps (issue 19).
#include "admin/promote.h"

#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <string_view>
#include <thread>

#include "common/config.h"
#include "common/config_edit.h"
#include "common/fs.h"
#include "master/cyrus_conf.h"
#include "master/cyrus_conf_edit.h"
#include "store/channels.h"
#include "store/instance.h"
#include "store/mboxlist.h"
#include "synclog/channels.h"
#include "synclog/logd.h"
#include "synclog/synclog.h"

extern char** environ;

namespace replimail::admin {
namespace {

constexpr int kExitFail = 1;
// sync_client's exit code when another rolling client holds the channel.
constexpr int kExitChannelBusy = 75;

bool valid_channel(const std::string& c) {
  return !c.empty() && std::all_of(c.begin(), c.end(), [](unsigned char ch) {
    return std::isalnum(ch) || ch == '_' || ch == '-';
  });
}

int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string now_text() {
  std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&t));
  return buf;
}

std::string stamp() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", std::gmtime(&t));
  return buf;
}

// The report: numbered steps and their details, each line handed on at
// once (the operator watches).
class Report {
 public:
  explicit Report(const PromoteOutput& output) : output_(output) {}
  template <typename... Args>
  void step(fmt::format_string<Args...> f, Args&&... args) {
    line(fmt::format("{}. {}", ++step_, fmt::format(f, std::forward<Args>(args)...)));
  }
  template <typename... Args>
  void detail(fmt::format_string<Args...> f, Args&&... args) {
    line("   " + fmt::format(f, std::forward<Args>(args)...));
  }
  // Unnumbered text (may hold several lines).
  void line(const std::string& text) {
    if (output_.out) output_.out(text);
  }
  void error(const std::string& text) {
    if (output_.err) output_.err(text);
  }

 private:
  const PromoteOutput& output_;
  int step_ = 0;
};

// A config file as text plus what it parses to.
struct ConfFile {
  std::string path;
  std::string text;
  Config cfg;
};

Result<ConfFile> load_conf(const std::string& path) {
  auto text = fs::read_file(path);
  if (!text.ok()) return text.status();
  auto cfg = Config::load(path);
  if (!cfg.ok()) return cfg.status();
  return ConfFile{path, std::move(*text), std::move(*cfg)};
}

struct CyrusFile {
  std::string path;
  std::string text;
  master::CyrusConf conf;
};

Result<CyrusFile> load_cyrus(const std::string& path) {
  auto text = fs::read_file(path);
  if (!text.ok()) return text.status();
  auto conf = master::parse_cyrus_conf(*text, path);
  if (!conf.ok()) return conf.status();
  return CyrusFile{path, std::move(*text), std::move(*conf)};
}

std::vector<std::string> channels_of(const Config& cfg) {
  auto raw = cfg.raw("sync_log_channels");
  return raw ? synclog::parse_channel_list(*raw) : std::vector<std::string>{};
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + (s.empty() ? "\"\"" : s);
  return out;
}

// Every channel a rolling sync_client of `c` follows (DAEMON and START).
std::vector<std::string> rolling_channels(const master::CyrusConf& c) {
  std::vector<std::string> out;
  auto look = [&](const master::Entry& e) {
    if (auto ch = master::rolling_channel(e)) out.push_back(*ch);
  };
  for (const auto& d : c.daemons) look(d);
  for (const auto& s : c.start) look(s);
  return out;
}

// Where the file at `path` is kept before cyr_promote rewrites it.
std::string backup_path(const std::string& path, const std::string& backup_stamp) {
  return path + "." + backup_stamp + ".before-promote";
}

// Writes `text` to `path` durably, after keeping the old file beside it
// (backup_path).
Status replace_file(const std::string& path, const std::string& old_text, const std::string& text,
                    const std::string& backup_stamp) {
  if (Status s = fs::write_file_atomic(backup_path(path, backup_stamp), old_text, 0640); !s)
    return s;
  struct stat st {};
  unsigned mode = ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0644;
  return fs::write_file_atomic(path, text, mode);
}

// One edit of imapd.conf or cyrus.conf: `after` (which parsed to
// `parsed`) replaces `before` at `path` (replace_file). On failure the
// FAILED step is printed, ending with `unchanged` (what the operator can
// rely on), and false returned.
bool write_edit(Report& r, const std::string& path, const std::string& before,
                const std::string& after, const Status& parsed, const std::string& backup_stamp,
                std::string_view unchanged) {
  if (!parsed) {
    r.step("FAILED: the new {} would not parse ({}){}", path, parsed.to_string(), unchanged);
    return false;
  }
  if (Status s = replace_file(path, before, after, backup_stamp); !s) {
    r.step("FAILED to write {}: {}", path, s.to_string());
    return false;
  }
  return true;
}

// <configdirectory>/readonly: while it exists the instance refuses every
// change (store/instance.h).
std::string fence_path(const Config& cfg) {
  return cfg.configdirectory() + "/" + std::string(store::kReadOnlyFile);
}

// Removes this instance's fence, if it has one: the step `done` (or the
// FAILED step, with `failed_note` after the path) is printed. False if it
// stays.
bool lift_fence(Report& r, const std::string& fence, std::string_view failed_note,
                const std::string& done) {
  if (!fs::exists(fence)) return true;
  if (Status s = fs::remove_file(fence); !s) {
    r.step("FAILED to remove {}{}: {}", fence, failed_note, s.to_string());
    return false;
  }
  r.step("{}", done);
  return true;
}

// Runs argv and waits; its output goes to ours. The exit code, 128+signal,
// or -1 if it could not be started.
int run_program(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  if (::posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

bool file_has_data(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && st.st_size > 0;
}

// SIGHUP to the master named by o.pidfile, else o.master_pid; a sentence
// saying what happened (or what the operator must do).
std::string signal_master(const PromoteOptions& o, const std::string& what,
                          const std::string& if_down) {
  pid_t pid = o.master_pid;
  std::string named_by = fmt::format("pid {}", pid);
  if (!o.pidfile.empty()) {
    auto text = fs::read_file(o.pidfile);
    pid = text.ok() ? static_cast<pid_t>(std::atol(text->c_str())) : 0;
    named_by = o.pidfile;
  } else if (pid <= 0) {
    return fmt::format(
        "master not signalled (no -p): send it SIGHUP yourself (kill -HUP <its pid>) "
        "so that it {}",
        what);
  }
  // A stale pidfile may name a PID reused by another program: only a
  // process running master is signalled.
  char exe[4096];
  ssize_t n =
      pid > 0 ? ::readlink(fmt::format("/proc/{}/exe", pid).c_str(), exe, sizeof exe - 1) : -1;
  std::string prog = n > 0 ? std::string(exe, static_cast<size_t>(n)) : "";
  if (pid <= 0 || n <= 0 || prog.substr(prog.rfind('/') + 1) != "master")
    return fmt::format("master is not running ({} names no running master): {}", named_by, if_down);
  if (::kill(pid, SIGHUP) != 0)
    return fmt::format("SIGHUP to master {} failed: {}; send it yourself", pid,
                       std::strerror(errno));
  return fmt::format("sent SIGHUP to master (pid {}): it {}", pid, what);
}

// The old primary's channel to us: -n, else its only rolling client's,
// else its only channel that is not squatter's.
Result<std::string> old_channel_of(const ConfFile& old, const std::string& given) {
  std::vector<std::string> chans = channels_of(old.cfg);
  if (!given.empty()) {
    if (std::find(chans.begin(), chans.end(), given) == chans.end())
      return Status(Code::kConfigError, fmt::format("-n {}: not in the old primary's "
                                                    "sync_log_channels ({})",
                                                    given, join(chans)));
    return given;
  }
  std::vector<std::string> candidates;
  for (const auto& c : chans)
    if (c != "squatter") candidates.push_back(c);
  if (candidates.size() == 1) return candidates[0];
  return Status(Code::kConfigError,
                fmt::format("cannot tell which of the old primary's channels ({}) feeds this "
                            "instance: name it with -n",
                            join(chans)));
}

// imapd.conf (-C) and cyrus.conf (-M), as read and parsed.
struct Files {
  ConfFile me;
  CyrusFile cyrus;
};

// Both files; nullopt once the reason is on stderr (exit EX_CONFIG).
std::optional<Files> load_files(Report& r, const PromoteOptions& o) {
  auto me = load_conf(o.conf);
  if (!me.ok()) {
    r.error(me.status().to_string());
    return std::nullopt;
  }
  auto cyrus = load_cyrus(o.cyrus_conf);
  if (!cyrus.ok()) {
    r.error(cyrus.status().to_string());
    return std::nullopt;
  }
  return Files{std::move(*me), std::move(*cyrus)};
}

// What promote() learns and decides, step after step.
struct Promotion {
  Promotion(const PromoteOptions& options, Report& report, Files f)
      : o(options), r(report), files(std::move(f)) {}

  const PromoteOptions& o;
  Report& r;
  Files files;
  std::string name;  // this instance's servername
  // The old primary's imapd.conf and its channel to us, when -O names a
  // readable file.
  std::optional<ConfFile> old;
  std::string old_channel;
  // The old primary first, then each -r.
  std::vector<PromoteTarget> targets;
  // Credentials for the new channels, taken from the old primary.
  std::vector<std::pair<std::string, std::string>> copied_options;
  std::string bstamp;              // names the backups of the files rewritten
  std::vector<std::string> added;  // channels sync_log_channels lacked
};

// -O: the old primary's files, when they are readable. 0, or EX_CONFIG once
// the reason is on stderr.
int find_old_primary(Promotion& p) {
  if (p.o.old_conf.empty()) return 0;
  auto oc = load_conf(p.o.old_conf);
  if (!oc.ok()) {
    p.r.line(
        fmt::format("The old primary's configuration {} is not readable ({}): treating the old "
                    "primary as unreachable.",
                    p.o.old_conf, oc.status().to_string()));
    return 0;
  }
  auto ch = old_channel_of(*oc, p.o.old_channel);
  if (!ch.ok()) {
    p.r.error(ch.status().message());
    return EX_CONFIG;
  }
  p.old_channel = *ch;
  p.old = std::move(*oc);
  return 0;
}

// The new channels need credentials for the replicas' sync_server: ours,
// or the old primary's (it logged in to the same replicas, and to us). 0,
// or EX_CONFIG once the reason is on stderr.
int find_credentials(Promotion& p) {
  const Config& mine = p.files.me.cfg;
  for (const char* key : {"sync_authname", "sync_password"}) {
    bool have = mine.raw(key).has_value();
    for (const auto& t : p.targets) have = have || mine.raw(t.channel + "_" + key).has_value();
    if (have) continue;
    if (p.old && !p.old->cfg.channel_get(p.old_channel, key).empty()) {
      p.copied_options.emplace_back(key, p.old->cfg.channel_get(p.old_channel, key));
      continue;
    }
    p.r.error(fmt::format(
        "{} has no {} for the new channels: add sync_authname and sync_password (the "
        "administrator the other instances' sync_server accepts) and run again; nothing was "
        "changed",
        p.o.conf, key));
    return EX_CONFIG;
  }
  return 0;
}

// Step 1: the old primary is fenced, or the operator told what to
// guarantee. False if fencing failed.
bool fence_old_primary(const Promotion& p) {
  if (!p.old) {
    p.r.step("The old primary is NOT fenced: it is unreachable from here.");
    p.r.detail(
        "You must guarantee that the old primary ({}) accepts no mail and no change from "
        "now on:",
        p.o.old_primary->host);
    p.r.detail(
        "keep its master stopped (or the machine off, or cut from the MTA and the clients) "
        "until you have run");
    p.r.detail(
        "`cyr_promote --rejoin` on it; if it is running, create <its configdirectory>/readonly "
        "there at once.");
    p.r.detail("Whatever it accepted before it died is kept: it is merged in when it rejoins.");
    return true;
  }
  const std::string fence = fence_path(p.old->cfg);
  Status s = fs::write_file_atomic(
      fence,
      fmt::format("fenced by cyr_promote at {}: {} is the primary now\n", now_text(), p.name));
  if (!s) {
    p.r.step("FAILED to fence the old primary: {} ({})", fence, s.to_string());
    p.r.detail(
        "nothing was changed on this instance. Fence the old primary by hand (stop its "
        "master, or create that file), then run again without -O.");
    return false;
  }
  p.r.step("Fenced the old primary: wrote {}.", fence);
  p.r.detail(
      "From now on its imapd, pop3d and lmtpd refuse every change (IMAP NO [UNAVAILABLE], "
      "LMTP 451 4.3.2: the MTA keeps the mail) and its sync_server refuses every APPLY.");
  return true;
}

// Step 2: what the old primary's channel to us still holds is sent here,
// if it can be; a failure is reported and the promotion goes on.
void drain_old_primary(const Promotion& p) {
  if (!p.old) {
    p.r.step(
        "Nothing drained from the old primary (unreachable): what its channel log still held "
        "is merged in when it rejoins.");
    return;
  }
  const std::string old_dir = p.old->cfg.configdirectory();
  auto bindir = master::self_exe_dir();
  std::string log = synclog::log_path(old_dir, p.old_channel);
  int rc = bindir.ok() ? run_program({*bindir + "/sync_client", "-C", p.old->path, "-n",
                                      p.old_channel, "-R", "-1", "-o"})
                       : -1;
  if (rc == kExitChannelBusy) {
    // Its own rolling client runs: wait until it has emptied the log.
    p.r.detail("the old primary's rolling sync_client is running; waiting for it to drain {}", log);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(p.o.drain_secs);
    while ((file_has_data(log) || file_has_data(log + "-run")) &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    rc = file_has_data(log) || file_has_data(log + "-run") ? 1 : 0;
  }
  if (rc == 0) {
    p.r.step("Drained the old primary's channel {}: everything its log held is on this instance.",
             p.old_channel);
    return;
  }
  p.r.step("Could NOT drain the old primary's channel {} (exit {}); carrying on.", p.old_channel,
           rc);
  p.r.detail("What it still holds ({}) stays on the old primary and is merged in when it rejoins.",
             synclog::describe_pending_logs(old_dir, p.old_channel));
}

// A cluster slot's imapd.conf (cluster_slot_name set) with the role it has
// now; its clusterd registers it so (docs/CLUSTER.md). Other instances'
// `text` as it is.
std::string with_cluster_role(const ConfFile& me, const std::string& text, const char* role,
                              const std::string& why) {
  if (me.cfg.get("cluster_slot_name").empty()) return text;
  return config_edit::set_option(text, "cluster_slot_role", role, why);
}

// Step 3: imapd.conf logs to the new channels and names their hosts. The
// new configuration, or nullopt once the FAILED step is printed.
std::optional<Config> log_to_new_channels(Promotion& p) {
  const PromoteOptions& o = p.o;
  std::vector<std::string> chans = channels_of(p.files.me.cfg);
  for (const auto& t : p.targets)
    if (std::find(chans.begin(), chans.end(), t.channel) == chans.end()) {
      chans.push_back(t.channel);
      p.added.push_back(t.channel);
    }
  const std::string why = "set by cyr_promote " + p.bstamp;
  std::string text = p.files.me.text;
  text = config_edit::set_option(text, "sync_log", "1", why);
  text = config_edit::set_option(text, "sync_log_channels", join(chans), why);
  for (const auto& t : p.targets)
    text = config_edit::set_option(text, t.channel + "_sync_host", t.host, why);
  for (const auto& [k, v] : p.copied_options)
    text = config_edit::set_option(text, k, v, "copied from the old primary by cyr_promote");
  text = with_cluster_role(p.files.me, text, "primary", why);
  auto checked = Config::parse(text, o.conf);
  if (!write_edit(p.r, o.conf, p.files.me.text, text, checked.status(), p.bstamp,
                  "; nothing changed here."))
    return std::nullopt;
  p.r.step("Wrote {} (old one kept as {}): sync_log_channels: {}", o.conf,
           backup_path(o.conf, p.bstamp), join(chans));
  for (const auto& t : p.targets) p.r.detail("{}_sync_host: {}", t.channel, t.host);
  for (const auto& [k, v] : p.copied_options) p.r.detail("{}: copied from the old primary", k);
  if (!p.files.me.cfg.get("cluster_slot_name").empty())
    p.r.detail("cluster_slot_role: primary (clusterd registers the slot so)");
  return std::move(*checked);
}

// Step 4: the channels' states: every new one (and the old primary's, even
// if it was known) bootstraps with a full -A once its replica answers.
// False once the FAILED step is printed.
bool record_bootstrapping(const Promotion& p, const Config& now) {
  const std::string& channel = p.o.old_primary->channel;
  auto recorded = store::record_channels(now);
  if (!recorded.ok()) {
    p.r.step("FAILED to record the channels in mailboxes.db: {}", recorded.status().to_string());
    return false;
  }
  auto mbl = store::MailboxList::open(p.files.me.cfg.configdirectory() + "/mailboxes.db");
  const int64_t ms = unix_now_ms();
  Status s = mbl.ok() ? (*mbl)->set_channel_state(channel, store::ChannelPhase::kBootstrapping,
                                                  "promoted: the old primary rejoins with a "
                                                  "full sync",
                                                  ms)
                      : mbl.status();
  if (!s) {
    p.r.step("FAILED to set channel {} bootstrapping: {}", channel, s.to_string());
    return false;
  }
  p.r.step(
      "Recorded channels {} as bootstrapping: each gets a full sync (-A) as soon as its "
      "replica answers.",
      join(p.added.empty() ? std::vector<std::string>{channel} : p.added));
  p.r.detail(
      "Channel {} waits for the old primary: when it is back (after `cyr_promote --rejoin` "
      "there)",
      channel);
  p.r.detail("that full sync keeps both sides' messages and copies here the folders only it has.");
  return true;
}

// A name for a new cyrus.conf entry following `channel`'s rolling client:
// "sync<channel's letters and digits>", numbered if `taken`.
template <typename Taken>
std::string entry_name(const std::string& channel, Taken taken) {
  std::string base = "sync";
  for (char c : channel)
    if (std::isalnum(static_cast<unsigned char>(c))) base += c;
  std::string n = base;
  for (int i = 2; taken(n); i++) n = base + std::to_string(i);
  return n;
}

// Step 5: cyrus.conf runs a rolling sync_client per channel. False once
// the FAILED step is printed.
bool add_rolling_clients(const Promotion& p) {
  const CyrusFile& cyrus = p.files.cyrus;
  const std::string& path = p.o.cyrus_conf;
  std::vector<std::string> have = rolling_channels(cyrus.conf);
  std::vector<std::string> names;
  auto taken = [&](const std::string& n) {
    auto same = [&](const master::Entry& e) { return e.name == n; };
    return std::any_of(cyrus.conf.daemons.begin(), cyrus.conf.daemons.end(), same) ||
           std::any_of(cyrus.conf.start.begin(), cyrus.conf.start.end(), same) ||
           std::any_of(cyrus.conf.services.begin(), cyrus.conf.services.end(), same) ||
           std::any_of(cyrus.conf.events.begin(), cyrus.conf.events.end(), same) ||
           std::find(names.begin(), names.end(), n) != names.end();
  };
  std::string ctext = cyrus.text;
  std::vector<std::string> started;
  for (const auto& t : p.targets) {
    if (std::find(have.begin(), have.end(), t.channel) != have.end()) continue;
    names.push_back(entry_name(t.channel, taken));
    ctext = master::add_daemon(ctext, names.back(),
                               fmt::format("sync_client -C {} -r -n {}", p.o.conf, t.channel));
    started.push_back(fmt::format("{} (channel {})", names.back(), t.channel));
  }
  if (started.empty()) {
    p.r.step("{} already runs a rolling sync_client for every channel.", path);
    return true;
  }
  auto parsed = master::parse_cyrus_conf(ctext, path);
  if (!write_edit(p.r, path, cyrus.text, ctext, parsed.status(), p.bstamp, "")) return false;
  p.r.step("Added DAEMON entries to {}: {}", path, join(started));
  return true;
}

int run_add_channels(Report& r, const PromoteOptions& o) {
  if (o.replicas.empty()) {
    r.error("no channel to add");
    return EX_CONFIG;
  }
  auto files = load_files(r, o);
  if (!files) return EX_CONFIG;
  Promotion p(o, r, std::move(*files));
  p.name = p.files.me.cfg.get("servername");
  p.targets = o.replicas;
  if (int rc = find_credentials(p); rc != 0) return rc;
  r.line(fmt::format("Adding replication channels to {} ({}), {}.", p.name, o.conf, now_text()));
  p.bstamp = stamp();
  auto now = log_to_new_channels(p);
  if (!now) return kExitFail;
  auto recorded = store::record_channels(*now);
  if (!recorded.ok()) {
    r.step("FAILED to record the channels in mailboxes.db: {}", recorded.status().to_string());
    return kExitFail;
  }
  if (!recorded->empty())
    r.step("Recorded channels {} as bootstrapping: each gets a full sync (-A) first.",
           join(*recorded));
  if (!add_rolling_clients(p)) return kExitFail;
  r.step("{}", signal_master(o, "starts the rolling sync_clients of the new channels",
                             "start it; it runs the rolling sync_clients of the new channels"));
  return 0;
}

int run_promote(Report& r, const PromoteOptions& o) {
  if (!o.old_primary) {
    r.error("no old primary given (its channel and sync host)");
    return EX_CONFIG;
  }
  auto files = load_files(r, o);
  if (!files) return EX_CONFIG;
  Promotion p(o, r, std::move(*files));
  p.name = p.files.me.cfg.get("servername");
  if (int rc = find_old_primary(p); rc != 0) return rc;
  p.targets = o.replicas;
  p.targets.insert(p.targets.begin(), *o.old_primary);
  if (int rc = find_credentials(p); rc != 0) return rc;

  r.line(fmt::format("Promoting {} ({}) to primary, {}.", p.name, o.conf, now_text()));
  if (!fence_old_primary(p)) return kExitFail;
  drain_old_primary(p);
  p.bstamp = stamp();
  auto now = log_to_new_channels(p);
  if (!now || !record_bootstrapping(p, *now) || !add_rolling_clients(p)) return kExitFail;
  // 6. This instance must accept changes.
  const std::string my_fence = fence_path(p.files.me.cfg);
  if (!lift_fence(r, my_fence, " (this instance stays read-only)",
                  fmt::format("Removed {}: this instance accepts changes.", my_fence)))
    return kExitFail;
  // 7. Master starts the rolling clients.
  r.step("{}", signal_master(o, "starts the rolling sync_clients of the new channels",
                             "start it; it runs the rolling sync_clients of the new channels"));

  r.line(fmt::format(
      "Done: {} is the primary.\n"
      "Next: point the MTA (LMTP) and the IMAP/POP clients at this host; watch the channels "
      "with `sync_status -C {}`.\n"
      "When the old primary comes back: on it, before or right after its master starts, run\n"
      "  cyr_promote --rejoin -C <its imapd.conf> -M <its cyrus.conf> [-p <its master.pid>]\n"
      "and make sure its cyrus.conf runs sync_server where {}_sync_host points.",
      p.name, o.conf, o.old_primary->channel));
  return 0;
}

// --rejoin: imapd.conf stops logging to the replication channels (those a
// rolling sync_client follows, and those with a sync host of their own;
// others, squatter's, stay). False once the FAILED step is printed.
bool stop_logging(Report& r, const PromoteOptions& o, const Files& f, const std::string& bstamp,
                  const std::string& why) {
  const Config& cfg = f.me.cfg;
  std::vector<std::string> rolling = rolling_channels(f.cyrus.conf);
  std::vector<std::string> kept, removed;
  for (const auto& c : channels_of(cfg)) {
    bool repl = std::find(rolling.begin(), rolling.end(), c) != rolling.end() ||
                cfg.raw(c + "_sync_host").has_value();
    (repl ? removed : kept).push_back(c);
  }
  std::string text = with_cluster_role(f.me, f.me.text, "replica", why);
  if (kept.empty()) {
    text = config_edit::set_option(text, "sync_log", "0", why);
    text = config_edit::remove_option(text, "sync_log_channels", why);
  } else {
    text = config_edit::set_option(text, "sync_log_channels", join(kept), why);
  }
  auto checked = Config::parse(text, o.conf);
  if (text == f.me.text && checked.ok()) {
    r.step("{} logs to no replication channel already.", o.conf);
  } else {
    if (!write_edit(r, o.conf, f.me.text, text, checked.status(), bstamp, "; nothing changed."))
      return false;
    r.step("Wrote {} (old one kept as {}): no longer logs to {}{}", o.conf,
           backup_path(o.conf, bstamp), removed.empty() ? "the default channel" : join(removed),
           kept.empty() ? " (sync_log: 0)" : "; still to " + join(kept));
    if (!cfg.get("cluster_slot_name").empty())
      r.detail("cluster_slot_role: replica (clusterd registers the slot so)");
  }
  for (const auto& c : removed) {
    std::string pending = synclog::describe_pending_logs(cfg.configdirectory(), c);
    if (!pending.empty())
      r.detail(
          "channel {} still holds {}: not needed, the new primary's full sync compares "
          "everything; remove them later",
          c, pending);
  }
  return true;
}

// --rejoin: its rolling clients go (every one: a replica feeds no one
// here). False once the FAILED step is printed.
bool drop_rolling_clients(Report& r, const PromoteOptions& o, const CyrusFile& cyrus,
                          const std::string& bstamp, const std::string& why) {
  std::vector<int> lines;
  std::vector<std::string> which;
  auto drop = [&](const master::Entry& e) {
    if (!master::rolling_channel(e)) return;
    lines.push_back(e.line);
    which.push_back(e.name);
  };
  for (const auto& e : cyrus.conf.daemons) drop(e);
  for (const auto& e : cyrus.conf.start) drop(e);
  if (lines.empty()) return true;
  std::string ctext = master::comment_out_lines(cyrus.text, lines, why);
  auto parsed = master::parse_cyrus_conf(ctext, o.cyrus_conf);
  if (!write_edit(r, o.cyrus_conf, cyrus.text, ctext, parsed.status(), bstamp, "")) return false;
  r.step("Commented out the rolling sync_clients in {}: {}", o.cyrus_conf, join(which));
  return true;
}

// remove_channels: imapd.conf stops logging to `gone` and forgets their
// sync hosts. False once the FAILED step is printed.
bool stop_logging_to(Report& r, const PromoteOptions& o, const Files& f,
                     const std::vector<std::string>& gone, const std::string& bstamp,
                     const std::string& why) {
  std::vector<std::string> kept;
  for (const auto& c : channels_of(f.me.cfg))
    if (std::find(gone.begin(), gone.end(), c) == gone.end()) kept.push_back(c);
  std::string text = f.me.text;
  if (kept.empty()) {
    text = config_edit::set_option(text, "sync_log", "0", why);
    text = config_edit::remove_option(text, "sync_log_channels", why);
  } else {
    text = config_edit::set_option(text, "sync_log_channels", join(kept), why);
  }
  for (const auto& c : gone) {
    std::string host_option = c;
    host_option += "_sync_host";
    text = config_edit::remove_option(text, host_option, why);
  }
  auto checked = Config::parse(text, o.conf);
  if (text == f.me.text && checked.ok()) {
    r.step("{} logs to none of {} already.", o.conf, join(gone));
    return true;
  }
  if (!write_edit(r, o.conf, f.me.text, text, checked.status(), bstamp, "; nothing changed."))
    return false;
  r.step("Wrote {} (old one kept as {}): no longer logs to {}{}", o.conf,
         backup_path(o.conf, bstamp), join(gone),
         kept.empty() ? " (sync_log: 0)" : "; still to " + join(kept));
  // mailboxes.db forgets them now, not only when master or sync_logd next
  // reads the configuration: one added again later bootstraps afresh.
  auto mbl = store::MailboxList::open(f.me.cfg.configdirectory() + "/mailboxes.db");
  auto noted = mbl.ok() ? (*mbl)->note_new_channels(store::logged_channels(*checked), unix_now_ms())
                        : Result<std::vector<std::string>>(mbl.status());
  if (!noted.ok())
    r.detail("mailboxes.db still records {} ({}): a channel added again may not bootstrap",
             join(gone), noted.status().to_string());
  for (const auto& c : gone)
    if (std::string pending = synclog::describe_pending_logs(f.me.cfg.configdirectory(), c);
        !pending.empty())
      r.detail("channel {} still holds {}: kept for you to read or remove", c, pending);
  return true;
}

// remove_channels: the rolling clients of `gone` go from cyrus.conf. False
// once the FAILED step is printed.
bool drop_clients_of(Report& r, const PromoteOptions& o, const CyrusFile& cyrus,
                     const std::vector<std::string>& gone, const std::string& bstamp,
                     const std::string& why) {
  std::vector<int> lines;
  std::vector<std::string> which;
  auto drop = [&](const master::Entry& e) {
    auto ch = master::rolling_channel(e);
    if (!ch || std::find(gone.begin(), gone.end(), *ch) == gone.end()) return;
    lines.push_back(e.line);
    which.push_back(e.name);
  };
  for (const auto& e : cyrus.conf.daemons) drop(e);
  for (const auto& e : cyrus.conf.start) drop(e);
  if (lines.empty()) {
    r.step("{} runs no rolling sync_client for {}.", o.cyrus_conf, join(gone));
    return true;
  }
  std::string ctext = master::comment_out_lines(cyrus.text, lines, why);
  auto parsed = master::parse_cyrus_conf(ctext, o.cyrus_conf);
  if (!write_edit(r, o.cyrus_conf, cyrus.text, ctext, parsed.status(), bstamp, "")) return false;
  r.step("Commented out the rolling sync_clients in {}: {}", o.cyrus_conf, join(which));
  return true;
}

int run_remove_channels(Report& r, const PromoteOptions& o) {
  std::vector<std::string> gone;
  for (const auto& t : o.replicas) gone.push_back(t.channel);
  if (gone.empty()) {
    r.error("no channel to remove");
    return EX_CONFIG;
  }
  auto files = load_files(r, o);
  if (!files) return EX_CONFIG;
  r.line(fmt::format("Removing replication channels {} from {} ({}), {}.", join(gone),
                     files->me.cfg.get("servername"), o.conf, now_text()));
  const std::string bstamp = stamp();
  const std::string why = "channel removed " + bstamp;
  if (!stop_logging_to(r, o, *files, gone, bstamp, why) ||
      !drop_clients_of(r, o, files->cyrus, gone, bstamp, why))
    return kExitFail;
  r.step("{}", signal_master(o, "stops their rolling sync_clients",
                             "start it; the removed channels' clients are no longer run"));
  return 0;
}

int run_rejoin(Report& r, const PromoteOptions& o) {
  auto files = load_files(r, o);
  if (!files) return EX_CONFIG;
  r.line(fmt::format("Turning {} ({}) into a replica, {}.", files->me.cfg.get("servername"), o.conf,
                     now_text()));
  const std::string bstamp = stamp();
  const std::string why = "cyr_promote --rejoin " + bstamp;
  if (!stop_logging(r, o, *files, bstamp, why) ||
      !drop_rolling_clients(r, o, files->cyrus, bstamp, why))
    return kExitFail;
  bool serves_sync = false;
  for (const auto& e : files->cyrus.conf.services)
    if (!e.argv.empty() && e.argv[0].substr(e.argv[0].rfind('/') + 1) == "sync_server")
      serves_sync = true;
  if (!serves_sync)
    r.step(
        "WARNING: {} runs no sync_server service: add one (e.g. csync cmd=\"sync_server\" "
        "listen=\"csync\") or the new primary cannot reach this instance.",
        o.cyrus_conf);
  // The fence must go: a replica applies through the same store, which
  // refuses everything while it exists.
  const std::string fence = fence_path(files->me.cfg);
  if (!lift_fence(
          r, fence, "",
          fmt::format("Removed the fence {}: the new primary's sync can apply here.", fence)))
    return kExitFail;
  r.step("{}", signal_master(o, "stops its rolling sync_clients", "start it now, as a replica"));
  r.line(
      "Done: this instance is a replica. Keep the MTA and the clients pointed at the new "
      "primary:\n"
      "its channel to this instance makes a full sync now, keeping what only this instance "
      "had.");
  return 0;
}

}  // namespace

std::optional<PromoteTarget> parse_promote_target(const std::string& arg) {
  size_t eq = arg.find('=');
  if (eq == std::string::npos) return std::nullopt;
  PromoteTarget t{arg.substr(0, eq), arg.substr(eq + 1)};
  if (!valid_channel(t.channel) || t.host.empty()) return std::nullopt;
  return t;
}

int promote(const PromoteOptions& o, const PromoteOutput& output) {
  Report r(output);
  return run_promote(r, o);
}

int rejoin(const PromoteOptions& o, const PromoteOutput& output) {
  Report r(output);
  return run_rejoin(r, o);
}

int add_channels(const PromoteOptions& o, const PromoteOutput& output) {
  Report r(output);
  return run_add_channels(r, o);
}

int remove_channels(const PromoteOptions& o, const PromoteOutput& output) {
  Report r(output);
  return run_remove_channels(r, o);
}

}  // namespace replimail::admin
