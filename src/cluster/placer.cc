#include "cluster/placer.h"

#include <fmt/format.h>

#include <algorithm>

namespace replimail::cluster {
namespace {

constexpr int kCasAttempts = 5;

// The users of `view` named in `users`, all of them when it is empty.
std::vector<std::string> names_of(const PlacementView& view,
                                  const std::vector<std::string>& users) {
  if (!users.empty()) return users;
  std::vector<std::string> out;
  for (const UserEntry& u : view.users) out.push_back(u.user);
  return out;
}

}  // namespace

Result<PlacementView> read_placement_view(Directory& dir) {
  PlacementView v;
  auto slots = dir.slots();
  if (!slots.ok()) return slots.status();
  for (const SlotInfo& s : *slots)
    if (s.role == "replica") v.candidates[s.name] = s.host;
  auto members = dir.members();
  if (!members.ok()) return members.status();
  for (const auto& [name, s] : *members) v.known[name] = s.host;
  // A slot alive now is known even if its members key lags.
  for (const SlotInfo& s : *slots) v.known[s.name] = s.host;
  auto users = dir.users();
  if (!users.ok()) return users.status();
  v.users = std::move(*users);
  return v;
}

Result<PlacementRound> place_and_write(Directory& dir, const std::vector<std::string>& users,
                                       size_t wanted) {
  PlacementRound done;
  std::vector<std::string> todo;
  for (int attempt = 0; attempt < kCasAttempts; ++attempt) {
    auto view = read_placement_view(dir);
    if (!view.ok()) return view.status();
    if (attempt == 0) todo = names_of(*view, users);
    if (todo.empty()) break;
    PlacementRound round = place_users(std::move(*view), todo, wanted);
    done.refused.insert(done.refused.end(), round.refused.begin(), round.refused.end());
    todo.clear();
    for (Placement& p : round.placed) {
      Status s = dir.put_user(p.entry, p.entry.mod_revision);
      if (s.code() == Code::kSyncChanged) {
        todo.push_back(p.entry.user);  // placed again from a fresh read
        continue;
      }
      if (!s.is_ok()) return s;
      done.placed.push_back(std::move(p));
    }
  }
  for (const std::string& u : todo)
    done.refused.push_back(fmt::format("user {}: kept changing while it was placed", u));
  return done;
}

Result<std::vector<std::string>> remove_slot(Directory& dir, const std::string& slot) {
  if (Status s = check_slot_name(slot); !s.is_ok()) return s;
  auto alive = dir.slot(slot);
  if (!alive.ok()) return alive.status();
  if (alive->has_value())
    return Status(Code::kInvalidArgument,
                  fmt::format("slot {} is alive: stop it before removing it", slot));
  auto users = dir.users();
  if (!users.ok()) return users.status();
  std::vector<std::string> had;
  for (const UserEntry& u : *users) {
    if (u.primary == slot)
      return Status(Code::kInvalidArgument,
                    fmt::format("slot {} is user {}'s primary: move the user first", slot, u.user));
    if (std::find(u.replicas.begin(), u.replicas.end(), slot) != u.replicas.end())
      had.push_back(u.user);
  }
  auto erased = dir.etcd().erase(dir.layout().member_key(slot));
  if (!erased.ok()) return erased.status();
  return had;
}

}  // namespace replimail::cluster
