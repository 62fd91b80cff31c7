#include "synclog/logd.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <optional>

namespace replimail::synclog {

namespace {

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string shown(const std::string& channel) {
  return channel.empty() ? "\"\" (default)" : channel;
}

// -1 if the file is not there.
long count_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return -1;
  long n = 0;
  char buf[65536];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    n += std::count(buf, buf + in.gcount(), '\n');
    if (!in) break;
  }
  return n;
}

}  // namespace

ChannelSet ChannelSet::from_config(const Config& cfg) {
  ChannelSet cs;
  cs.enabled = cfg.get_bool("sync_log");
  cs.channels = parse_channel_list(cfg.get("sync_log_channels"));
  if (cs.channels.empty()) cs.channels.push_back("");
  cs.unsuppressable = parse_channel_list(cfg.get("sync_log_unsuppressable_channels"));
  return cs;
}

std::vector<std::string> ChannelSet::targets(bool suppressed) const {
  if (!enabled) return {};
  if (!suppressed) return channels;
  std::vector<std::string> out;
  for (const auto& c : channels)
    if (contains(unsuppressable, c)) out.push_back(c);
  return out;
}

std::string describe_pending_logs(const std::string& configdirectory, const std::string& channel) {
  std::string out;
  const std::string log = log_path(configdirectory, channel);
  for (const std::string& path : {log, log + "-run"}) {
    long n = count_lines(path);
    if (n < 0) continue;
    if (!out.empty()) out += ", ";
    out += fmt::format("{} ({} lines)", path, n);
  }
  return out;
}

LogDaemon::LogDaemon(std::string configdirectory, ChannelSet channels, LogdOptions options)
    : confdir_(std::move(configdirectory)), options_(options), channels_(std::move(channels)) {}

Result<std::unique_ptr<LogDaemon>> LogDaemon::open(const std::string& configdirectory,
                                                   ChannelSet channels, LogdOptions options) {
  std::unique_ptr<LogDaemon> d(new LogDaemon(configdirectory, std::move(channels), options));
  auto left = d->journal_.open(configdirectory + "/sync/journal");
  if (!left.ok()) return left.status();
  if (Status s = d->replay(*left); !s) return s;
  d->committer_ = std::thread([p = d.get()] { p->commit_loop(); });
  d->fanout_ = std::thread([p = d.get()] { p->fanout_loop(); });
  return d;
}

LogDaemon::~LogDaemon() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
  }
  commit_cv_.notify_all();
  fanout_cv_.notify_all();
  if (committer_.joinable()) committer_.join();
  if (fanout_.joinable()) fanout_.join();
}

Status LogDaemon::replay(const std::vector<JournalEntry>& entries) {
  if (entries.empty()) return Status::success();
  // Per channel, the lines in journal order, one append each.
  std::vector<std::pair<std::string, std::string>> text;
  for (const auto& e : entries) {
    for (const auto& c : e.channels) {
      auto it = std::find_if(text.begin(), text.end(), [&](const auto& p) { return p.first == c; });
      if (it == text.end()) {
        text.emplace_back(c, e.lines);
      } else {
        it->second += e.lines;
      }
    }
  }
  for (const auto& [channel, lines] : text) {
    if (Status s = logs_.append(log_path(confdir_, channel), lines); !s) return s;
  }
  if (Status s = logs_.flush(); !s) return s;
  spdlog::info("sync_logd: replayed {} journaled entries into {} channel logs", entries.size(),
               text.size());
  stats_.replayed = entries.size();
  stats_.log_fsyncs = logs_.fsyncs();
  return journal_.clear();
}

Result<uint64_t> LogDaemon::submit(bool suppressed, std::string lines, uint64_t owner) {
  Request r;
  std::unique_lock<std::mutex> lk(mu_);
  if (broken_) return Status(Code::kIoError, "the journal failed");
  if (stopping_) return Status(Code::kIoError, "shutting down");
  std::vector<std::string> targets = channels_.targets(suppressed);
  if (targets.empty()) return uint64_t{0};
  Entry e;
  e.owner = owner;
  e.data.channels = targets;
  e.data.lines = std::move(lines);
  e.unwritten = std::move(targets);
  r.record = encode_record(e.data);
  r.id = next_id_++;
  entries_.emplace(r.id, std::move(e));
  submitted_.push_back(&r);
  commit_cv_.notify_one();
  durable_cv_.wait(lk, [&] { return r.finished; });
  if (!r.result) return r.result;
  return r.id;
}

