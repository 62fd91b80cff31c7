#include "cluster/directory_schema.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "cluster/json_value.h"

namespace replimail::cluster {
namespace {

using json = nlohmann::json;

// Reads an optional field of the expected type; a field of another type is
// an error (a default would hide a writer's bug).
template <typename T>
Status read_field(const json& j, const char* field, T* out, std::string_view what,
                  std::string_view name) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return Status::success();
  if constexpr (std::is_same_v<T, std::string>) {
    if (!it->is_string()) return bad_value(what, name, std::string(field) + " is not a string");
  } else {
    if (!it->is_number_integer())
      return bad_value(what, name, std::string(field) + " is not an integer");
  }
  *out = it->get<T>();
  return Status::success();
}

bool port_ok(int p) { return p >= 0 && p <= 65535; }

}  // namespace

Status check_slot_name(std::string_view slot) {
  if (slot.empty() || slot.size() > 64)
    return Status(Code::kInvalidArgument, "slot name must have 1 to 64 characters");
  for (char c : slot) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok)
      return Status(Code::kInvalidArgument,
                    "slot name " + std::string(slot) + ": only letters, digits, '-', '_', '.'");
  }
  return Status::success();
}

Status check_user_name(std::string_view user) {
  if (user.empty() || user.size() > 255)
    return Status(Code::kInvalidArgument, "user name must have 1 to 255 characters");
  for (char c : user) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u == 0x7f || c == '/')
      return Status(Code::kInvalidArgument, "user name has a space, '/' or control character");
  }
  return Status::success();
}

std::string_view bootstrap_state_name(BootstrapState s) {
  switch (s) {
    case BootstrapState::kPending:
      return "pending";
    case BootstrapState::kBootstrapping:
      return "bootstrapping";
    case BootstrapState::kRolling:
      return "rolling";
    case BootstrapState::kFailed:
      return "failed";
  }
  return "pending";
}

std::optional<BootstrapState> parse_bootstrap_state(std::string_view name) {
  for (BootstrapState s : {BootstrapState::kPending, BootstrapState::kBootstrapping,
                           BootstrapState::kRolling, BootstrapState::kFailed}) {
    if (bootstrap_state_name(s) == name) return s;
  }
  return std::nullopt;
}

std::string_view move_phase_name(MovePhase p) {
  switch (p) {
    case MovePhase::kCopying:
      return "copying";
    case MovePhase::kFenced:
      return "fenced";
    case MovePhase::kSwitched:
      return "switched";
  }
  return "copying";
}

std::optional<MovePhase> parse_move_phase(std::string_view name) {
  for (MovePhase p : {MovePhase::kCopying, MovePhase::kFenced, MovePhase::kSwitched}) {
    if (move_phase_name(p) == name) return p;
  }
  return std::nullopt;
}

Result<KeyLayout> KeyLayout::make(std::string_view prefix) {
  if (prefix.empty() || prefix.front() != '/')
    return Status(Code::kConfigError, "cluster_etcd_prefix must start with '/'");
  std::string p(prefix);
  if (p.back() != '/') p += '/';
  return KeyLayout(std::move(p));
}

std::optional<KeyLayout::Parsed> KeyLayout::parse(std::string_view key) const {
  if (key.substr(0, prefix_.size()) != prefix_) return std::nullopt;
  key.remove_prefix(prefix_.size());
  auto take = [&](std::string_view dir) {
    if (key.substr(0, dir.size()) != dir) return false;
    key.remove_prefix(dir.size());
    return true;
  };
  if (take("slots/")) {
    if (!check_slot_name(key).is_ok()) return std::nullopt;
    return Parsed{Parsed::Kind::kSlot, "", std::string(key)};
  }
  if (take("users/")) {
    if (!check_user_name(key).is_ok()) return std::nullopt;
    return Parsed{Parsed::Kind::kUser, std::string(key), ""};
  }
  if (take("bootstrap/")) {
    size_t slash = key.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    std::string_view user = key.substr(0, slash), slot = key.substr(slash + 1);
    if (!check_user_name(user).is_ok() || !check_slot_name(slot).is_ok()) return std::nullopt;
    return Parsed{Parsed::Kind::kBootstrap, std::string(user), std::string(slot)};
  }
  if (take("moves/")) {
    if (!check_user_name(key).is_ok()) return std::nullopt;
    return Parsed{Parsed::Kind::kMove, std::string(key), ""};
  }
  return std::nullopt;
}

std::string encode_slot(const SlotInfo& s) {
  json j = {{"host", s.host}, {"role", s.role}, {"started", s.started}};
  if (s.imap_port) j["imap_port"] = s.imap_port;
  if (s.pop3_port) j["pop3_port"] = s.pop3_port;
  if (s.lmtp_port) j["lmtp_port"] = s.lmtp_port;
  if (s.sync_port) j["sync_port"] = s.sync_port;
  return j.dump();
}

Result<SlotInfo> decode_slot(std::string_view name, std::string_view value) {
  if (Status s = check_slot_name(name); !s.is_ok()) return bad_value("slot", name, s.message());
  auto j = json_object("slot", name, value);
  if (!j.ok()) return j.status();
  SlotInfo s;
  s.name = std::string(name);
  for (Status st : {read_field(*j, "host", &s.host, "slot", name),
                    read_field(*j, "role", &s.role, "slot", name),
                    read_field(*j, "started", &s.started, "slot", name),
                    read_field(*j, "imap_port", &s.imap_port, "slot", name),
                    read_field(*j, "pop3_port", &s.pop3_port, "slot", name),
                    read_field(*j, "lmtp_port", &s.lmtp_port, "slot", name),
                    read_field(*j, "sync_port", &s.sync_port, "slot", name)}) {
    if (!st.is_ok()) return st;
  }
  if (s.host.empty()) return bad_value("slot", name, "no host");
  if (s.role != "primary" && s.role != "replica") return bad_value("slot", name, "role " + s.role);
  for (int p : {s.imap_port, s.pop3_port, s.lmtp_port, s.sync_port}) {
    if (!port_ok(p)) return bad_value("slot", name, "port out of range");
  }
  return s;
}

