#include "sync/rolling.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <thread>
#include <utility>

#include "common/fs.h"
#include "common/mboxname_owner.h"
#include "net/socket.h"
#include "store/instance.h"
#include "sync/bootstrap.h"
#include "synclog/reader.h"
#include "synclog/synclog.h"
#include "synclog/work.h"

namespace replimail::sync {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

namespace {

std::string channel_label(const std::string& channel) { return channel.empty() ? "\"\"" : channel; }

milliseconds since(Clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - t);
}

// The byte size of a file, 0 if it does not exist.
off_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}

}  // namespace

Result<ConnectOptions> channel_connect_options(const Config& cfg, const std::string& channel,
                                               const std::string& server) {
  ConnectOptions co;
  std::string host = server.empty() ? cfg.channel_get(channel, "sync_host") : server;
  if (host.empty()) {
    return Status(Code::kConfigError, fmt::format("no replica: set {}sync_host or use -S",
                                                  channel.empty() ? "" : channel + "_"));
  }
  // host[:port][/tls][/noauth], as Cyrus's backend_connect reads it: /tls
  // starts TLS at once on connecting (no STARTTLS), /noauth skips
  // AUTHENTICATE. A path is a unix socket.
  if (size_t slash = host.find('/'); slash != std::string::npos && slash != 0) {
    std::string flags = host.substr(slash + 1);
    host = host.substr(0, slash);
    for (size_t at = 0; at <= flags.size();) {
      size_t next = flags.find('/', at);
      if (next == std::string::npos) next = flags.size();
      std::string flag = flags.substr(at, next - at);
      if (flag == "tls") {
        co.implicit_tls = true;
      } else if (flag == "noauth") {
        co.noauth = true;
      } else if (!flag.empty()) {
        return Status(Code::kConfigError,
                      fmt::format("sync_host: unknown option /{} (only /tls and /noauth)", flag));
      }
      at = next + 1;
    }
  }
  std::string port = cfg.channel_get(channel, "sync_port");
  if (!host.starts_with("/")) {
    size_t colon = host.rfind(':');
    if (colon != std::string::npos && host.find(':') == colon) {
      port = host.substr(colon + 1);
      host = host.substr(0, colon);
    }
  }
  co.host = host;
  if (!host.starts_with("/")) {
    auto p = net::resolve_port(port.empty() ? "csync" : port);
    if (!p.ok()) return Status(Code::kConfigError, "sync port: " + p.status().to_string());
    co.port = *p;
  }
  if (!host.starts_with("/")) co.tls = std::make_shared<net::LazyClientTlsContext>(cfg);
  co.authname = cfg.channel_get(channel, "sync_authname");
  co.password = cfg.channel_get(channel, "sync_password");
  // sync_timeout (Cyrus's, 30 min by default) would leave a channel hung
  // on a half-open connection that long: sync_peer_timeout bounds every
  // exchange instead.
  auto t = std::min(cfg.get_duration("sync_timeout"), cfg.get_duration("sync_peer_timeout"));
  co.timeout = std::chrono::duration_cast<milliseconds>(std::max(t, std::chrono::seconds(1)));
  return co;
}

milliseconds ReconnectBackoff::next(milliseconds attempt_took, milliseconds outage) {
  milliseconds wait;
  if (attempt_took < kCheapAttempt) {
    wait = outage < kFastPhase ? kFastWait : kCheapWait;
  } else {
    slow_failures_ = std::min(slow_failures_ + 1, 30);
    wait = milliseconds(1000) * (int64_t{1} << std::min(slow_failures_ - 1, 20));
  }
  return maxwait_.count() > 0 ? std::min(wait, maxwait_) : wait;
}

milliseconds user_retry_delay(int failures, milliseconds maxwait) {
  milliseconds wait = milliseconds(1000) * (int64_t{1} << std::clamp(failures - 1, 0, 20));
  return maxwait.count() > 0 ? std::min(wait, maxwait) : wait;
}

std::string line_user(const synclog::Line& line, std::string_view deletedprefix) {
  if (line.args.empty()) return "";
  const std::string& k = line.keyword;
  if (k == "USER" || k == "UNUSER" || k == "META" || k == "SIEVE" || k == "SEEN" || k == "SUB" ||
      k == "UNSUB")
    return line.args[0];
  if (k == "MAILBOX" || k == "APPEND" || k == "DOUBLEMAILBOX" || k == "RENAME" ||
      k == "UNMAILBOX" || k == "QUOTA")
    return mboxname_owner(line.args[0], deletedprefix);
  return "";
}

