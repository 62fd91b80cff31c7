#include "sync/bootstrap.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <iterator>
#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "store/mboxname.h"
#include "sync/channel_status.h"
#include "synclog/work.h"

namespace replimail::sync {

using json = nlohmann::json;

size_t BootstrapProgress::done_count() const {
  size_t n = 0;
  for (const auto& u : users) n += u.done ? 1 : 0;
  return n;
}

std::string bootstrap_path(const std::string& configdirectory, const std::string& channel) {
  return channel_dir(configdirectory, channel) + "/bootstrap.json";
}

std::string to_json(const BootstrapProgress& p) {
  json users = json::array();
  for (const auto& u : p.users) {
    json one = {{"user", u.user}, {"done", u.done}, {"finished", u.finished}};
    if (u.failures > 0) {
      one["failures"] = u.failures;
      one["error"] = u.error;
    }
    users.push_back(std::move(one));
  }
  json j = {{"channel", p.channel}, {"started", p.started},         {"finished", p.finished},
            {"users", users},       {"shared_done", p.shared_done}, {"messages", p.messages},
            {"bytes", p.bytes},     {"total", p.users.size()},      {"done", p.done_count()}};
  return j.dump() + "\n";
}

Result<BootstrapProgress> bootstrap_from_json(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return Status(Code::kInvalidArgument, "bootstrap: not a JSON object");
  BootstrapProgress p;
  try {
    p.channel = j.at("channel").get<std::string>();
    p.started = j.at("started").get<int64_t>();
    p.finished = j.at("finished").get<int64_t>();
    p.shared_done = j.at("shared_done").get<bool>();
    p.messages = j.at("messages").get<uint64_t>();
    p.bytes = j.value("bytes", uint64_t{0});  // absent in files of older versions
    for (const auto& u : j.at("users")) {
      p.users.push_back(BootstrapUser{u.at("user").get<std::string>(), u.at("done").get<bool>(),
                                      u.at("finished").get<int64_t>(), u.value("failures", 0),
                                      u.value("error", "")});
    }
  } catch (const json::exception& e) {
    return Status(Code::kInvalidArgument, std::string("bootstrap: ") + e.what());
  }
  return p;
}

std::optional<BootstrapProgress> load_bootstrap(const std::string& configdirectory,
                                                const std::string& channel) {
  const std::string path = bootstrap_path(configdirectory, channel);
  if (!fs::exists(path)) return std::nullopt;
  auto text = fs::read_file(path);
  auto p = text.ok() ? bootstrap_from_json(*text) : Result<BootstrapProgress>(text.status());
  if (!p.ok()) {
    spdlog::warn("ignoring {}: {}", path, p.status().to_string());
    return std::nullopt;
  }
  return *p;
}

BootstrapProgress start_or_resume(const std::optional<BootstrapProgress>& previous,
                                  const std::string& channel, const std::vector<std::string>& users,
                                  int64_t now_ms, int64_t not_before) {
  if (previous && previous->finished == 0 && previous->started >= not_before) return *previous;
  BootstrapProgress p;
  p.channel = channel;
  p.started = now_ms;
  for (const auto& u : users) p.users.push_back(BootstrapUser{u, false, 0, 0, {}});
  return p;
}

std::string bootstrap_summary(const std::optional<BootstrapProgress>& p) {
  if (!p) return "none";
  if (p->finished != 0) return "ready";
  return fmt::format("bootstrap {}/{} users", p->done_count(), p->users.size());
}

BootstrapEta bootstrap_eta(size_t done, size_t total, uint64_t bytes,
                           std::chrono::milliseconds elapsed) {
  BootstrapEta e{done, total, bytes};
  const double secs = static_cast<double>(elapsed.count()) / 1000.0;
  if (secs > 0) {
    e.users_per_s = static_cast<double>(done) / secs;
    e.bytes_per_s = static_cast<double>(bytes) / secs;
  }
  if (done >= total) {
    e.eta_s = 0;
  } else if (done > 0 && secs > 0) {
    e.eta_s =
        static_cast<int64_t>(secs / static_cast<double>(done) * static_cast<double>(total - done));
  }
  return e;
}

std::string human_bytes(double bytes) {
  if (bytes < 1024) return fmt::format("{:.0f} B", bytes);
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  size_t u = 0;
  bytes /= 1024;
  while (bytes >= 1024 && u + 1 < std::size(units)) {
    bytes /= 1024;
    u++;
  }
  return fmt::format("{:.1f} {}", bytes, units[u]);
}

std::string human_duration(int64_t seconds) {
  if (seconds < 0) return "--:--";
  if (seconds >= 3600)
    return fmt::format("{}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60);
  return fmt::format("{}:{:02}", seconds / 60, seconds % 60);
}

std::string eta_text(const BootstrapEta& e) {
  return fmt::format("{}/{} users, {}, {}/s, ETA {}", e.done, e.total,
                     human_bytes(static_cast<double>(e.bytes)), human_bytes(e.bytes_per_s),
                     human_duration(e.eta_s));
}

std::string progress_line(size_t done, size_t total, uint64_t bytes,
                          std::chrono::milliseconds elapsed, size_t width) {
  BootstrapEta e = bootstrap_eta(done, total, bytes, elapsed);
  std::string tail = fmt::format(" {}/{} users  {}  {}/s  ETA {}", done, total,
                                 human_bytes(static_cast<double>(bytes)),
                                 human_bytes(e.bytes_per_s), human_duration(e.eta_s));
  size_t bar = width > tail.size() + 12 ? std::min<size_t>(30, width - tail.size() - 2) : 10;
  size_t filled = total == 0 ? bar : bar * done / total;
  // fmt, not a chain of operator+: GCC 12 -O3's false -Wrestrict.
  std::string line =
      fmt::format("[{}{}]{}", std::string(filled, '#'), std::string(bar - filled, '.'), tail);
  if (line.size() > width) line.resize(width);
  return line;
}

std::optional<std::string> bootstrap_failure(const BootstrapProgress& p) {
  for (const auto& u : p.users) {
    if (!u.done && u.failures >= kMaxUserFailures)
      return fmt::format("user {} failed {} times in a row: {}", u.user, u.failures, u.error);
  }
  return std::nullopt;
}

bool is_permanent_connect_error(const Status& s) {
  return s.code() == Code::kPermissionDenied || s.code() == Code::kConfigError ||
         s.code() == Code::kProtocolError;
}

Bootstrap::Bootstrap(store::Instance& instance, BootstrapOptions options)
    : inst_(instance),
      opts_(std::move(options)),
      path_(bootstrap_path(instance.config().configdirectory(), opts_.channel)),
      sink_(instance) {}

Status Bootstrap::connect() {
  if (conn_) return Status::success();
  auto c = ReplicaConnection::open(opts_.connect, &sink_);
  if (!c.ok()) {
    spdlog::error("SYNCERROR channel={} connecting to {}: {}",
                  opts_.channel.empty() ? "\"\"" : opts_.channel, opts_.connect.host,
                  c.status().to_string());
    return c.status();
  }
  conn_ = std::move(*c);
  return Status::success();
}

Status Bootstrap::with_client(const std::function<Status(SyncClient&)>& work) {
  if (Status s = connect(); !s) return s;
  SyncClient client(inst_, *conn_, sink_, opts_.client);
  Status s = work(client);
  const ClientStats& st = client.stats();
  stats_.messages_uploaded += st.messages_uploaded;
  stats_.bytes_uploaded += st.bytes_uploaded;
  stats_.mailboxes_applied += st.mailboxes_applied;
  stats_.full_updates += st.full_updates;
  progress_.messages += st.messages_uploaded;
  progress_.bytes += st.bytes_uploaded;
  // RESTART drops what the replica staged for this user; a connection that
  // fails it is broken and is opened afresh for the next user.
  Status r = conn_->simple("RESTART");
  sink_.clear();
  if (!r) conn_.reset();
  return s ? r : s;
}

void Bootstrap::save(bool force) {
  auto now = std::chrono::steady_clock::now();
  if (!force && now - last_save_ < std::chrono::milliseconds(200)) return;
  last_save_ = now;
  Status s = fs::make_dirs(fs::dirname(path_));
  if (s) s = fs::write_file_atomic(path_, to_json(progress_));
  if (!s) spdlog::warn("cannot write {}: {}", path_, s.to_string());
}

void Bootstrap::draw(bool final) {
  if (!opts_.progress_bar) return;
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - begun_);
  std::string line = progress_line(progress_.done_count(), progress_.users.size(),
                                   progress_.bytes - bytes_at_start_, elapsed);
  std::fprintf(stderr, "\r%s\x1b[K%s", line.c_str(), final ? "\n" : "");
  std::fflush(stderr);
}

Status Bootstrap::run() {
  // One bootstrap per channel at a time (a rolling client's and one run by
  // hand would both write bootstrap.json): the second waits its turn.
  if (Status s = fs::make_dirs(fs::dirname(path_)); !s) return s;
  const std::string lock_path = fs::dirname(path_) + "/bootstrap.lock";
  int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) return Status::from_errno(errno, "open " + lock_path);
  int rc;
  while ((rc = ::flock(lock_fd, LOCK_EX)) != 0 && errno == EINTR) {
  }
  if (rc != 0) {
    Status s = Status::from_errno(errno, "flock " + lock_path);
    ::close(lock_fd);
    return s;
  }
  Status s = run_locked();
  ::close(lock_fd);
  return s;
}

