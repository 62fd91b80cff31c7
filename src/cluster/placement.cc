#include "cluster/placement.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <tuple>

namespace replimail::cluster {
namespace {

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "none" : out;
}

// How many users hold a copy on `slot`, and whether `primary` feeds it
// already (rule 3).
struct SlotUse {
  size_t users = 0;
  bool fed_by_primary = false;
};

SlotUse use_of(const PlacementView& view, const std::string& slot, const UserEntry& user) {
  SlotUse u;
  for (const UserEntry& e : view.users) {
    bool replica = contains(e.replicas, slot);
    if (e.primary == slot || replica) u.users++;
    if (replica && e.user != user.user && e.primary == user.primary) u.fed_by_primary = true;
  }
  return u;
}

}  // namespace

Result<Placement> place_replicas(const PlacementView& view, const UserEntry& user, size_t wanted) {
  auto primary = view.known.find(user.primary);
  if (primary == view.known.end())
    return Status(Code::kNotFound, fmt::format("user {}: primary slot {} is unknown (no members "
                                               "key): its host cannot be told",
                                               user.user, user.primary));
  Placement p;
  p.entry = user;
  p.entry.replicas.clear();
  std::set<std::string> hosts = {primary->second};
  for (const std::string& r : user.replicas) {
    auto known = view.known.find(r);
    if (r == user.primary || known == view.known.end() || !hosts.insert(known->second).second) {
      p.dropped.push_back(r);
      continue;
    }
    p.entry.replicas.push_back(r);
  }
  // Candidates on a host the user has no copy on yet; the best
  // first, then skipping hosts taken by a better one.
  std::vector<std::tuple<bool, size_t, std::string>> ranked;
  for (const auto& [slot, host] : view.candidates) {
    if (hosts.count(host) || contains(p.entry.replicas, slot)) continue;
    SlotUse use = use_of(view, slot, user);
    ranked.emplace_back(!use.fed_by_primary, use.users, slot);
  }
  std::sort(ranked.begin(), ranked.end());
  for (const auto& [unfed, load, slot] : ranked) {
    if (p.entry.replicas.size() >= wanted) break;
    if (!hosts.insert(view.candidates.at(slot)).second) continue;
    p.entry.replicas.push_back(slot);
    p.added.push_back(slot);
  }
  if (p.entry.replicas.size() < wanted) {
    std::vector<std::string> live;
    for (const auto& [slot, host] : view.candidates)
      live.push_back(fmt::format("{}@{}", slot, host));
    return Status(Code::kAgain,
                  fmt::format("user {}: {} replica(s) wanted on hosts other than its primary {}'s "
                              "({}) and each other's, only {} such host(s) with a live replica "
                              "slot (live replica slots: {})",
                              user.user, wanted, user.primary, primary->second,
                              p.entry.replicas.size(), join(live)));
  }
  return p;
}

PlacementRound place_users(PlacementView view, const std::vector<std::string>& users,
                           size_t wanted) {
  PlacementRound round;
  for (const std::string& name : users) {
    auto it = std::find_if(view.users.begin(), view.users.end(),
                           [&](const UserEntry& e) { return e.user == name; });
    if (it == view.users.end()) {
      round.refused.push_back(fmt::format("user {}: not in the directory", name));
      continue;
    }
    auto p = place_replicas(view, *it, wanted);
    if (!p.ok()) {
      round.refused.push_back(p.status().message());
      continue;
    }
    if (!p->changed()) continue;
    *it = p->entry;
    round.placed.push_back(std::move(*p));
  }
  return round;
}

}  // namespace replimail::cluster