std::vector<std::vector<UserUnit>> plan_batches(const std::vector<synclog::Line>& lines,
                                                size_t batch_size, std::string_view deletedprefix) {
  std::vector<std::vector<UserUnit>> batches;
  const size_t step = batch_size == 0 ? std::max<size_t>(lines.size(), 1) : batch_size;
  for (size_t start = 0; start < lines.size(); start += step) {
    std::vector<UserUnit> units;
    std::map<std::string, size_t> index;
    std::set<std::pair<std::string, std::vector<std::string>>> seen;
    for (size_t i = start; i < std::min(lines.size(), start + step); i++) {
      const synclog::Line& line = lines[i];
      if (!seen.insert({line.keyword, line.args}).second) continue;
      std::string user = line_user(line, deletedprefix);
      auto [it, fresh] = index.try_emplace(user, units.size());
      if (fresh) units.push_back(UserUnit{user, {}});
      units[it->second].lines.push_back(line);
    }
    batches.push_back(std::move(units));
  }
  return batches;
}

Result<RollingOptions> RollingOptions::from_config(const Config& cfg, const std::string& channel) {
  RollingOptions o;
  o.channel = channel;
  o.client.channel = channel;
  auto conn = channel_connect_options(cfg, channel, "");
  if (!conn.ok()) return conn.status();
  o.connect = *conn;
  auto number = [&](const std::string& key, int64_t dflt) -> Result<int64_t> {
    auto raw = cfg.channel_raw(channel, key);
    if (!raw) return dflt;
    try {
      size_t used = 0;
      int64_t v = std::stoll(*raw, &used);
      if (used == raw->size() && v >= 0) return v;
    } catch (const std::exception&) {
    }
    return Status(Code::kConfigError, fmt::format("{}: not a number: {}", key, *raw));
  };
  auto duration = [&](const std::string& key, milliseconds dflt) -> Result<milliseconds> {
    auto raw = cfg.channel_raw(channel, key);
    if (!raw) return dflt;
    auto d = parse_duration(*raw);
    if (!d) return Status(Code::kConfigError, fmt::format("{}: not a duration: {}", key, *raw));
    return std::chrono::duration_cast<milliseconds>(*d);
  };
  auto batch = number("sync_batchsize", 8192);
  auto workers = number("sync_client_workers", 4);
  auto repeat = duration("sync_repeat_interval", milliseconds(1000));
  auto maxwait = duration("sync_reconnect_maxwait", milliseconds(20000));
  for (const Status& s : {batch.status(), workers.status(), repeat.status(), maxwait.status()})
    if (!s) return s;
  o.batch_size = static_cast<size_t>(*batch);
  o.workers = static_cast<int>(std::clamp<int64_t>(*workers, 1, 64));
  // Cyrus polls every 100 ms when the interval is 0.
  o.repeat_interval = repeat->count() > 0 ? *repeat : milliseconds(100);
  o.reconnect_maxwait = *maxwait;
  o.shutdown_file = cfg.channel_get(channel, "sync_shutdown_file");
  if (o.shutdown_file.empty())
    o.shutdown_file = channel_dir(cfg.configdirectory(), channel) + "/shutdown";
  return o;
}

// One parallel lane: its own store handle, fetch sink and connection, in
// that order so that the connection (which writes into the sink, which
// stages into the store) goes first.
struct RollingClient::Worker {
  std::unique_ptr<store::Instance> inst;
  std::unique_ptr<FetchSink> sink;
  std::unique_ptr<ReplicaConnection> conn;

  Status open_store(const Config& cfg) {
    if (inst) return Status::success();
    auto i = store::Instance::open(cfg);
    if (!i.ok()) return i.status();
    inst = std::move(*i);
    sink = std::make_unique<FetchSink>(*inst);
    return Status::success();
  }

  Status connect(const Config& cfg, const ConnectOptions& co) {
    if (conn) return Status::success();
    if (Status s = open_store(cfg); !s) return s;
    auto c = ReplicaConnection::open(co, sink.get());
    if (!c.ok()) return c.status();
    conn = std::move(*c);
    return Status::success();
  }

