#include "sync/channel_status.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "sync/bootstrap.h"
#include "synclog/synclog.h"

namespace replimail::sync {

using json = nlohmann::json;

int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string channel_dir(const std::string& configdirectory, const std::string& channel) {
  return fs::dirname(synclog::log_path(configdirectory, channel));
}

std::string status_path(const std::string& configdirectory, const std::string& channel) {
  return channel_dir(configdirectory, channel) + "/status.json";
}

std::string to_json(const ChannelStatus& s) {
  json j = {{"channel", s.channel},
            {"pid", s.pid},
            {"connected", s.connected},
            {"replica", s.replica},
            {"state", s.state},
            {"last_success", s.last_success},
            {"last_error", s.last_error},
            {"last_error_time", s.last_error_time},
            {"batches", s.batches},
            {"lines_applied", s.lines_applied},
            {"last_lag_ms", s.last_lag_ms},
            {"updated", s.updated}};
  return j.dump() + "\n";
}

Result<ChannelStatus> status_from_json(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return Status(Code::kInvalidArgument, "status: not a JSON object");
  ChannelStatus s;
  try {
    s.channel = j.at("channel").get<std::string>();
    s.pid = j.at("pid").get<int64_t>();
    s.connected = j.at("connected").get<bool>();
    s.replica = j.at("replica").get<std::string>();
    s.state = j.value("state", "");
    s.last_success = j.at("last_success").get<int64_t>();
    s.last_error = j.at("last_error").get<std::string>();
    s.last_error_time = j.at("last_error_time").get<int64_t>();
    s.batches = j.at("batches").get<uint64_t>();
    s.lines_applied = j.at("lines_applied").get<uint64_t>();
    s.last_lag_ms = j.at("last_lag_ms").get<int64_t>();
    s.updated = j.value("updated", int64_t{0});
  } catch (const json::exception& e) {
    return Status(Code::kInvalidArgument, std::string("status: ") + e.what());
  }
  return s;
}

StatusFile::StatusFile(std::string path, std::chrono::milliseconds min_interval)
    : path_(std::move(path)), min_interval_(min_interval) {}

void StatusFile::update(ChannelStatus status, bool force) {
  pending_ = std::move(status);
  dirty_ = true;
  if (force || std::chrono::steady_clock::now() - last_write_ >= min_interval_) write(pending_);
}

void StatusFile::set_pending(ChannelStatus status) {
  pending_ = std::move(status);
  dirty_ = true;
}

void StatusFile::flush() {
  if (dirty_) write(pending_);
}

std::optional<std::chrono::milliseconds> StatusFile::flush_due() const {
  if (!dirty_) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::milliseconds>(last_write_ + min_interval_ -
                                                               std::chrono::steady_clock::now());
}

void StatusFile::write(ChannelStatus& s) {
  s.updated = unix_ms_now();
  Status w = fs::write_file_atomic(path_, to_json(s));
  if (!w) spdlog::warn("cannot write {}: {}", path_, w.to_string());
  last_write_ = std::chrono::steady_clock::now();
  dirty_ = false;
}

Result<uint64_t> count_lines(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return uint64_t{0};
    return errno_status("open", path);
  }
  uint64_t n = 0;
  char buf[65536];
  for (;;) {
    ssize_t got = ::read(fd, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      Status s(Code::kIoError, fmt::format("read {}: {}", path, std::strerror(errno)));
      ::close(fd);
      return s;
    }
    if (got == 0) break;
    for (ssize_t i = 0; i < got; i++) n += buf[i] == '\n';
  }
  ::close(fd);
  return n;
}

std::optional<int64_t> file_birth_ms(const std::string& path) {
  struct statx sx {};
  if (::statx(AT_FDCWD, path.c_str(), 0, STATX_BTIME | STATX_MTIME, &sx) < 0) return std::nullopt;
  const struct statx_timestamp& t = (sx.stx_mask & STATX_BTIME) ? sx.stx_btime : sx.stx_mtime;
  return t.tv_sec * int64_t{1000} + t.tv_nsec / 1000000;
}