UserVerdict local_user_verdict(const store::Instance& instance, const std::string& user) {
  if (instance.user_fenced(user) && instance.user_moved_at(user))
    return {UserTurn::kNotOurs, "moved away from this instance (its fence and moved file)"};
  return {};
}

bool Bootstrap::may_send(BootstrapUser& u, Status& later) {
  UserVerdict v = local_user_verdict(inst_, u.user);
  if (v.turn == UserTurn::kSend && opts_.user_verdict) v = opts_.user_verdict(u.user);
  const std::string channel = opts_.channel.empty() ? "\"\"" : opts_.channel;
  switch (v.turn) {
    case UserTurn::kSend:
      return true;
    case UserTurn::kNotOurs:
      spdlog::info("bootstrap of channel {}: {} not sent: {}", channel, u.user, v.why);
      u.done = true;
      u.finished = unix_ms_now();
      u.failures = 0;
      u.error = "not sent: " + v.why;
      ++not_ours_;
      return false;
    case UserTurn::kLater:
      spdlog::info("bootstrap of channel {}: {} left for a later run: {}", channel, u.user, v.why);
      u.error = "later: " + v.why;
      ++later_;
      if (later) later = Status(Code::kAgain, u.user + ": " + v.why);
      return false;
  }
  return true;
}

