#include "cluster/failover.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "cluster/json_value.h"

namespace replimail::cluster {
namespace {

using json = nlohmann::json;

constexpr std::pair<SlotCommand::Op, std::string_view> kOps[] = {
    {SlotCommand::Op::kPromote, "promote"},
    {SlotCommand::Op::kRejoin, "rejoin"},
    {SlotCommand::Op::kUnfence, "unfence"}};
constexpr std::pair<SlotCommand::State, std::string_view> kStates[] = {
    {SlotCommand::State::kPending, "pending"},
    {SlotCommand::State::kDone, "done"},
    {SlotCommand::State::kFailed, "failed"}};

template <typename E, size_t N>
std::string_view name_of(const std::pair<E, std::string_view> (&table)[N], E e) {
  for (const auto& [v, n] : table)
    if (v == e) return n;
  return table[0].second;
}

template <typename E, size_t N>
std::optional<E> value_of(const std::pair<E, std::string_view> (&table)[N], std::string_view n) {
  for (const auto& [v, name] : table)
    if (name == n) return v;
  return std::nullopt;
}

}  // namespace

std::string encode_replication(const ReplicationReport& r) {
  return json{{"at", r.at_ms}, {"replicas", r.complete_through_ms}}.dump();
}

Result<ReplicationReport> decode_replication(std::string_view slot, std::string_view value) {
  auto j = json_object("replication", slot, value);
  if (!j.ok()) return j.status();
  ReplicationReport r;
  r.slot = std::string(slot);
  auto at = j->find("at");
  if (at == j->end() || !at->is_number_integer()) return bad_value("replication", slot, "no time");
  r.at_ms = at->get<int64_t>();
  auto reps = j->find("replicas");
  if (reps != j->end()) {
    if (!reps->is_object()) return bad_value("replication", slot, "replicas is not an object");
    for (const auto& [k, v] : reps->items()) {
      if (!v.is_number_integer()) return bad_value("replication", slot, k + " is not an integer");
      r.complete_through_ms[k] = v.get<int64_t>();
    }
  }
  return r;
}

std::string encode_command(const SlotCommand& c) {
  json j = {{"op", name_of(kOps, c.op)},
            {"state", name_of(kStates, c.state)},
            {"controller", c.controller}};
  if (c.op == SlotCommand::Op::kPromote) {
    j["old_primary"] = c.old_primary;
    j["old_primary_sync"] = c.old_primary_sync;
    j["replicas"] = c.replicas;
  }
  if (c.op == SlotCommand::Op::kUnfence) j["user"] = c.user;
  if (!c.result.empty()) j["result"] = c.result;
  return j.dump();
}

Result<SlotCommand> decode_command(std::string_view slot, std::string_view name,
                                   std::string_view value) {
  std::string what = std::string(slot) + "/" + std::string(name);
  auto j = json_object("command", what, value);
  if (!j.ok()) return j.status();
  SlotCommand c;
  c.slot = std::string(slot);
  c.name = std::string(name);
  try {
    auto op = value_of(kOps, j->value("op", std::string()));
    auto state = value_of(kStates, j->value("state", std::string()));
    if (!op || !state) return bad_value("command", what, "unknown op or state");
    c.op = *op;
    c.state = *state;
    c.controller = j->value("controller", std::string());
    c.result = j->value("result", std::string());
    c.old_primary = j->value("old_primary", std::string());
    c.old_primary_sync = j->value("old_primary_sync", std::string());
    c.replicas = j->value("replicas", std::map<std::string, std::string>());
    c.user = j->value("user", std::string());
  } catch (const json::exception& e) {
    return bad_value("command", what, e.what());
  }
  if (c.op == SlotCommand::Op::kPromote &&
      (!check_slot_name(c.old_primary).is_ok() || c.old_primary_sync.empty()))
    return bad_value("command", what, "promote without the old primary and its sync address");
  if (c.op == SlotCommand::Op::kUnfence && !check_user_name(c.user).is_ok())
    return bad_value("command", what, "unfence without a valid user");
  return c;
}

std::string promote_command_name(std::string_view old_primary) {
  return "promote-" + std::string(old_primary);
}

std::string unfence_command_name(std::string_view user) { return "unfence-" + std::string(user); }

std::string channel_for_slot(std::string_view slot) {
  std::string c;
  for (char ch : slot)
    c += ch == '.' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return c;
}

std::optional<std::string> choose_replica(const UserEntry& user, const std::set<std::string>& alive,
                                          const std::optional<ReplicationReport>& report) {
  std::optional<std::string> best;
  int64_t best_through = -1;
  for (const std::string& r : user.replicas) {
    if (!alive.contains(r)) continue;
    int64_t through = 0;
    if (report) {
      auto it = report->complete_through_ms.find(channel_for_slot(r));
      if (it != report->complete_through_ms.end()) through = it->second;
    }
    if (through > best_through) {
      best = r;
      best_through = through;
    }
  }
  return best;
}

namespace {

// One round's decisions over a view of the cluster, step by step; plan_failover's state.
class Planner {
 public:
  Planner(const ClusterView& view, const std::string& controller)
      : view_(view), controller_(controller) {}