std::string encode_user(const UserEntry& u) {
  return json{{"primary", u.primary}, {"replicas", u.replicas}}.dump();
}

Result<UserEntry> decode_user(std::string_view user, std::string_view value) {
  if (Status s = check_user_name(user); !s.is_ok()) return bad_value("user", user, s.message());
  auto j = json_object("user", user, value);
  if (!j.ok()) return j.status();
  UserEntry u;
  u.user = std::string(user);
  if (Status s = read_field(*j, "primary", &u.primary, "user", user); !s.is_ok()) return s;
  if (Status s = check_slot_name(u.primary); !s.is_ok())
    return bad_value("user", user, "primary: " + s.message());
  auto reps = j->find("replicas");
  if (reps != j->end() && !reps->is_null()) {
    if (!reps->is_array()) return bad_value("user", user, "replicas is not a list");
    for (const json& r : *reps) {
      if (!r.is_string()) return bad_value("user", user, "a replica is not a string");
      std::string name = r.get<std::string>();
      if (Status s = check_slot_name(name); !s.is_ok())
        return bad_value("user", user, "replica: " + s.message());
      if (name == u.primary) return bad_value("user", user, "replica " + name + " is the primary");
      if (std::find(u.replicas.begin(), u.replicas.end(), name) != u.replicas.end())
        return bad_value("user", user, "replica " + name + " twice");
      u.replicas.push_back(std::move(name));
    }
  }
  return u;
}

std::string encode_bootstrap(const ReplicaBootstrap& b) {
  json j = {{"state", bootstrap_state_name(b.state)}, {"since", b.since}};
  if (!b.reason.empty()) j["reason"] = b.reason;
  return j.dump();
}

Result<ReplicaBootstrap> decode_bootstrap(std::string_view user, std::string_view slot,
                                          std::string_view value) {
  std::string what = std::string(user) + "/" + std::string(slot);
  if (!check_user_name(user).is_ok() || !check_slot_name(slot).is_ok())
    return bad_value("bootstrap", what, "bad user or slot name");
  auto j = json_object("bootstrap", what, value);
  if (!j.ok()) return j.status();
  ReplicaBootstrap b;
  b.user = std::string(user);
  b.slot = std::string(slot);
  std::string state;
  for (Status st : {read_field(*j, "state", &state, "bootstrap", what),
                    read_field(*j, "since", &b.since, "bootstrap", what),
                    read_field(*j, "reason", &b.reason, "bootstrap", what)}) {
    if (!st.is_ok()) return st;
  }
  auto parsed = parse_bootstrap_state(state);
  if (!parsed) return bad_value("bootstrap", what, "state '" + state + "'");
  b.state = *parsed;
  return b;
}

std::string encode_move(const MoveRecord& m) {
  return json{{"source", m.source},   {"target", m.target}, {"phase", move_phase_name(m.phase)},
              {"started", m.started}, {"since", m.since},   {"keep_source", m.keep_source}}
      .dump();
}

Result<MoveRecord> decode_move(std::string_view user, std::string_view value) {
  if (Status s = check_user_name(user); !s.is_ok()) return bad_value("move", user, s.message());
  auto j = json_object("move", user, value);
  if (!j.ok()) return j.status();
  MoveRecord m;
  m.user = std::string(user);
  std::string phase;
  for (Status st : {read_field(*j, "source", &m.source, "move", user),
                    read_field(*j, "target", &m.target, "move", user),
                    read_field(*j, "phase", &phase, "move", user),
                    read_field(*j, "started", &m.started, "move", user),
                    read_field(*j, "since", &m.since, "move", user)}) {
    if (!st.is_ok()) return st;
  }
  auto keep = j->find("keep_source");
  if (keep != j->end() && !keep->is_null()) {
    if (!keep->is_boolean()) return bad_value("move", user, "keep_source is not a boolean");
    m.keep_source = keep->get<bool>();
  }
  for (const std::string* slot : {&m.source, &m.target}) {
    if (Status s = check_slot_name(*slot); !s.is_ok()) return bad_value("move", user, s.message());
  }
  if (m.source == m.target)
    return bad_value("move", user, "source and target are both " + m.source);
  auto parsed = parse_move_phase(phase);
  if (!parsed) return bad_value("move", user, "phase '" + phase + "'");
  m.phase = *parsed;
  return m;
}

std::string sync_address(const SlotInfo& s) {
  if (s.sync_port <= 0 || s.host.empty()) return "";
  return s.host + ":" + std::to_string(s.sync_port);
}

UserEntry with_primary(UserEntry entry, std::string_view slot) {
  if (entry.primary == slot) return entry;
  auto& r = entry.replicas;
  r.erase(std::remove(r.begin(), r.end(), slot), r.end());
  if (!entry.primary.empty()) r.insert(r.begin(), entry.primary);
  entry.primary = std::string(slot);
  return entry;
}

}  // namespace replimail::cluster