  // Syncs one user's lines through a fresh SyncClient (its RESERVE
  // bookkeeping must not outlive the replica's staging). After a failure
  // the connection is pinged and dropped if dead, as Cyrus does; a
  // connection that had gone stale while idle (the replica's sync_server
  // restarted) is replaced and the user tried once more at once.
  Status run(const Config& cfg, const RollingOptions& opts, const UserUnit& unit) {
    for (bool retried = false;; retried = true) {
      const bool reused = conn != nullptr;
      if (Status s = connect(cfg, opts.connect); !s) {
        spdlog::error("SYNCERROR channel={} user={} mailbox=-: connecting to {}: {}",
                      channel_label(opts.channel), unit.user.empty() ? "-" : unit.user,
                      opts.connect.host, s.to_string());
        return s;
      }
      SyncClient client(*inst, *conn, *sink, opts.client);
      Status s = client.sync_lines(unit.lines);
      if (s || conn->simple("NOOP")) return s;
      conn.reset();
      if (!reused || retried) return s;
    }
  }

  void close() {
    if (!conn) return;
    Status s = conn->simple("EXIT");
    if (!s) spdlog::debug("EXIT: {}", s.to_string());
    conn.reset();
  }
};

RollingClient::RollingClient(const Config& cfg, RollingOptions options)
    : cfg_(cfg),
      opts_(std::move(options)),
      log_path_(synclog::log_path(cfg.configdirectory(), opts_.channel)),
      backoff_(opts_.reconnect_maxwait),
      status_file_(status_path(cfg.configdirectory(), opts_.channel)),
      deletedprefix_(cfg.get("deletedprefix")) {
  for (int i = 0; i < std::max(1, opts_.workers); i++)
    workers_.push_back(std::make_unique<Worker>());
  status_.channel = opts_.channel;
  status_.pid = ::getpid();
  status_.replica = opts_.connect.host.starts_with("/")
                        ? opts_.connect.host
                        : fmt::format("{}:{}", opts_.connect.host, opts_.connect.port);
  status_.state = state_name(state_);
}

RollingClient::~RollingClient() {
  unlock_channel();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

const char* RollingClient::state_name(State s) {
  switch (s) {
    case State::kConnecting:
      return "connecting";
    case State::kIdle:
      return "idle";
    case State::kSyncing:
      return "syncing";
    case State::kBackoff:
      return "backoff";
    case State::kBootstrapping:
      return "bootstrapping";
    case State::kFailed:
      return "failed";
    case State::kStopped:
      return "stopped";
  }
  return "?";
}

void RollingClient::request_stop() {
  stop_.store(true);
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    ssize_t n = ::write(wake_fd_, &one, sizeof one);
    (void)n;
  }
}

bool RollingClient::should_stop() { return stop_.load() || fs::exists(opts_.shutdown_file); }

void RollingClient::set_state(State s) {
  if (s == state_) return;
  state_ = s;
  status_.state = state_name(s);
  // Syncing and idle alternate with every pass: rate-limited. The others
  // are rare and worth showing at once.
  publish(s != State::kSyncing && s != State::kIdle);
}

void RollingClient::set_error(const std::string& what) {
  status_.last_error = what;
  status_.last_error_time = unix_ms_now();
  publish(true);
}

void RollingClient::publish(bool force) {
  status_.connected = workers_[0]->conn != nullptr;
  // A status write is an fsync: while a pass's last batch is on its way to
  // the replica, writers may be waiting for it (sync_wait_replicas), so
  // the rate-limited ones wait until the pass is marked.
  if (!force && pass_open_) {
    status_file_.set_pending(status_);
    return;
  }
  status_file_.update(status_, force);
}

void RollingClient::publish_progress() {
  status_.connected = workers_[0]->conn != nullptr;
  status_file_.update(status_, false);
}