int64_t replication_lag_ms(const ChannelReport& r) {
  return r.backlog_lines == 0 ? 0 : std::max<int64_t>(0, r.oldest_age_ms);
}

ChannelReport inspect_channel(const std::string& configdirectory, const std::string& channel,
                              int64_t now_ms, const std::optional<store::ChannelState>& phase) {
  ChannelReport r;
  r.channel = channel;
  r.phase = phase;
  const std::string log = synclog::log_path(configdirectory, channel);
  for (const std::string& path : {log + "-run", log}) {
    auto n = count_lines(path);
    if (n.ok()) r.backlog_lines += *n;
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) r.backlog_bytes += static_cast<uint64_t>(st.st_size);
    if (r.oldest_age_ms >= 0) continue;
    if (auto born = file_birth_ms(path)) r.oldest_age_ms = std::max<int64_t>(0, now_ms - *born);
  }
  const std::string sp = status_path(configdirectory, channel);
  if (fs::exists(sp)) {
    auto text = fs::read_file(sp);
    auto st = text.ok() ? status_from_json(*text) : Result<ChannelStatus>(text.status());
    if (st.ok()) {
      r.status = *st;
      pid_t pid = static_cast<pid_t>(st->pid);
      r.client_alive = pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM);
    } else {
      r.status_error = st.status().to_string();
    }
  }
  auto progress = load_bootstrap(configdirectory, channel);
  r.bootstrap = bootstrap_summary(progress);
  if (phase && phase->phase == store::ChannelPhase::kBootstrapping) {
    // Before the client's first save, or a file left by an earlier
    // bootstrap: nothing done of this one yet.
    if (progress && progress->finished == 0) {
      r.progress = bootstrap_eta(progress->done_count(), progress->users.size(), progress->bytes,
                                 std::chrono::milliseconds(std::max<int64_t>(
                                     0, now_ms - std::max(progress->started, phase->since))));
    } else {
      r.progress = BootstrapEta{};
    }
  }
  return r;
}

std::vector<ChannelReport> inspect_channels(const Config& cfg, int64_t now_ms) {
  auto raw = cfg.raw("sync_log_channels");
  std::vector<std::string> channels =
      raw ? synclog::parse_channel_list(*raw) : std::vector<std::string>{""};
  std::vector<store::ChannelState> states;
  const std::string mailboxes_db = cfg.configdirectory() + "/mailboxes.db";
  if (fs::exists(mailboxes_db)) {
    auto mbl = store::MailboxList::open(mailboxes_db);
    auto all = mbl.ok() ? (*mbl)->channel_states()
                        : Result<std::vector<store::ChannelState>>(mbl.status());
    if (all.ok()) {
      states = std::move(*all);
    } else {
      spdlog::error("{}: {}", mailboxes_db, all.status().to_string());
    }
  }
  std::vector<ChannelReport> reports;
  for (const auto& c : channels) {
    std::optional<store::ChannelState> state;
    for (const auto& st : states)
      if (st.channel == c) state = st;
    reports.push_back(inspect_channel(cfg.configdirectory(), c, now_ms, state));
  }
  return reports;
}

