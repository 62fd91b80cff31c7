#include "search/rolling.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "common/fs.h"
#include "synclog/log_watch.h"
#include "synclog/reader.h"
#include "synclog/synclog.h"

namespace replimail::search {
namespace {

void sort_unique(std::vector<std::string>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

constexpr auto kPollNet = std::chrono::seconds(1);

// Size of the file at `path`, 0 if it does not exist.
off_t file_size(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}
constexpr auto kLockedRetry = std::chrono::milliseconds(200);

}  // namespace

LogWork work_from_lines(const std::vector<synclog::Line>& lines) {
  LogWork w;
  for (const synclog::Line& l : lines) {
    if (l.args.empty()) continue;
    if (l.keyword == "APPEND" || l.keyword == "MAILBOX") {
      w.mailboxes.push_back(l.args[0]);
    } else if (l.keyword == "USER") {
      w.users.push_back(l.args[0]);
    }
  }
  sort_unique(w.users);
  sort_unique(w.mailboxes);
  return w;
}

PassResult process_work(store::Instance& instance, const LogWork& work, bool block,
                        std::chrono::milliseconds pause) {
  Indexer indexer(instance, block);
  PassResult out;
  bool first = true;
  auto between = [&] {
    if (!first && pause.count() > 0) std::this_thread::sleep_for(pause);
    first = false;
  };
  for (const std::string& user : work.users) {
    between();
    auto r = indexer.index_user(user, true);
    if (r.ok()) {
      out.stats += *r;
    } else if (r.status().code() == Code::kMailboxLocked) {
      out.requeued.push_back(user);
    } else {
      spdlog::error("squatter: user {}: {}", user, r.status().to_string());
      out.failed++;
    }
  }
  for (const std::string& name : work.mailboxes) {
    between();
    auto r = indexer.index_mailbox(name, true);
    if (r.ok()) {
      out.stats += *r;
    } else if (r.status().code() == Code::kMailboxLocked) {
      out.requeued.push_back(name);
    } else if (r.status().code() == Code::kMailboxNonexistent) {
      spdlog::debug("squatter: {} no longer exists", name);
    } else {
      spdlog::error("squatter: {}: {}", name, r.status().to_string());
      out.failed++;
    }
  }
  return out;
}

RollingSquatter::RollingSquatter(store::Instance& instance, std::string channel,
                                 std::chrono::milliseconds pause)
    : instance_(instance), channel_(std::move(channel)), pause_(pause) {}

Result<PassResult> RollingSquatter::run_once() {
  const std::string confdir = instance_.config().configdirectory();
  auto reader = synclog::LogReader::for_channel(confdir, channel_);
  Status s = reader.begin();
  if (!s) return s;
  LogWork work = work_from_lines(reader.lines());
  PassResult r = process_work(instance_, work, false, pause_);
  r.lines = reader.lines().size();
  if (!r.requeued.empty()) {
    // Back on the channel under the keyword that named them, for the next
    // pass (after the current writer is done).
    std::string text;
    for (const std::string& name : r.requeued) {
      bool user = std::binary_search(work.users.begin(), work.users.end(), name);
      auto line = synclog::format_line({user ? "USER" : "APPEND", {name}});
      if (line.ok()) text += *line;
    }
    Status a = synclog::append_lines(synclog::log_path(confdir, channel_), text);
    if (!a) return a;
  }
  Status e = reader.end();
  if (!e) return e;
  if (r.stats.mailboxes > 0) {
    spdlog::info("squatter: indexed {} mailbox(es): {} new, {} linked, {} removed",
                 r.stats.mailboxes, r.stats.indexed, r.stats.linked, r.stats.removed);
  }
  return r;
}

Status RollingSquatter::bootstrap_if_needed(const std::atomic<bool>& stop) {
  if (std::chrono::steady_clock::now() < next_bootstrap_) return Status(Code::kAgain, "later");
  auto& mbl = instance_.mailboxes();
  auto state = mbl.channel_state(channel_);
  if (!state.ok()) return state.status();
  if (!*state || (*state)->phase != store::ChannelPhase::kBootstrapping) return Status::success();
  const auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  // Whoever recorded the channel logs to it right after (store/channels.h).
  for (int64_t left = (*state)->since + 1000 - now_ms(); left > 0 && !stop.load();
       left = (*state)->since + 1000 - now_ms())
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(left, 100)));
  auto users = mbl.users();
  if (!users.ok()) return users.status();
  users->push_back("");  // the shared mailboxes
  spdlog::info("squatter: channel {} is bootstrapping: indexing {} user(s)", channel_,
               users->size() - 1);
  Indexer indexer(instance_, true);
  Status first;
  for (const auto& u : *users) {
    if (stop.load()) return Status(Code::kAgain, "stopped");
    auto r = indexer.index_user(u, true);
    if (!r.ok() && first)
      first = Status(r.status().code(),
                     fmt::format("user {}: {}", u.empty() ? "-" : u, r.status().to_string()));
    if (pause_.count() > 0) std::this_thread::sleep_for(pause_);
  }
  if (!first) {
    next_bootstrap_ = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    Status s = mbl.set_channel_state(channel_, store::ChannelPhase::kBootstrapping,
                                     "retrying in a minute: " + first.to_string(), now_ms());
    return s ? first : s;
  }
  spdlog::info("squatter: channel {} bootstrapped; rolling", channel_);
  return mbl.set_channel_state(channel_, store::ChannelPhase::kRolling, "", now_ms());
}

Status RollingSquatter::run(const std::atomic<bool>& stop) {
  const std::string confdir = instance_.config().configdirectory();
  const std::string log = synclog::log_path(confdir, channel_);
  const std::string dir = fs::dirname(log);
  const std::string shutdown = confdir + "/msg/shutdown";
  Status made = fs::make_dirs(dir);
  if (!made) return made;
  synclog::LogDirWatch watch(dir);
  if (!watch.ok())
    spdlog::warn("squatter: no inotify on {} ({}); polling every second", dir, watch.error());
  spdlog::info("squatter: rolling on channel {} ({})", channel_, log);
  while (!stop.load()) {
    if (fs::exists(shutdown)) {
      spdlog::info("squatter: {} exists; exiting", shutdown);
      break;
    }
    Status boot = bootstrap_if_needed(stop);
    if (!boot && boot.code() != Code::kAgain)
      spdlog::error("squatter: channel {}: bootstrap: {}", channel_, boot.to_string());
    if (!boot) {
      // Bootstrapping: the log waits for it; a stop is seen at the loop's top.
      std::this_thread::sleep_for(kPollNet);
      continue;
    }
    // Drain inotify events before the pass, so a write during the pass
    // wakes the next wait.
    watch.drain();
    // A log that exists but is still empty was just created by a writer
    // that has yet to lock and check it: taking it over now would make the
    // writer retry, and a loop doing so forever would starve it. Its write
    // wakes us.
    Result<PassResult> r = Status(Code::kAgain, "empty log");
    if (fs::exists(log + "-run") || file_size(log) > 0) r = run_once();
    if (observer_ && (r.ok() || r.status().code() != Code::kAgain)) observer_(r);
    if (r.ok() && r->requeued.empty()) continue;  // there may be more already
    if (r.ok()) {
      // Another process holds an index: give it time before retrying.
      std::this_thread::sleep_for(kLockedRetry);
      continue;
    }
    if (r.status().code() != Code::kAgain) {
      spdlog::error("squatter: channel {}: {}", channel_, r.status().to_string());
    }
    watch.wait(std::chrono::duration_cast<std::chrono::milliseconds>(kPollNet));
  }
  return Status::success();
}

}  // namespace replimail::search