Status RollingClient::lock_channel(const std::string& dir) {
  const std::string path = dir + "/client.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Status(Code::kIoError, fmt::format("{}: {}", path, std::strerror(errno)));
  int rc;
  while ((rc = ::flock(fd, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {
  }
  if (rc != 0) {
    int err = errno;
    char buf[32] = {};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    if (err != EWOULDBLOCK)
      return Status(Code::kIoError, fmt::format("flock {}: {}", path, std::strerror(err)));
    std::string holder(buf, n > 0 ? static_cast<size_t>(n) : 0);
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    return Status(Code::kAgain,
                  fmt::format("another rolling sync_client (pid {}) holds {}; exiting",
                              holder.empty() ? "?" : holder, path));
  }
  // The pid is only for the message above; the flock is what counts, and
  // the kernel drops it however the holder dies.
  std::string pid = fmt::format("{}\n", ::getpid());
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size()))
    spdlog::warn("channel {}: writing {}: {}", channel_label(opts_.channel), path,
                 std::strerror(errno));
  lock_fd_ = fd;
  return Status::success();
}

void RollingClient::unlock_channel() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
  lock_fd_ = -1;
}

Status RollingClient::setup() {
  const std::string dir = fs::dirname(log_path_);
  if (Status s = fs::make_dirs(dir); !s) return s;
  if (Status s = lock_channel(dir); !s) return s;
  if (Status s = workers_[0]->open_store(cfg_); !s) return s;
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return errno_status("eventfd");
  log_watch_ = std::make_unique<synclog::LogDirWatch>(dir);
  if (!log_watch_->ok())
    spdlog::warn("channel {}: no inotify on {} ({}); polling every {} ms",
                 channel_label(opts_.channel), dir, log_watch_->error(),
                 opts_.repeat_interval.count());
  open_position();
  return Status::success();
}

void RollingClient::open_position() {
  auto p = synclog::ChannelPosition::open(cfg_.configdirectory(), opts_.channel);
  if (!p.ok()) {
    if (!std::exchange(position_error_logged_, true))
      spdlog::error(
          "channel {}: {}; writers waiting for this replica (sync_wait_replicas) time out",
          channel_label(opts_.channel), p.status().to_string());
    position_.reset();
    return;
  }
  position_.emplace(std::move(*p));
}

Status RollingClient::connect_first() {
  Status s = workers_[0]->connect(cfg_, opts_.connect);
  status_.connected = static_cast<bool>(s);
  return s;
}

std::vector<const UserUnit*> RollingClient::run_batch(const std::vector<UserUnit>& units) {
  const auto now = Clock::now();
  std::vector<const UserUnit*> todo, failed;
  for (const auto& u : units) {
    auto d = deferred_.find(u.user);
    (d != deferred_.end() && d->second.until > now ? failed : todo).push_back(&u);
  }
  std::vector<Status> results(todo.size());
  const size_t lanes = std::min(workers_.size(), todo.size());
  if (lanes <= 1) {
    for (size_t i = 0; i < todo.size(); i++) results[i] = workers_[0]->run(cfg_, opts_, *todo[i]);
  } else {
    std::atomic<size_t> next{0};
    std::vector<std::thread> threads;
    for (size_t w = 0; w < lanes; w++) {
      threads.emplace_back([&, w] {
        for (size_t i; (i = next.fetch_add(1)) < todo.size();)
          results[i] = workers_[w]->run(cfg_, opts_, *todo[i]);
      });
    }
    for (auto& t : threads) t.join();
  }
  for (size_t i = 0; i < todo.size(); i++) {
    const UserUnit& u = *todo[i];
    if (results[i]) {
      deferred_.erase(u.user);
      status_.lines_applied += u.lines.size();
      continue;
    }
    failed.push_back(&u);
    Deferral& d = deferred_[u.user];
    d.failures++;
    d.until = Clock::now() + user_retry_delay(d.failures, opts_.reconnect_maxwait);
    status_.last_error =
        fmt::format("user {}: {}", u.user.empty() ? "-" : u.user, results[i].to_string());
    status_.last_error_time = unix_ms_now();
  }
  return failed;
}

Status RollingClient::requeue(const std::vector<synclog::Line>& lines) {
  // A user deferred in several batches of one pass has lines in each.
  std::string text;
  std::set<std::string> once;
  for (const auto& line : lines) {
    auto f = synclog::format_line(line);
    if (f.ok() && once.insert(*f).second) text += *f;
  }
  const off_t before = file_size(log_path_);
  Status s = synclog::append_lines(log_path_, text);
  if (!s) return s;
  spdlog::info("channel {}: {} line(s) of failed users queued again", channel_label(opts_.channel),
               once.size());
  // Our own append must not wake us; other writers' lines (already there,
  // or added since) must.
  if (log_watch_) log_watch_->drain();
  requeue_external_ = before > 0 || file_size(log_path_) > before + static_cast<off_t>(text.size());
  return Status::success();
}