void LogDaemon::commit_loop() {
  for (;;) {
    std::deque<Request*> batch;
    {
      std::unique_lock<std::mutex> lk(mu_);
      commit_cv_.wait(lk, [&] { return !submitted_.empty() || stopping_; });
      if (submitted_.empty()) return;
      batch.swap(submitted_);
    }
    // Whatever arrived while the previous fsync ran goes out in one write
    // and one fsync.
    std::string records;
    for (const Request* r : batch) records += r->record;
    {
      std::lock_guard<std::mutex> jl(journal_mu_);
      Status s = journal_.append(records);
      std::lock_guard<std::mutex> lk(mu_);
      ++stats_.journal_syncs;
      if (!s) {
        if (!broken_) spdlog::error("sync_logd: journal: {}", s.to_string());
        broken_ = true;
      }
      for (Request* r : batch) {
        auto it = entries_.find(r->id);
        if (s) {
          it->second.state = Entry::State::kJournaled;
          ++stats_.accepted;
        } else {
          entries_.erase(it);
        }
        r->result = s;
        r->finished = true;
      }
    }
    durable_cv_.notify_all();
  }
}

void LogDaemon::done(uint64_t id) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.state != Entry::State::kJournaled) return;
  it->second.state = Entry::State::kReleased;
  released_.push_back(id);
  fanout_cv_.notify_one();
}

void LogDaemon::owner_closed(uint64_t owner) {
  std::lock_guard<std::mutex> lk(mu_);
  for (auto& [id, e] : entries_) {
    if (e.owner != owner || e.state != Entry::State::kJournaled) continue;
    e.state = Entry::State::kReleased;
    released_.push_back(id);
  }
  fanout_cv_.notify_one();
}

bool LogDaemon::drain(std::chrono::milliseconds limit) {
  std::unique_lock<std::mutex> lk(mu_);
  const uint64_t upto = next_id_ - 1;
  return written_cv_.wait_for(lk, limit, [&] {
    for (const auto& [id, e] : entries_) {
      if (id > upto) break;
      if (e.state != Entry::State::kWritten) return false;
    }
    return true;
  });
}

bool LogDaemon::wait_written(uint64_t id, std::chrono::milliseconds limit,
                             std::map<std::string, LinePosition>* positions) {
  std::unique_lock<std::mutex> lk(mu_);
  const bool written = written_cv_.wait_for(lk, limit, [&] {
    auto it = entries_.find(id);
    return it == entries_.end() || it->second.state == Entry::State::kWritten;
  });
  if (written && positions != nullptr) {
    auto it = entries_.find(id);
    if (it != entries_.end()) *positions = it->second.positions;
  }
  return written;
}

void LogDaemon::write_released() {
  std::vector<uint64_t> ids;
  std::vector<std::pair<std::string, std::string>> text;
  {
    std::lock_guard<std::mutex> lk(mu_);
    ids.assign(released_.begin(), released_.end());
    released_.clear();
    for (uint64_t id : ids) {
      const Entry& e = entries_.at(id);
      for (const auto& c : e.unwritten) {
        auto it =
            std::find_if(text.begin(), text.end(), [&](const auto& p) { return p.first == c; });
        if (it == text.end()) {
          text.emplace_back(c, e.data.lines);
        } else {
          it->second += e.data.lines;
        }
      }
    }
  }
  if (ids.empty()) return;
  std::vector<std::string> failed;
  // Where each channel's lines went, read as they were appended: writers
  // that wait for replicas wait for exactly that (synclog/applied.h).
  std::map<std::string, LinePosition> at;
  for (const auto& [channel, lines] : text) {
    std::optional<LinePosition> position;
    if (Status s = logs_.append(log_path(confdir_, channel), lines, &position); !s) {
      spdlog::error("sync_logd: cannot write channel {}'s log, retrying: {}", shown(channel),
                    s.to_string());
      failed.push_back(channel);
    } else if (position) {
      at[channel] = *position;
    }
  }
  std::lock_guard<std::mutex> lk(mu_);
  for (uint64_t id : ids) {
    Entry& e = entries_.at(id);
    for (const auto& c : e.unwritten) {
      auto p = at.find(c);
      if (p != at.end()) e.positions[c] = p->second;
    }
    std::erase_if(e.unwritten, [&](const std::string& c) { return !contains(failed, c); });
    if (e.unwritten.empty()) {
      e.state = Entry::State::kWritten;
      written_.push_back(id);
    } else {
      retry_.push_back(id);
    }
  }
  written_cv_.notify_all();
}