namespace {

json report_object(const ChannelReport& r) {
  json j = {{"channel", r.channel},
            {"backlog_lines", r.backlog_lines},
            {"backlog_bytes", r.backlog_bytes},
            {"oldest_age_ms", r.oldest_age_ms},
            {"lag_ms", replication_lag_ms(r)},
            {"client_alive", r.client_alive},
            {"bootstrap", r.bootstrap}};
  if (r.phase) {
    j["phase"] = store::channel_phase_name(r.phase->phase);
    j["phase_since"] = r.phase->since;
    j["phase_reason"] = r.phase->reason;
  } else {
    j["phase"] = "unrecorded";
  }
  if (r.progress) {
    j["bootstrap_progress"] = {{"users_done", r.progress->done},
                               {"users_total", r.progress->total},
                               {"bytes", r.progress->bytes},
                               {"users_per_s", r.progress->users_per_s},
                               {"bytes_per_s", r.progress->bytes_per_s},
                               {"eta_s", r.progress->eta_s}};
  }
  if (r.status) {
    j["connected"] = r.client_alive && r.status->connected;
    j["replica"] = r.status->replica;
    j["state"] = r.client_alive ? r.status->state : "not running";
    j["pid"] = r.status->pid;
    j["last_success"] = r.status->last_success;
    j["last_error"] = r.status->last_error;
    j["last_error_time"] = r.status->last_error_time;
    j["batches"] = r.status->batches;
    j["lines_applied"] = r.status->lines_applied;
    j["last_lag_ms"] = r.status->last_lag_ms;
  } else {
    j["connected"] = false;
    j["state"] = r.status_error.empty() ? "never ran" : "unreadable status";
    if (!r.status_error.empty()) j["status_error"] = r.status_error;
  }
  return j;
}

std::string ago(int64_t then_ms, int64_t now_ms) {
  if (then_ms <= 0) return "never";
  double s = static_cast<double>(now_ms - then_ms) / 1000.0;
  return fmt::format("{:.1f} s ago", s < 0 ? 0.0 : s);
}

// "rolling since ...", "bootstrapping since ...: 37/120 users, ...",
// "failed since ...: why" (one line).
std::string phase_text(const ChannelReport& r, int64_t now_ms) {
  if (!r.phase) return "not recorded in mailboxes.db (rolls)";
  std::string out = fmt::format("{} since {}", store::channel_phase_name(r.phase->phase),
                                ago(r.phase->since, now_ms));
  if (r.progress) out += ": " + eta_text(*r.progress);
  if (!r.phase->reason.empty()) out += (r.progress ? "; " : ": ") + r.phase->reason;
  return out;
}

}  // namespace

std::string reports_json(const std::vector<ChannelReport>& reports) {
  json list = json::array();
  for (const auto& r : reports) list.push_back(report_object(r));
  return json{{"channels", list}}.dump() + "\n";
}

std::string reports_text(const std::vector<ChannelReport>& reports, int64_t now_ms) {
  std::string out;
  for (const auto& r : reports) {
    json j = report_object(r);
    out += fmt::format("channel {}\n", r.channel.empty() ? "\"\"" : r.channel);
    out += fmt::format("  replication  {}\n", phase_text(r, now_ms));
    out += fmt::format("  client       {}\n", r.client_alive
                                                  ? fmt::format("running (pid {})", r.status->pid)
                                                  : std::string("not running"));
    out += fmt::format("  state        {}\n", j["state"].get<std::string>());
    if (r.status && !r.status->replica.empty())
      out += fmt::format("  replica      {}\n", r.status->replica);
    out += fmt::format("  connected    {}\n", j["connected"].get<bool>() ? "yes" : "no");
    out += fmt::format("  backlog      {} lines, oldest {}\n", r.backlog_lines,
                       r.oldest_age_ms < 0
                           ? std::string("-")
                           : fmt::format("{:.1f} s", static_cast<double>(r.oldest_age_ms) / 1000));
    out +=
        fmt::format("  lag          {:.1f} s\n", static_cast<double>(replication_lag_ms(r)) / 1000);
    if (r.status) {
      out += fmt::format("  last success {}\n", ago(r.status->last_success, now_ms));
      out += fmt::format(
          "  last batch   {}\n",
          r.status->last_lag_ms < 0
              ? std::string("-")
              : fmt::format("applied {} ms after its oldest line", r.status->last_lag_ms));
      if (!r.status->last_error.empty())
        out += fmt::format("  last error   {} ({})\n", r.status->last_error,
                           ago(r.status->last_error_time, now_ms));
      out += fmt::format("  applied      {} lines in {} batches\n", r.status->lines_applied,
                         r.status->batches);
    } else if (!r.status_error.empty()) {
      out += fmt::format("  status       {}\n", r.status_error);
    }
    out += fmt::format("  bootstrap    {}\n", r.bootstrap);
  }
  return out;
}

}  // namespace replimail::sync