RollingClient::Pass RollingClient::numbered_pass() {
  // A file removed or replaced under us would leave waiters on the new one.
  if (!position_ || position_->stale()) open_position();
  const uint64_t number = position_ ? position_->begin_pass() : 0;
  last_pass_complete_ = false;
  pass_open_ = true;
  Pass p = pass();
  pass_open_ = false;
  if (position_ && last_pass_complete_) position_->mark_applied(number);
  return p;
}

RollingClient::Pass RollingClient::pass() {
  // A writer creates the log before it writes its line; taking over an
  // empty log would only send it round its inode-change retries.
  if (file_size(log_path_) == 0 && !fs::exists(log_path_ + "-run")) {
    last_pass_complete_ = true;
    return Pass::kNothing;
  }
  auto reader = synclog::LogReader::for_channel(cfg_.configdirectory(), opts_.channel);
  Status s = reader.begin();
  if (s.code() == Code::kAgain) {
    last_pass_complete_ = true;
    return Pass::kNothing;
  }
  if (!s) {
    spdlog::error("SYNCERROR channel={} user=- mailbox=-: {}", channel_label(opts_.channel),
                  s.to_string());
    set_error(s.to_string());
    return Pass::kKept;
  }
  const std::optional<int64_t> born = file_birth_ms(reader.work_path());
  set_state(State::kSyncing);
  auto batches = plan_batches(reader.lines(), opts_.batch_size, deletedprefix_);
  std::vector<synclog::Line> failed;
  for (size_t b = 0; b < batches.size(); b++) {
    for (const UserUnit* u : run_batch(batches[b]))
      failed.insert(failed.end(), u->lines.begin(), u->lines.end());
    status_.batches++;
    if (b + 1 == batches.size()) break;
    // Progress through a long log shows between batches.
    publish_progress();
    if (should_stop()) return Pass::kStopped;  // log-run kept
  }
  if (!failed.empty()) {
    if (opts_.once) return Pass::kKept;
    // Only worth re-queueing if the replica is there; otherwise the whole
    // log-run waits for it, and the users were not at fault.
    if (!connect_first()) {
      deferred_.clear();
      set_error(status_.last_error);
      return Pass::kKept;
    }
    if (Status q = requeue(failed); !q) {
      spdlog::error("SYNCERROR channel={} user=- mailbox=-: re-queueing failed lines: {}",
                    channel_label(opts_.channel), q.to_string());
      set_error(q.to_string());
      return Pass::kKept;
    }
  }
  if (Status e = reader.end(); !e) {
    set_error(e.to_string());
    return Pass::kKept;
  }
  status_.last_success = unix_ms_now();
  if (born) status_.last_lag_ms = std::max<int64_t>(0, status_.last_success - *born);
  // A log-run left by an earlier run is older than the log: lines in the
  // log itself are not covered until the pass that takes it over.
  last_pass_complete_ = failed.empty() && !reader.reprocessing();
  if (!failed.empty()) {
    publish(true);
    return Pass::kRequeued;
  }
  return Pass::kDone;
}

std::optional<store::ChannelPhase> RollingClient::read_phase() {
  auto st = workers_[0]->inst->mailboxes().channel_state(opts_.channel);
  if (!st.ok()) {
    spdlog::error("channel {}: reading its state in mailboxes.db: {}", channel_label(opts_.channel),
                  st.status().to_string());
    return std::nullopt;
  }
  if (!*st) return std::nullopt;
  return (*st)->phase;
}

void RollingClient::record_phase(store::ChannelPhase phase, const std::string& reason) {
  Status s =
      workers_[0]->inst->mailboxes().set_channel_state(opts_.channel, phase, reason, unix_ms_now());
  if (!s)
    spdlog::error("channel {}: recording its state {} in mailboxes.db: {}",
                  channel_label(opts_.channel), store::channel_phase_name(phase), s.to_string());
}