Status LogDaemon::flush_written() {
  Status s = logs_.flush();
  {
    std::lock_guard<std::mutex> lk(mu_);
    ++stats_.checkpoints;
    stats_.log_fsyncs = logs_.fsyncs();
    for (uint64_t id : written_) {
      if (s) {
        entries_.erase(id);
        continue;
      }
      // Which file lost what is unknown: all of them again (duplicates in
      // the logs that were fine are harmless).
      Entry& e = entries_.at(id);
      e.unwritten = e.data.channels;
      e.state = Entry::State::kReleased;
      retry_.push_back(id);
    }
    written_.clear();
  }
  if (!s) {
    spdlog::error("sync_logd: cannot flush channel logs, rewriting: {}", s.to_string());
    return s;
  }
  std::lock_guard<std::mutex> jl(journal_mu_);
  std::lock_guard<std::mutex> lk(mu_);
  // Under steady load some entry is always held, so the journal is
  // rewritten with the held ones only once the entries already gone make
  // up most of it: what a replay duplicates stays small.
  std::string records;
  bool held = false;
  for (const auto& [id, e] : entries_) {
    if (e.state == Entry::State::kSubmitted) continue;
    held = true;
    records += encode_record(e.data);
  }
  if (!held && journal_.size() > 0) {
    s = journal_.clear();
  } else if (journal_.size() >
             std::max<uint64_t>(options_.journal_rewrite_bytes, 2 * records.size())) {
    s = journal_.rewrite(records);
  }
  if (!s) {
    spdlog::error("sync_logd: journal: {}", s.to_string());
    broken_ = true;
  }
  return s;
}

void LogDaemon::fanout_loop() {
  auto next_checkpoint = std::chrono::steady_clock::now() + options_.checkpoint_interval;
  for (;;) {
    bool stop;
    {
      std::unique_lock<std::mutex> lk(mu_);
      fanout_cv_.wait_for(lk, options_.checkpoint_interval,
                          [&] { return !released_.empty() || stopping_; });
      stop = stopping_;
    }
    std::lock_guard<std::mutex> fl(fanout_mu_);
    write_released();
    auto now = std::chrono::steady_clock::now();
    if (now >= next_checkpoint || stop) {
      {
        std::lock_guard<std::mutex> lk(mu_);
        released_.insert(released_.end(), retry_.begin(), retry_.end());
        retry_.clear();
      }
      write_released();
      bool dirty;
      {
        std::lock_guard<std::mutex> lk(mu_);
        dirty = !written_.empty();
      }
      if (dirty) (void)flush_written();
      next_checkpoint = now + options_.checkpoint_interval;
    }
    if (stop) return;
  }
}

Status LogDaemon::checkpoint() {
  std::lock_guard<std::mutex> fl(fanout_mu_);
  {
    std::lock_guard<std::mutex> lk(mu_);
    released_.insert(released_.end(), retry_.begin(), retry_.end());
    retry_.clear();
  }
  write_released();
  return flush_written();
}

void LogDaemon::reconfigure(ChannelSet cs) {
  std::vector<std::string> added, removed;
  {
    std::lock_guard<std::mutex> lk(mu_);
    std::vector<std::string> before = channels_.targets(false);
    std::vector<std::string> after = cs.targets(false);
    for (const auto& c : after)
      if (!contains(before, c)) added.push_back(c);
    for (const auto& c : before)
      if (!contains(after, c)) removed.push_back(c);
    channels_ = std::move(cs);
  }
  for (const auto& c : removed) {
    std::string pending = describe_pending_logs(confdir_, c);
    spdlog::warn("sync_logd: channel {} is no longer logged; its pending logs are kept: {}",
                 shown(c), pending.empty() ? "none" : pending);
  }
  if (added.empty()) return;
  std::string names;
  // Not `(names.empty() ? "" : " ") + shown(c)`: GCC 12 -O3's false -Wrestrict.
  for (const auto& c : added) {
    if (!names.empty()) names += ' ';
    names += shown(c);
  }
  spdlog::info("sync_logd: channel(s) added: {}; logged from the next change on", names);
}

ChannelSet LogDaemon::channels() const {
  std::lock_guard<std::mutex> lk(mu_);
  return channels_;
}

bool LogDaemon::broken() const {
  std::lock_guard<std::mutex> lk(mu_);
  return broken_;
}

LogdStats LogDaemon::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  return stats_;
}

}  // namespace replimail::synclog