  FailoverPlan run() {
    for (const UserEntry& u : view_.users) plan_user(u);
    retire_commands();
    return std::move(plan_);
  }

 private:
  // The command `name` of `slot`, existing or created this round.
  std::optional<SlotCommand> find_command(const std::string& slot, const std::string& name) const {
    for (const SlotCommand& c : view_.commands)
      if (c.slot == slot && c.name == name) return c;
    for (const SlotCommand& c : plan_.create)
      if (c.slot == slot && c.name == name) return c;
    return std::nullopt;
  }

  // The promotion under way away from the user's primary to one of its
  // replicas (one whose target is alive first).
  std::optional<SlotCommand> under_way(const UserEntry& u) const {
    std::optional<SlotCommand> found;
    for (const std::string& r : u.replicas) {
      auto c = find_command(r, promote_command_name(u.primary));
      if (c && (!found || (view_.alive.contains(r) && !view_.alive.contains(found->slot))))
        found = c;
    }
    return found;
  }

  // A new promote command for `u` (and its old primary's rejoin command);
  // nullopt once the reason is in plan_.waiting.
  std::optional<SlotCommand> start(const UserEntry& u) {
    auto report = view_.reports.find(u.primary);
    auto target = choose_replica(
        u, view_.alive,
        report == view_.reports.end() ? std::nullopt : std::optional(report->second));
    if (!target) {
      plan_.waiting.push_back("user " + u.user + ": primary " + u.primary +
                              " is down and no replica is alive");
      return std::nullopt;
    }
    auto old = view_.members.find(u.primary);
    std::string old_sync = old == view_.members.end() ? "" : sync_address(old->second);
    if (old_sync.empty()) {
      plan_.waiting.push_back("user " + u.user + ": primary " + u.primary +
                              " has no known sync_server address (members key)");
      return std::nullopt;
    }
    SlotCommand c;
    c.slot = *target;
    c.name = promote_command_name(u.primary);
    c.op = SlotCommand::Op::kPromote;
    c.old_primary = u.primary;
    c.old_primary_sync = old_sync;
    c.controller = controller_;
    plan_.create.push_back(c);
    if (!find_command(u.primary, std::string(kRejoinCommand))) {
      SlotCommand j;
      j.slot = u.primary;
      j.name = std::string(kRejoinCommand);
      j.op = SlotCommand::Op::kRejoin;
      j.controller = controller_;
      plan_.create.push_back(j);
    }
    return c;
  }

  // A command created this round feeds the user's other live replicas.
  void feed_replicas(const UserEntry& u, const SlotCommand& cmd) {
    for (SlotCommand& c : plan_.create) {
      if (c.slot != cmd.slot || c.name != cmd.name) continue;
      for (const std::string& r : u.replicas) {
        if (r == c.slot || !view_.alive.contains(r)) continue;
        auto m = view_.members.find(r);
        if (m != view_.members.end() && !sync_address(m->second).empty())
          c.replicas[r] = sync_address(m->second);
      }
    }
  }

  // What the user's promotion command's state asks of this round.
  void follow(const UserEntry& u, const SlotCommand& cmd) {
    switch (cmd.state) {
      case SlotCommand::State::kDone:
        plan_.flip.push_back(with_primary(u, cmd.slot));
        plan_.flip.back().mod_revision = u.mod_revision;
        break;
      case SlotCommand::State::kPending:
        plan_.waiting.push_back("user " + u.user + ": waiting for " + cmd.slot + " to run " +
                                cmd.name);
        break;
      case SlotCommand::State::kFailed:
        // Removed (retire_commands), so that the next round starts it again
        // (every step of a promotion can be repeated).
        plan_.waiting.push_back("user " + u.user + ": " + cmd.slot + "'s " + cmd.name +
                                " failed (" + cmd.result + "); retrying");
        break;
    }
  }

  void plan_user(const UserEntry& u) {
    auto cmd = under_way(u);
    if (!cmd && view_.alive.contains(u.primary)) return;
    if (!cmd && !(cmd = start(u))) return;
    still_needed_.insert(cmd->slot + "/" + cmd->name);
    feed_replicas(u, *cmd);
    follow(u, *cmd);
  }

  // Done promotions no user waits for any more, and failed ones, go.
  void retire_commands() {
    for (const SlotCommand& c : view_.commands) {
      if (c.op != SlotCommand::Op::kPromote) continue;
      bool used = still_needed_.contains(c.slot + "/" + c.name);
      if ((c.state == SlotCommand::State::kDone && !used) || c.state == SlotCommand::State::kFailed)
        plan_.remove.emplace_back(c.slot, c.name);
    }
  }

  const ClusterView& view_;
  const std::string& controller_;
  FailoverPlan plan_;
  std::set<std::string> still_needed_;  // "slot/name" of promote commands users wait for
};

}  // namespace

FailoverPlan plan_failover(const ClusterView& view, const std::string& controller) {
  return Planner(view, controller).run();
}

}  // namespace replimail::cluster
