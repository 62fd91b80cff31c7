#include "cluster/replica_feed.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <set>
#include <thread>

#include "cluster/failover.h"
#include "common/fs.h"

namespace replimail::cluster {
namespace {

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// The key a user's copy on `replica` should have now (since: now).
ReplicaBootstrap state_of(const FeedView& v, const UserEntry& u, const std::string& replica,
                          std::set<std::string>& adding, FeedPlan& plan) {
  ReplicaBootstrap b{u.user, replica, BootstrapState::kPending, v.now, ""};
  const std::string channel = channel_for_slot(replica);
  auto member = v.members.find(replica);
  const std::string address = member == v.members.end() ? "" : sync_address(member->second);
  auto c = v.channels.find(channel);
  if (c == v.channels.end() && address.empty()) {
    b.reason = fmt::format("slot {} has no known sync_server address (never registered)", replica);
  } else if (c == v.channels.end() && member->second.role != "replica") {
    // A primary-role instance serves users of its own: feeding it this
    // whole instance would mix them (a move leaves its source named so).
    b.reason = fmt::format("slot {} is registered with role {}: not fed by placement", replica,
                           member->second.role);
  } else if (c == v.channels.end() && v.failing_over) {
    b.reason = fmt::format("slot {} is being failed over: no channel added", v.slot);
  } else if (c == v.channels.end() || (!address.empty() && c->second.sync_address != address)) {
    if (adding.insert(channel).second) plan.add.push_back({replica, channel, address});
    auto failed = v.add_failed.find(channel);
    b.reason = failed != v.add_failed.end()
                   ? fmt::format("adding channel {} failed: {}", channel, failed->second)
                   : fmt::format("channel {} to {} being added", channel, address);
  } else if (!c->second.phase) {
    b.reason = fmt::format("channel {} not recorded yet (master not signalled?)", channel);
  } else {
    switch (c->second.phase->phase) {
      case store::ChannelPhase::kBootstrapping:
        b.state = BootstrapState::kBootstrapping;
        break;
      case store::ChannelPhase::kRolling:
        b.state = BootstrapState::kRolling;
        break;
      case store::ChannelPhase::kFailed:
        b.state = BootstrapState::kFailed;
        b.reason = first_line(c->second.phase->reason);
        break;
    }
  }
  return b;
}

// The owned channels to remove (present, named by no user of this slot)
// and to forget (gone already).
void plan_drops(const FeedView& v, FeedPlan& plan) {
  std::set<std::string> needed;
  for (const UserEntry& u : v.users)
    if (u.primary == v.slot)
      for (const std::string& r : u.replicas) needed.insert(channel_for_slot(r));
  for (const std::string& c : v.owned) {
    if (!v.channels.contains(c)) {
      // A promotion of this slot records its channels before it adds
      // them: one not there yet is not forgotten meanwhile.
      if (!v.being_promoted) plan.disown.push_back(c);
    } else if (!needed.contains(c) && !v.failing_over && !v.being_promoted) {
      plan.drop.push_back(c);
    }
  }
}

}  // namespace

FeedPlan plan_feed(const FeedView& v) {
  FeedPlan plan;
  std::map<std::pair<std::string, std::string>, const ReplicaBootstrap*> have;
  for (const ReplicaBootstrap& k : v.keys) have[{k.user, k.slot}] = &k;
  std::set<std::string> adding;
  std::map<std::string, const UserEntry*> mine;
  for (const UserEntry& u : v.users) {
    if (u.primary != v.slot) continue;
    mine[u.user] = &u;
    for (const std::string& r : u.replicas) {
      ReplicaBootstrap b = state_of(v, u, r, adding, plan);
      auto h = have.find({u.user, r});
      if (h != have.end() && h->second->state == b.state) {
        if (h->second->reason == b.reason) continue;
        b.since = h->second->since;
      }
      plan.put.push_back(std::move(b));
    }
  }
  for (const ReplicaBootstrap& k : v.keys) {
    auto u = mine.find(k.user);
    if (u == mine.end()) continue;  // another primary's user, or gone
    const std::vector<std::string>& r = u->second->replicas;
    if (std::find(r.begin(), r.end(), k.slot) == r.end()) plan.remove.emplace_back(k.user, k.slot);
  }
  plan_drops(v, plan);
  return plan;
}

ReplicaFeeder::ReplicaFeeder(Directory& dir, std::string slot, Hooks hooks)
    : dir_(dir), slot_(std::move(slot)), hooks_(std::move(hooks)) {}

void ReplicaFeeder::run(const std::atomic<bool>& stop, std::chrono::milliseconds period) {
  std::string last_error;
  while (!stop.load()) {
    Status s = round();
    std::string error = s.is_ok() ? "" : s.to_string();
    if (error != last_error && !error.empty())
      spdlog::warn("clusterd: feeding replicas of slot {}: {}", slot_, error);
    last_error = error;
    for (auto waited = std::chrono::milliseconds(0); waited < period && !stop.load();
         waited += std::chrono::milliseconds(50))
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

Result<FeedView> ReplicaFeeder::read_view() {
  FeedView v;
  v.slot = slot_;
  v.now = static_cast<int64_t>(std::time(nullptr));
  auto users = dir_.users();
  if (!users.ok()) return users.status();
  v.users = std::move(*users);
  auto owned = hooks_.owned();
  if (!owned.ok()) return owned.status();
  v.owned = std::move(*owned);
  if (v.owned.empty() && std::none_of(v.users.begin(), v.users.end(),
                                      [&](const UserEntry& u) { return u.primary == slot_; }))
    return v;  // primary of no one, owning no channel: nothing to do
  const KeyLayout& layout = dir_.layout();
  auto members = dir_.members();
  if (!members.ok()) return members.status();
  v.members = std::move(*members);
  auto commands = dir_.etcd().get_prefix(layout.commands_prefix());
  if (!commands.ok()) return commands.status();
  const std::string promote = "/" + promote_command_name(slot_);
  const std::string mine = layout.command_key(slot_, "promote-");
  for (const KeyValue& kv : commands->kvs) {
    const std::string& k = kv.key;
    if (k == layout.command_key(slot_, kRejoinCommand) ||
        (k.size() > promote.size() &&
         k.compare(k.size() - promote.size(), promote.size(), promote) == 0))
      v.failing_over = true;
    if (k.rfind(mine, 0) == 0) v.being_promoted = true;
  }
  auto keys = dir_.etcd().get_prefix(layout.bootstrap_prefix());
  if (!keys.ok()) return keys.status();
  for (const KeyValue& kv : keys->kvs) {
    auto parsed = layout.parse(kv.key);
    if (!parsed || parsed->kind != KeyLayout::Parsed::Kind::kBootstrap) continue;
    // A key that does not decode is written again (its state unknown).
    if (auto b = decode_bootstrap(parsed->user, parsed->slot, kv.value); b.ok())
      v.keys.push_back(std::move(*b));
  }
  auto channels = hooks_.channels();
  if (!channels.ok()) return channels.status();
  v.channels = std::move(*channels);
  v.add_failed = add_failed_;
  return v;
}

Status ReplicaFeeder::round() {
  auto view = read_view();
  if (!view.ok()) return view.status();
  FeedPlan plan = plan_feed(*view);
  if (!plan.add.empty()) {
    if (Status s = add(*view, plan); !s.is_ok()) return s;
    plan = plan_feed(*view);
  }
  Status dropped = drop(plan);
  Status keys = write_keys(plan);
  return dropped.is_ok() ? keys : dropped;
}

Status ReplicaFeeder::add(FeedView& view, const FeedPlan& plan) {
  // Owned before it exists: a crash in between leaves a record of a
  // channel that is not there, forgotten by the next round.
  std::set<std::string> own;
  for (const FeedTarget& t : plan.add) own.insert(t.channel);
  if (Status s = hooks_.update_owned(own, {}); !s.is_ok()) return s;
  view.owned.insert(own.begin(), own.end());
  Status added = hooks_.add_channels(plan.add);
  for (const FeedTarget& t : plan.add) {
    if (added.is_ok()) {
      add_failed_.erase(t.channel);
      spdlog::info("clusterd: slot {} feeds replica slot {} on channel {} ({})", slot_, t.slot,
                   t.channel, t.sync_address);
    } else {
      add_failed_[t.channel] = first_line(added.message());
    }
  }
  if (!added.is_ok())
    spdlog::error("clusterd: slot {}: adding channels failed: {}", slot_, added.to_string());
  // The keys from the channels as they are now.
  auto channels = hooks_.channels();
  if (!channels.ok()) return channels.status();
  view.channels = std::move(*channels);
  view.add_failed = add_failed_;
  return Status::success();
}

Status ReplicaFeeder::drop(const FeedPlan& plan) {
  if (plan.drop.empty() && plan.disown.empty()) return Status::success();
  std::set<std::string> disown(plan.disown.begin(), plan.disown.end());
  Status removed = Status::success();
  if (!plan.drop.empty()) {
    removed = hooks_.remove_channels(plan.drop);
    if (removed.is_ok()) {
      for (const std::string& c : plan.drop) {
        disown.insert(c);
        spdlog::info(
            "clusterd: slot {}: channel {} removed: no user of this slot is placed on "
            "its replica slot any more",
            slot_, c);
      }
    } else {
      spdlog::error("clusterd: slot {}: removing channels failed: {}", slot_, removed.to_string());
    }
  }
  Status kept = disown.empty() ? Status::success() : hooks_.update_owned({}, disown);
  return removed.is_ok() ? kept : removed;
}

Status ReplicaFeeder::write_keys(const FeedPlan& plan) {
  Status first = Status::success();
  for (const ReplicaBootstrap& b : plan.put) {
    Status s = dir_.put_bootstrap(b);
    if (!s.is_ok() && first.is_ok()) first = s;
  }
  for (const auto& [user, slot] : plan.remove) {
    auto r = dir_.etcd().erase(dir_.layout().bootstrap_key(user, slot));
    if (!r.ok() && first.is_ok()) first = r.status();
  }
  return first;
}

std::string owned_channels_path(const std::string& configdirectory) {
  return configdirectory + "/clusterd.channels";
}

Result<std::set<std::string>> read_owned_channels(const std::string& path) {
  std::set<std::string> out;
  if (!fs::exists(path)) return out;
  auto text = fs::read_file(path);
  if (!text.ok()) return text.status();
  size_t start = 0;
  while (start < text->size()) {
    size_t end = text->find('\n', start);
    if (end == std::string::npos) end = text->size();
    if (end > start) out.insert(text->substr(start, end - start));
    start = end + 1;
  }
  return out;
}

Status write_owned_channels(const std::string& path, const std::set<std::string>& channels) {
  std::string text;
  for (const std::string& c : channels) text += c + "\n";
  return fs::write_file_atomic(path, text);
}

Status update_owned_channels(const std::string& path, const std::set<std::string>& own,
                             const std::set<std::string>& disown) {
  auto had = read_owned_channels(path);
  if (!had.ok()) return had.status();
  std::set<std::string> now = *had;
  now.insert(own.begin(), own.end());
  for (const std::string& c : disown) now.erase(c);
  return now == *had ? Status::success() : write_owned_channels(path, now);
}

}  // namespace replimail::cluster