RollingClient::Boot RollingClient::bootstrap(const store::ChannelState& state) {
  // Whoever recorded the channel starts logging to it right after: the
  // user list is taken once the log receives the changes made meanwhile.
  const int64_t settle = state.since + 1000 - unix_ms_now();
  if (settle > 0) wait(milliseconds(settle), false);
  if (should_stop()) return Boot::kStopped;
  set_state(State::kBootstrapping);
  BootstrapOptions bo;
  bo.channel = opts_.channel;
  bo.connect = opts_.connect;
  bo.client = opts_.client;
  bo.stop = [this] { return should_stop(); };
  bo.not_before = state.since;
  bo.user_verdict = opts_.user_verdict;
  Bootstrap boot(*workers_[0]->inst, bo);
  const auto t0 = Clock::now();
  Status s = boot.run();
  const BootstrapProgress& p = boot.progress();
  if (s) {
    record_phase(store::ChannelPhase::kRolling, "");
    spdlog::info("channel {}: bootstrap done ({} users, {} messages, {}, {} ms); rolling",
                 channel_label(opts_.channel), p.users.size(), p.messages,
                 human_bytes(static_cast<double>(p.bytes)), since(t0).count());
    return Boot::kDone;
  }
  if (s.code() == Code::kAgain && should_stop()) return Boot::kStopped;
  std::string why;
  if (boot.lost_replica() && is_permanent_connect_error(s)) {
    why = fmt::format("replica {} refused: {}", status_.replica, s.to_string());
  } else if (auto failure = bootstrap_failure(p)) {
    why = *failure;
  }
  if (!why.empty()) {
    spdlog::error("SYNCERROR channel={} user=- mailbox=-: bootstrap failed: {}",
                  channel_label(opts_.channel), why);
    record_phase(store::ChannelPhase::kFailed, why);
    set_error("bootstrap failed: " + why);
    return Boot::kFailed;
  }
  std::string reason = fmt::format("retrying: {}", s.to_string());
  record_phase(store::ChannelPhase::kBootstrapping, reason);
  set_error(reason);
  if (boot.lost_replica()) {
    // The main loop reconnects with backoff before the next run.
    workers_[0]->conn.reset();
    return Boot::kRetry;
  }
  int failures = 0;
  for (const auto& u : p.users) failures = std::max(failures, u.failures);
  wait(user_retry_delay(failures, opts_.reconnect_maxwait), false);
  return Boot::kRetry;
}

void RollingClient::wait(milliseconds timeout, bool on_log) {
  const auto deadline = Clock::now() + timeout;
  const std::string shutdown_name = opts_.shutdown_file.substr(opts_.shutdown_file.rfind('/') + 1);
  for (;;) {
    if (should_stop()) return;
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return;
    // The status file is brought up to date while idle, rate limit allowing.
    milliseconds slice = std::min(left, milliseconds(1000));
    if (auto due = status_file_.flush_due()) {
      if (due->count() <= 0) {
        status_file_.flush();
      } else {
        slice = std::min(slice, *due);
      }
    }
    const int watch_fd = log_watch_ ? log_watch_->fd() : -1;
    struct pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {watch_fd, POLLIN, 0}};
    int n = ::poll(fds, watch_fd >= 0 ? 2 : 1, static_cast<int>(slice.count()));
    if (n < 0 && errno != EINTR) return;
    if (n <= 0) continue;
    if (fds[0].revents) return;
    if (watch_fd < 0 || !fds[1].revents) continue;
    bool grew = log_watch_->drain({"log", shutdown_name});
    if (grew && on_log) return;
  }
}

void RollingClient::shutdown_connections() {
  for (auto& w : workers_) w->close();
}

int RollingClient::run() {
  if (Status s = setup(); !s) {
    unlock_channel();
    if (s.code() == Code::kAgain) {
      spdlog::error("channel {}: {}", channel_label(opts_.channel), s.message());
      return kExitLocked;
    }
    spdlog::error("channel {}: {}", channel_label(opts_.channel), s.to_string());
    return 1;
  }
  publish(true);
  if (opts_.on_started) opts_.on_started();
  int rc = 0;
  while (!should_stop()) {
    Step step = round();
    if (step == Step::kStop) break;
    if (step == Step::kFail) {
      rc = 1;
      break;
    }
  }
  finish_run();
  return rc;
}

RollingClient::Step RollingClient::round() {
  const std::optional<store::ChannelPhase> phase = read_phase();
  if (phase == store::ChannelPhase::kFailed) {
    if (opts_.once) return Step::kFail;
    set_state(State::kFailed);
    wait(opts_.repeat_interval, false);
    return Step::kNextRound;
  }
  const bool bootstrapping = phase == store::ChannelPhase::kBootstrapping;
  if (Step step = ensure_connected(bootstrapping); step != Step::kProceed) return step;
  return bootstrapping ? bootstrap_round() : rolling_round();
}

