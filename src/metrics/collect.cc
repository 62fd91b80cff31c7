#include "metrics/collect.h"

#include <dirent.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <iterator>

#include "common/fs.h"
#include "common/stats.h"
#include "store/mboxlist.h"

namespace replimail::metrics {
namespace {

using exposition::Family;
using exposition::Labels;
using exposition::Sample;
using exposition::Type;

std::string retired_path(const std::string& dir) { return dir + "/retired"; }

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno != ENOENT) spdlog::warn("stats: {}: {}", dir, std::strerror(errno));
    return names;
  }
  while (struct dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
  ::closedir(d);
  return names;
}

}  // namespace

std::string format_retired(const std::map<std::string, uint64_t>& totals,
                           const std::map<std::string, std::string>& help) {
  std::string out;
  for (const auto& [family, text] : help)
    fmt::format_to(std::back_inserter(out), "# {} {}\n", family, text);
  for (const auto& [series, value] : totals)
    fmt::format_to(std::back_inserter(out), "{} {}\n", series, value);
  return out;
}

Status parse_retired(std::string_view text, std::map<std::string, uint64_t>* totals,
                     std::map<std::string, std::string>* help) {
  size_t lineno = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++lineno;
    if (line.empty()) continue;
    if (line.starts_with("# ")) {
      line.remove_prefix(2);
      size_t sp = line.find(' ');
      if (sp == std::string_view::npos) continue;
      (*help)[std::string(line.substr(0, sp))] = std::string(line.substr(sp + 1));
      continue;
    }
    size_t sp = line.rfind(' ');
    uint64_t value = 0;
    auto [end, ec] = sp == std::string_view::npos
                         ? std::from_chars_result{line.data(), std::errc::invalid_argument}
                         : std::from_chars(line.data() + sp + 1, line.data() + line.size(), value);
    if (ec != std::errc() || end != line.data() + line.size() || sp == 0) {
      return Status(Code::kInvalidArgument,
                    "line " + std::to_string(lineno) + ": not \"<series> <value>\"");
    }
    (*totals)[std::string(line.substr(0, sp))] += value;
  }
  return Status::success();
}

Status StatsAggregator::load() {
  const std::string path = retired_path(dir_);
  if (!fs::exists(path)) return Status::success();
  auto text = fs::read_file(path);
  if (!text.ok()) return text.status();
  Status st = parse_retired(*text, &retired_, &help_);
  if (!st.is_ok()) return Status(st.code(), path + ": " + st.message());
  return st;
}

Status StatsAggregator::save_retired() const {
  return fs::write_file_atomic(retired_path(dir_), format_retired(retired_, help_), 0640);
}

std::vector<Family> StatsAggregator::collect() {
  struct Sum {
    Type type;
    double value = 0;
  };
  std::map<std::string, Sum> live;  // series -> sum over live processes
  std::vector<std::string> dead;
  for (const std::string& name : list_dir(dir_)) {
    const bool tmp = ends_with(name, ".tmp");
    if (!ends_with(name, ".stats") && !tmp) continue;
    const std::string path = dir_ + "/" + name;
    auto snap = stats::read_file(path);
    if (!snap.ok()) {
      // A .tmp is sized only after its creator locked it; one not ours to
      // judge yet is left for the next pass.
      if (!tmp) spdlog::warn("stats: {}", snap.status().to_string());
      continue;
    }
    if (tmp) {
      if (!snap->owner_alive) dead.push_back(path);  // its process died before renaming it
      continue;
    }
    for (const stats::Entry& e : snap->entries) {
      if (e.kind == stats::Kind::kHelp) {
        size_t sp = e.text.find(' ');
        if (sp != std::string::npos) help_.try_emplace(e.text.substr(0, sp), e.text.substr(sp + 1));
      } else if (snap->owner_alive) {
        Type type = e.kind == stats::Kind::kCounter ? Type::kCounter : Type::kGauge;
        Sum& s = live.try_emplace(e.text, Sum{type}).first->second;
        s.value += type == Type::kCounter ? static_cast<double>(e.value)
                                          : static_cast<double>(static_cast<int64_t>(e.value));
      } else if (e.kind == stats::Kind::kCounter) {
        retired_[e.text] += e.value;
      }
    }
    if (!snap->owner_alive) dead.push_back(path);
  }
  if (!dead.empty()) {
    // The totals are on disk before the files they came from go: a crash in
    // between counts a process twice, never loses it.
    Status st = save_retired();
    if (!st.is_ok()) {
      spdlog::error("stats: {}", st.to_string());
    } else {
      for (const std::string& path : dead) ::unlink(path.c_str());
    }
  }
  for (const auto& [series, total] : retired_) {
    live.try_emplace(series, Sum{Type::kCounter}).first->second.value += static_cast<double>(total);
  }
  std::map<std::string, Family> families;
  for (const auto& [series, sum] : live) {
    std::string name(exposition::family_of(series));
    Family& f = families[name];
    if (f.name.empty()) {
      f.name = name;
      f.type = sum.type;
      if (auto h = help_.find(name); h != help_.end()) f.help = h->second;
    }
    f.samples.push_back(Sample{series, sum.value});
  }
  std::vector<Family> out;
  out.reserve(families.size());
  for (auto& [name, f] : families) out.push_back(std::move(f));
  return out;
}

