#include "cluster/replica_feed.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <set>
#include <thread>

#include "cluster/failover.h"

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
  if (std::none_of(v.users.begin(), v.users.end(),
                   [&](const UserEntry& u) { return u.primary == slot_; }))
    return v;  // primary of no one: nothing to feed, no key to write
  const KeyLayout& layout = dir_.layout();
  auto members = dir_.members();
  if (!members.ok()) return members.status();
  v.members = std::move(*members);
  auto commands = dir_.etcd().get_prefix(layout.commands_prefix());
  if (!commands.ok()) return commands.status();
  const std::string promote = "/" + promote_command_name(slot_);
  for (const KeyValue& kv : commands->kvs) {
    const std::string& k = kv.key;
    if (k == layout.command_key(slot_, kRejoinCommand) ||
        (k.size() > promote.size() &&
         k.compare(k.size() - promote.size(), promote.size(), promote) == 0))
      v.failing_over = true;
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
    view->channels = std::move(*channels);
    view->add_failed = add_failed_;
    plan = plan_feed(*view);
  }
  return write_keys(plan);
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

}  // namespace replimail::cluster