Status Bootstrap::sync_shared() {
  std::vector<std::string> shared;
  Status result = inst_.mailboxes().list("", false, [&](const store::MailboxEntry& e) {
    if (e.is_real() && store::mboxname_owner(e.name).empty()) shared.push_back(e.name);
    return true;
  });
  for (const auto& name : shared) {
    Status one = with_client([&](SyncClient& c) { return c.sync_mailboxes({name}); });
    if (!one && result) result = one;
  }
  return result;
}

Status Bootstrap::run_locked() {
  begun_ = std::chrono::steady_clock::now();
  auto users = inst_.mailboxes().users();
  if (!users.ok()) return users.status();
  progress_ = start_or_resume(load_bootstrap(inst_.config().configdirectory(), opts_.channel),
                              opts_.channel, *users, unix_ms_now(), opts_.not_before);
  resumed_done_ = progress_.done_count();
  not_ours_ = later_ = 0;
  bytes_at_start_ = progress_.bytes;
  lost_replica_ = false;
  if (resumed_done_ > 0)
    spdlog::info("bootstrap of channel {}: resuming, {} of {} users already done",
                 opts_.channel.empty() ? "\"\"" : opts_.channel, resumed_done_,
                 progress_.users.size());
  save(true);
  if (Status s = connect(); !s) {
    lost_replica_ = true;
    return s;
  }
  Status result;
  Status later;  // the first user left for a later run, if no user failed
  draw(false);
  for (auto& u : progress_.users) {
    if (u.done) continue;
    if (opts_.stop && opts_.stop()) {
      save(true);
      draw(true);
      return Status(Code::kAgain, "bootstrap stopped");
    }
    if (!may_send(u, later)) {
      save(false);
      continue;
    }
    Status s = with_client([&](SyncClient& c) { return c.sync_user(u.user); });
    if (s) {
      u.done = true;
      u.finished = unix_ms_now();
      u.failures = 0;
      u.error.clear();
    } else if (result) {
      result = s;
    }
    if (!conn_ && !connect()) {
      // The replica went away: not the user's fault.
      lost_replica_ = true;
      save(true);
      draw(true);
      return s ? Status(Code::kIoError, "lost the replica") : s;
    }
    if (!s) {
      // A replica in read-only mode (an old primary fenced by cyr_promote
      // until it rejoins, an instance frozen for a backup) refuses for a
      // while, not for good: it is retried with backoff, never failed.
      u.failures = s.code() == Code::kReadOnly ? std::min(u.failures + 1, kMaxUserFailures - 1)
                                               : u.failures + 1;
      u.error = s.to_string();
    }
    save(false);
    draw(false);
  }
  if (!progress_.shared_done) {
    Status shared_result = sync_shared();
    progress_.shared_done = static_cast<bool>(shared_result);
    if (!shared_result && result) result = shared_result;
  }
  if (result) result = later;
  if (result && progress_.done_count() == progress_.users.size())
    progress_.finished = unix_ms_now();
  save(true);
  draw(true);
  if (conn_) {
    Status s = conn_->simple("EXIT");
    if (!s) spdlog::warn("EXIT: {}", s.to_string());
  }
  return result;
}

}  // namespace replimail::sync