namespace {

// The per-channel families, in the order channel_families() gives them.
enum ChannelFamily {
  kBacklog,
  kBacklogBytes,
  kOldestAge,
  kLag,
  kLastLag,
  kConnected,
  kClientUp,
  kApplied,
  kLastSuccess,
  kPhase,
  kUsersDone,
  kUsersTotal,
  kBootBytes,
  kEta,
  kChannelFamilies
};

struct FamilySpec {
  const char* name;
  const char* help;
  Type type;
};

constexpr FamilySpec kChannelSpecs[kChannelFamilies] = {
    {"replimail_channel_backlog_lines", "Lines waiting in the channel's sync log (log-run + log).",
     Type::kGauge},
    {"replimail_channel_backlog_bytes", "Bytes waiting in the channel's sync log.", Type::kGauge},
    {"replimail_channel_oldest_line_age_seconds",
     "Age of the oldest pending sync log file (0 without a backlog).", Type::kGauge},
    {"replimail_channel_lag_seconds", "Replication lag: the age of the oldest unreplicated line.",
     Type::kGauge},
    {"replimail_channel_last_batch_lag_seconds",
     "From the last applied log-run's oldest line being written to its being applied.",
     Type::kGauge},
    {"replimail_channel_connected",
     "1 if the channel's rolling sync_client is connected to its replica.", Type::kGauge},
    {"replimail_channel_client_up", "1 if the channel's rolling sync_client process is alive.",
     Type::kGauge},
    {"replimail_channel_lines_applied_total",
     "Log lines the channel's rolling sync_client applied since it started.", Type::kCounter},
    {"replimail_channel_last_success_timestamp_seconds",
     "When the channel's last batch was applied (unix time; 0: never).", Type::kGauge},
    {"replimail_channel_phase", "The channel's state in mailboxes.db: 1 for the current phase.",
     Type::kGauge},
    {"replimail_channel_bootstrap_users_done", "Users the running bootstrap has copied.",
     Type::kGauge},
    {"replimail_channel_bootstrap_users_total", "Users the running bootstrap copies.",
     Type::kGauge},
    {"replimail_channel_bootstrap_bytes", "Bytes the running bootstrap has uploaded.",
     Type::kGauge},
    {"replimail_channel_bootstrap_eta_seconds",
     "Estimated time left of the running bootstrap (-1: unknown).", Type::kGauge},
};

// A gauge in seconds from a count of milliseconds.
double seconds(int64_t ms) { return static_cast<double>(ms) / 1000.0; }

// One channel's samples, each into its family of `f`.
void add_channel_samples(const sync::ChannelReport& r, std::vector<Family>& f) {
  const Labels ch = {{"channel", r.channel}};
  auto add = [&](ChannelFamily i, double v) {
    f[i].samples.push_back(Sample{exposition::series(f[i].name, ch), v});
  };
  add(kBacklog, static_cast<double>(r.backlog_lines));
  add(kBacklogBytes, static_cast<double>(r.backlog_bytes));
  add(kOldestAge, r.backlog_lines == 0 ? 0.0 : seconds(std::max<int64_t>(0, r.oldest_age_ms)));
  add(kLag, seconds(sync::replication_lag_ms(r)));
  add(kClientUp, r.client_alive ? 1 : 0);
  if (r.status) {
    add(kConnected, r.client_alive && r.status->connected ? 1 : 0);
    add(kApplied, static_cast<double>(r.status->lines_applied));
    add(kLastSuccess, seconds(r.status->last_success));
    if (r.status->last_lag_ms >= 0) add(kLastLag, seconds(r.status->last_lag_ms));
  } else {
    add(kConnected, 0);
  }
  if (r.phase) {
    for (auto p : {store::ChannelPhase::kBootstrapping, store::ChannelPhase::kRolling,
                   store::ChannelPhase::kFailed}) {
      f[kPhase].samples.push_back(Sample{
          exposition::series(
              f[kPhase].name,
              {{"channel", r.channel}, {"phase", std::string(store::channel_phase_name(p))}}),
          r.phase->phase == p ? 1.0 : 0.0});
    }
  }
  if (r.progress) {
    add(kUsersDone, static_cast<double>(r.progress->done));
    add(kUsersTotal, static_cast<double>(r.progress->total));
    add(kBootBytes, static_cast<double>(r.progress->bytes));
    add(kEta, static_cast<double>(r.progress->eta_s));
  }
}

}  // namespace

std::vector<Family> channel_families(const std::vector<sync::ChannelReport>& reports) {
  std::vector<Family> out;
  for (const FamilySpec& spec : kChannelSpecs)
    out.push_back(Family{spec.name, spec.help, spec.type, {}});
  for (const sync::ChannelReport& r : reports) add_channel_samples(r, out);
  return out;
}

}  // namespace replimail::metrics
