#include "cluster/directory.h"

#include <spdlog/spdlog.h>

namespace replimail::cluster {
namespace {

constexpr int kCasAttempts = 10;

}  // namespace

Result<std::vector<SlotInfo>> Directory::slots() {
  auto r = etcd_.get_prefix(layout_.slots_prefix());
  if (!r.ok()) return r.status();
  std::vector<SlotInfo> out;
  for (const KeyValue& kv : r->kvs) {
    auto parsed = layout_.parse(kv.key);
    if (!parsed || parsed->kind != KeyLayout::Parsed::Kind::kSlot) continue;
    auto slot = decode_slot(parsed->slot, kv.value);
    if (!slot.ok()) {
      spdlog::warn("{}", slot.status().message());
      continue;
    }
    slot->lease = kv.lease;
    out.push_back(std::move(*slot));
  }
  return out;
}

Result<std::optional<SlotInfo>> Directory::slot(std::string_view name) {
  if (Status s = check_slot_name(name); !s.is_ok()) return s;
  auto r = etcd_.get(layout_.slot_key(name));
  if (!r.ok()) return r.status();
  return slot_from(name, r->kvs.empty() ? nullptr : &r->kvs.front());
}

Result<std::optional<SlotInfo>> Directory::slot_from(std::string_view name,
                                                     const KeyValue* kv) const {
  if (kv == nullptr) return std::optional<SlotInfo>();
  auto slot = decode_slot(name, kv->value);
  if (!slot.ok()) return slot.status();
  slot->lease = kv->lease;
  return std::optional<SlotInfo>(std::move(*slot));
}

Result<std::map<std::string, SlotInfo>> Directory::members() {
  auto r = etcd_.get_prefix(layout_.members_prefix());
  if (!r.ok()) return r.status();
  std::map<std::string, SlotInfo> out;
  for (const KeyValue& kv : r->kvs) {
    std::string name = kv.key.substr(layout_.members_prefix().size());
    if (auto s = decode_slot(name, kv.value); s.ok()) out[name] = std::move(*s);
  }
  return out;
}

Result<std::optional<UserEntry>> Directory::user(std::string_view name) {
  if (Status s = check_user_name(name); !s.is_ok()) return s;
  auto r = etcd_.get(layout_.user_key(name));
  if (!r.ok()) return r.status();
  return user_from(name, *r);
}

Result<std::optional<UserEntry>> Directory::user_from(std::string_view name,
                                                      const RangeResult& r) const {
  if (r.kvs.empty()) return std::optional<UserEntry>();
  auto u = decode_user(name, r.kvs.front().value);
  if (!u.ok()) return u.status();
  u->mod_revision = r.kvs.front().mod_revision;
  return std::optional<UserEntry>(std::move(*u));
}

Result<std::vector<UserEntry>> Directory::users() {
  auto r = etcd_.get_prefix(layout_.users_prefix());
  if (!r.ok()) return r.status();
  std::vector<UserEntry> out;
  for (const KeyValue& kv : r->kvs) {
    auto parsed = layout_.parse(kv.key);
    if (!parsed || parsed->kind != KeyLayout::Parsed::Kind::kUser) continue;
    auto u = decode_user(parsed->user, kv.value);
    if (!u.ok()) {
      spdlog::warn("{}", u.status().message());
      continue;
    }
    u->mod_revision = kv.mod_revision;
    out.push_back(std::move(*u));
  }
  return out;
}

Status Directory::put_user(const UserEntry& entry, int64_t expected_mod_revision) {
  if (Status s = check_user_name(entry.user); !s.is_ok()) return s;
  // Refuse what decode_user would refuse, before anyone reads it.
  if (auto check = decode_user(entry.user, encode_user(entry)); !check.ok())
    return Status(Code::kInvalidArgument, check.status().message());
  Txn t;
  std::string key = layout_.user_key(entry.user);
  t.compare.push_back(
      {key, Compare::Target::kMod, Compare::Result::kEqual, expected_mod_revision, ""});
  t.success.push_back({TxnOp::Kind::kPut, key, encode_user(entry), "", 0});
  auto r = etcd_.txn(t);
  if (!r.ok()) return r.status();
  if (!r->succeeded)
    return Status(Code::kSyncChanged,
                  "cluster directory: user " + entry.user + " changed meanwhile");
  return Status::success();
}

Result<UserEntry> Directory::set_primary(std::string_view user, std::string_view slot) {
  if (Status s = check_slot_name(slot); !s.is_ok()) return s;
  for (int attempt = 0; attempt < kCasAttempts; ++attempt) {
    auto cur = user_entry_or_status(user);
    if (!cur.ok()) return cur.status();
    UserEntry next = with_primary(*cur, slot);
    Status s = put_user(next, cur->mod_revision);
    if (s.is_ok()) return next;
    if (s.code() != Code::kSyncChanged) return s;
  }
  return Status(Code::kAgain,
                "cluster directory: user " + std::string(user) + " kept changing; primary not set");
}

Result<UserEntry> Directory::user_entry_or_status(std::string_view name) {
  auto u = user(name);
  if (!u.ok()) return u.status();
  if (!u->has_value())
    return Status(Code::kNotFound, "cluster directory: no user " + std::string(name));
  return std::move(**u);
}

Status Directory::remove_user(std::string_view user) {
  if (Status s = check_user_name(user); !s.is_ok()) return s;
  auto r = etcd_.erase(layout_.user_key(user));
  if (!r.ok()) return r.status();
  auto b = etcd_.erase(layout_.bootstrap_user_prefix(user),
                       prefix_end(layout_.bootstrap_user_prefix(user)));
  return b.status();
}

Status Directory::put_bootstrap(const ReplicaBootstrap& b) {
  if (Status s = check_user_name(b.user); !s.is_ok()) return s;
  if (Status s = check_slot_name(b.slot); !s.is_ok()) return s;
  return etcd_.put(layout_.bootstrap_key(b.user, b.slot), encode_bootstrap(b)).status();
}

Result<std::vector<ReplicaBootstrap>> Directory::bootstraps(std::string_view user) {
  if (Status s = check_user_name(user); !s.is_ok()) return s;
  auto r = etcd_.get_prefix(layout_.bootstrap_user_prefix(user));
  if (!r.ok()) return r.status();
  std::vector<ReplicaBootstrap> out;
  for (const KeyValue& kv : r->kvs) {
    auto parsed = layout_.parse(kv.key);
    if (!parsed || parsed->kind != KeyLayout::Parsed::Kind::kBootstrap) continue;
    auto b = decode_bootstrap(parsed->user, parsed->slot, kv.value);
    if (!b.ok()) return b.status();
    out.push_back(std::move(*b));
  }
  return out;
}

Result<SlotInfo> Directory::route(std::string_view user) {
  // Two reads: a flip between them routes to the slot that was primary a
  // moment ago, as a login a moment earlier would have been.
  if (Status s = check_user_name(user); !s.is_ok()) return Status(Code::kNotFound, s.message());
  auto u = user_entry_or_status(user);
  if (!u.ok()) return u.status();
  return primary_of(*u, slot(u->primary));
}

Result<SlotInfo> Directory::primary_of(const UserEntry& u, Result<std::optional<SlotInfo>> slot) {
  if (!slot.ok()) return slot.status();
  if (!slot->has_value())
    return Status(Code::kAgain,
                  "cluster directory: slot " + u.primary + " of user " + u.user + " is not alive");
  return std::move(**slot);
}

Directory::UserRoute Directory::user_route(std::string_view user) {
  if (Status s = check_user_name(user); !s.is_ok())
    return {s, Status(Code::kNotFound, s.message())};
  const std::string slots = layout_.slots_prefix();
  Txn t;
  t.success = {{TxnOp::Kind::kRange, layout_.move_key(user), "", "", 0},
               {TxnOp::Kind::kRange, layout_.user_key(user), "", "", 0},
               {TxnOp::Kind::kRange, slots, "", prefix_end(slots), 0}};
  auto r = etcd_.txn(t);
  if (r.ok() && r->ranges.size() != t.success.size())
    r = Status(Code::kProtocolError,
               "etcd answered a transaction of 3 ranges with " + std::to_string(r->ranges.size()));
  if (!r.ok()) return {r.status(), r.status()};
  auto primary = [&]() -> Result<SlotInfo> {
    auto u = user_from(user, r->ranges[1]);
    if (!u.ok()) return u.status();
    if (!u->has_value())
      return Status(Code::kNotFound, "cluster directory: no user " + std::string(user));
    const std::string key = layout_.slot_key((*u)->primary);
    const KeyValue* kv = nullptr;
    for (const KeyValue& each : r->ranges[2].kvs)
      if (each.key == key) kv = &each;
    return primary_of(**u, slot_from((*u)->primary, kv));
  };
  return {move_from(user, r->ranges[0]), primary()};
}

Result<std::optional<MoveRecord>> Directory::move(std::string_view user) {
  if (Status s = check_user_name(user); !s.is_ok()) return s;
  auto r = etcd_.get(layout_.move_key(user));
  if (!r.ok()) return r.status();
  return move_from(user, *r);
}

Result<std::optional<MoveRecord>> Directory::move_from(std::string_view user,
                                                       const RangeResult& r) const {
  if (r.kvs.empty()) return std::optional<MoveRecord>();
  auto m = decode_move(user, r.kvs.front().value);
  if (!m.ok()) return m.status();
  m->mod_revision = r.kvs.front().mod_revision;
  return std::optional<MoveRecord>(std::move(*m));
}

}  // namespace replimail::cluster
