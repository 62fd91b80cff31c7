#include "cluster/controller.h"

#include <spdlog/spdlog.h>

#include <thread>

#include "cluster/directory.h"

namespace replimail::cluster {
namespace {

using namespace std::chrono_literals;

constexpr auto kRoundPeriod = 300ms;

// The (slot, name) of a key under <prefix>commands/; nullopt for another key.
std::optional<std::pair<std::string, std::string>> command_key_parts(const KeyLayout& layout,
                                                                     std::string_view key) {
  std::string_view rest = key.substr(std::min(key.size(), layout.commands_prefix().size()));
  size_t slash = rest.find('/');
  if (key.substr(0, layout.commands_prefix().size()) != layout.commands_prefix() ||
      slash == std::string_view::npos)
    return std::nullopt;
  return std::pair{std::string(rest.substr(0, slash)), std::string(rest.substr(slash + 1))};
}

Result<std::vector<SlotCommand>> read_commands(EtcdClient& etcd, const std::string& prefix,
                                               const KeyLayout& layout) {
  auto r = etcd.get_prefix(prefix);
  if (!r.ok()) return r.status();
  std::vector<SlotCommand> out;
  for (const KeyValue& kv : r->kvs) {
    auto parts = command_key_parts(layout, kv.key);
    if (!parts) continue;
    auto c = decode_command(parts->first, parts->second, kv.value);
    if (!c.ok()) {
      spdlog::warn("{}", c.status().message());
      continue;
    }
    c->mod_revision = kv.mod_revision;
    out.push_back(std::move(*c));
  }
  return out;
}

}  // namespace

Controller::Controller(EtcdClient& etcd, KeyLayout layout, std::string self,
                       std::chrono::seconds ttl)
    : etcd_(etcd), layout_(std::move(layout)), self_(std::move(self)), ttl_(ttl) {}

bool Controller::campaign() {
  // Most of the time someone holds the key: one read, no lease granted.
  auto held = etcd_.get(layout_.controller_key());
  if (!held.ok() || !held->kvs.empty()) return false;
  auto lease = etcd_.lease_grant(ttl_);
  if (!lease.ok()) return false;
  Txn t;
  const std::string key = layout_.controller_key();
  t.compare.push_back({key, Compare::Target::kCreate, Compare::Result::kEqual, 0, ""});
  t.success.push_back({TxnOp::Kind::kPut, key, self_, "", lease->id});
  auto r = etcd_.txn(t);
  if (!r.ok() || !r->succeeded) {
    (void)etcd_.lease_revoke(lease->id);
    return false;
  }
  lease_ = lease->id;
  revision_ = r->revision;  // the key's create_revision
  said_.clear();
  spdlog::info("controller: {} elected (lease {:x}, revision {})", self_, lease_, revision_);
  return true;
}

Result<TxnResult> Controller::fenced(Txn t, int64_t my_revision) {
  const std::string key = layout_.controller_key();
  t.compare.insert(t.compare.begin(),
                   {key, Compare::Target::kCreate, Compare::Result::kEqual, my_revision, ""});
  t.failure.push_back({TxnOp::Kind::kRange, key, "", "", 0});
  auto r = etcd_.txn(t);
  if (!r.ok() || r->succeeded) return r;
  const auto& ranges = r->ranges;
  if (ranges.empty() || ranges[0].kvs.empty() || ranges[0].kvs[0].create_revision != my_revision)
    return Status(Code::kPermissionDenied, "controller: fenced off: no longer the controller");
  return r;
}

Result<ClusterView> Controller::read_view() {
  ClusterView v;
  Directory dir(etcd_, layout_);
  auto users = dir.users();
  if (!users.ok()) return users.status();
  v.users = std::move(*users);
  auto slots = dir.slots();
  if (!slots.ok()) return slots.status();
  for (const SlotInfo& s : *slots) v.alive.insert(s.name);
  auto members = etcd_.get_prefix(layout_.members_prefix());
  if (!members.ok()) return members.status();
  for (const KeyValue& kv : members->kvs) {
    std::string name = kv.key.substr(layout_.members_prefix().size());
    if (auto s = decode_slot(name, kv.value); s.ok()) v.members[name] = std::move(*s);
  }
  auto reports = etcd_.get_prefix(layout_.replication_prefix());
  if (!reports.ok()) return reports.status();
  for (const KeyValue& kv : reports->kvs) {
    std::string name = kv.key.substr(layout_.replication_prefix().size());
    if (auto r = decode_replication(name, kv.value); r.ok()) v.reports[name] = std::move(*r);
  }
  auto commands = read_commands(etcd_, layout_.commands_prefix(), layout_);
  if (!commands.ok()) return commands.status();
  v.commands = std::move(*commands);
  return v;
}

Status Controller::round(int64_t my_revision) {
  auto view = read_view();
  if (!view.ok()) return view.status();
  FailoverPlan plan = plan_failover(*view, self_);
  for (const std::string& w : plan.waiting) {
    if (said_.insert(w).second) spdlog::info("controller: {}", w);
  }
  // The round's commands go in one transaction: a promotion and its old
  // primary's rejoin exist together or not at all. A controller killed
  // between two puts would leave a promotion its successor follows without
  // ever asking the rejoin, and the old primary would come back feeding
  // the new one as a primary.
  if (!plan.create.empty()) {
    Txn t;
    for (const SlotCommand& c : plan.create) {
      const std::string key = layout_.command_key(c.slot, c.name);
      t.compare.push_back({key, Compare::Target::kCreate, Compare::Result::kEqual, 0, ""});
      t.success.push_back({TxnOp::Kind::kPut, key, encode_command(c), "", 0});
    }
    auto r = fenced(t, my_revision);
    if (!r.ok()) return r.status();
    for (const SlotCommand& c : plan.create)
      if (r->succeeded)
        spdlog::info("controller: asked {} to {}{}", c.slot, c.name,
                     c.op == SlotCommand::Op::kPromote ? " (" + c.old_primary + " is down)" : "");
  }
  for (const UserEntry& u : plan.flip) {
    Txn t;
    const std::string key = layout_.user_key(u.user);
    t.compare.push_back({key, Compare::Target::kMod, Compare::Result::kEqual, u.mod_revision, ""});
    t.success.push_back({TxnOp::Kind::kPut, key, encode_user(u), "", 0});
    auto r = fenced(t, my_revision);
    if (!r.ok()) return r.status();
    if (r->succeeded) spdlog::info("controller: user {} now on {}", u.user, u.primary);
  }
  for (const auto& [slot, name] : plan.remove) {
    Txn t;
    t.success.push_back({TxnOp::Kind::kDelete, layout_.command_key(slot, name), "", "", 0});
    auto r = fenced(t, my_revision);
    if (!r.ok()) return r.status();
  }
  return Status::success();
}

void Controller::run(const std::atomic<bool>& stop) {
  const auto keepalive_every = std::max<std::chrono::milliseconds>(ttl_ / 3, 500ms);
  while (!stop.load()) {
    if (!campaign()) {
      std::this_thread::sleep_for(500ms);
      continue;
    }
    auto last_renewal = std::chrono::steady_clock::now();
    auto next_keepalive = last_renewal + keepalive_every;
    while (!stop.load()) {
      auto now = std::chrono::steady_clock::now();
      if (now >= next_keepalive) {
        auto ttl = etcd_.lease_keepalive(lease_);
        if (ttl.ok() && *ttl > 0) {
          last_renewal = now;
        } else if (ttl.status().code() == Code::kNotFound || (ttl.ok() && *ttl == 0)) {
          spdlog::warn("controller: {}: lease {:x} expired; no longer acting", self_, lease_);
          break;
        }
        next_keepalive = now + (ttl.ok() ? keepalive_every : std::chrono::milliseconds(500));
      }
      // Unrenewed for a whole TTL: the lease may be gone; the fence would
      // refuse our writes anyway, but stop acting at once.
      if (now - last_renewal >= ttl_) {
        spdlog::warn("controller: {}: lease not renewed for {}s; no longer acting", self_,
                     ttl_.count());
        break;
      }
      Status s = round(revision_);
      if (s.code() == Code::kPermissionDenied) {
        spdlog::warn("{}", s.message());
        break;
      }
      if (!s.is_ok()) spdlog::warn("controller: round: {}", s.to_string());
      std::this_thread::sleep_for(kRoundPeriod);
    }
    if (stop.load()) (void)etcd_.lease_revoke(lease_);
    lease_ = 0;
  }
}

CommandRunner::CommandRunner(EtcdClient& etcd, KeyLayout layout, std::string slot, Handler handler)
    : etcd_(etcd),
      layout_(std::move(layout)),
      slot_(std::move(slot)),
      handler_(std::move(handler)) {}

Status CommandRunner::run_pending() {
  auto commands = read_commands(etcd_, layout_.slot_commands_prefix(slot_), layout_);
  if (!commands.ok()) return commands.status();
  for (SlotCommand c : *commands) {
    if (c.state != SlotCommand::State::kPending) continue;
    // An unfence is looked at every period until the switch: not logged.
    spdlog::log(c.op == SlotCommand::Op::kUnfence ? spdlog::level::debug : spdlog::level::info,
                "clusterd: slot {}: running {} for {}", slot_, c.name, c.controller);
    auto done = handler_(c);
    // Not yet (an unfence before the directory names this slot): the
    // command stays pending and is run again at the next look.
    if (!done.ok() && done.status().code() == Code::kAgain) continue;
    c.state = done.ok() ? SlotCommand::State::kDone : SlotCommand::State::kFailed;
    c.result = done.ok() ? *done : done.status().to_string();
    spdlog::log(done.ok() ? spdlog::level::info : spdlog::level::err, "clusterd: slot {}: {}: {}",
                slot_, c.name, c.result);
    const std::string key = layout_.command_key(slot_, c.name);
    Txn t;
    t.compare.push_back({key, Compare::Target::kMod, Compare::Result::kEqual, c.mod_revision, ""});
    if (c.op == SlotCommand::Op::kRejoin && done.ok())
      t.success.push_back({TxnOp::Kind::kDelete, key, "", "", 0});
    else
      t.success.push_back({TxnOp::Kind::kPut, key, encode_command(c), "", 0});
    auto r = etcd_.txn(t);
    if (!r.ok()) return r.status();
    if (!r->succeeded) spdlog::warn("clusterd: slot {}: {} changed meanwhile", slot_, c.name);
  }
  return Status::success();
}

void CommandRunner::run(const std::atomic<bool>& stop, std::chrono::milliseconds period) {
  Status last;
  while (!stop.load()) {
    Status s = run_pending();
    if (!s.is_ok() && s.to_string() != last.to_string())
      spdlog::warn("clusterd: slot {}: commands: {}", slot_, s.to_string());
    last = s;
    std::this_thread::sleep_for(period);
  }
}

}  // namespace replimail::cluster