RollingClient::Step RollingClient::ensure_connected(bool bootstrapping) {
  if (workers_[0]->conn && opts_.session_timeout.count() > 0 && !opts_.once &&
      Clock::now() - session_start_ > opts_.session_timeout) {
    spdlog::info("channel {}: session older than {} s (-t); reconnecting",
                 channel_label(opts_.channel), opts_.session_timeout.count());
    shutdown_connections();
  }
  if (workers_[0]->conn) return Step::kProceed;
  set_state(State::kConnecting);
  const auto t0 = Clock::now();
  Status c = connect_first();
  if (!c) return connect_failed(c, t0, bootstrapping);
  if (in_outage_)
    spdlog::info("channel {}: connected to {} after {} ms", channel_label(opts_.channel),
                 status_.replica, since(outage_start_).count());
  in_outage_ = false;
  session_start_ = Clock::now();
  backoff_.reset();
  publish(true);
  return Step::kProceed;
}

RollingClient::Step RollingClient::connect_failed(const Status& c, Clock::time_point t0,
                                                  bool bootstrapping) {
  std::string what = fmt::format("connecting to {}: {}", status_.replica, c.to_string());
  if (!in_outage_ || opts_.once)
    spdlog::error("SYNCERROR channel={} user=- mailbox=-: {}", channel_label(opts_.channel),
                  what);
  set_error(what);
  if (bootstrapping) {
    const bool permanent = is_permanent_connect_error(c);
    record_phase(permanent ? store::ChannelPhase::kFailed : store::ChannelPhase::kBootstrapping,
                 permanent ? fmt::format("replica {} refused: {}", status_.replica, c.to_string())
                           : "retrying: " + what);
    if (permanent && !opts_.once && !opts_.connect_once) return Step::kNextRound;
  }
  if (opts_.once || opts_.connect_once) return Step::kFail;
  if (!in_outage_) outage_start_ = t0;
  in_outage_ = true;
  milliseconds delay = backoff_.next(since(t0), since(outage_start_));
  set_state(State::kBackoff);
  wait(delay, false);
  return Step::kNextRound;
}

RollingClient::Step RollingClient::bootstrap_round() {
  auto state = workers_[0]->inst->mailboxes().channel_state(opts_.channel);
  if (!state.ok() || !*state) return Step::kNextRound;  // read again (and logged) next time
  Boot b = bootstrap(**state);
  if (b == Boot::kStopped) return Step::kStop;
  if (b == Boot::kDone) return Step::kNextRound;
  return opts_.once ? Step::kFail : Step::kNextRound;
}

RollingClient::Step RollingClient::rolling_round() {
  requeue_external_ = false;
  Pass p = numbered_pass();
  if (p == Pass::kStopped) return Step::kStop;
  if (p == Pass::kKept) {
    if (opts_.once) return Step::kFail;
    // Without a connection the loop reconnects (with backoff) and then
    // reprocesses log-run; with one, the log itself is the trouble.
    if (workers_[0]->conn) {
      set_state(State::kIdle);
      wait(opts_.repeat_interval, false);
    }
    return Step::kNextRound;
  }
  set_state(State::kIdle);
  if (p == Pass::kDone || (p == Pass::kRequeued && requeue_external_)) return Step::kNextRound;
  if (opts_.once) return Step::kStop;  // kNothing: drained
  milliseconds timeout = opts_.repeat_interval;
  for (const auto& [user, d] : deferred_)
    timeout = std::min(
        timeout, std::max(milliseconds(0),
                          std::chrono::duration_cast<milliseconds>(d.until - Clock::now())));
  wait(timeout, true);
  return Step::kNextRound;
}

void RollingClient::finish_run() {
  set_state(State::kStopped);
  shutdown_connections();
  if (fs::exists(opts_.shutdown_file)) {
    spdlog::info("channel {}: shutdown file {} found; stopping", channel_label(opts_.channel),
                 opts_.shutdown_file);
    if (Status s = fs::remove_file(opts_.shutdown_file); !s)
      spdlog::warn("cannot remove {}: {}", opts_.shutdown_file, s.to_string());
  }
  publish(true);
  unlock_channel();
}

}  // namespace replimail::sync
