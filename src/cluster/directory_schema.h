// The cluster directory's key layout and values (docs/CLUSTER.md), as pure
// functions: every key the cluster writes in etcd is made and read here.
//
//   <prefix>slots/<slot>              SlotInfo (JSON), attached to the lease
//                                     the slot's clusterd keeps alive: the key
//                                     exists while the slot is alive
//   <prefix>users/<user>              UserEntry (JSON): the user's primary
//                                     slot and replica slots
//   <prefix>bootstrap/<user>/<slot>   ReplicaBootstrap (JSON): where the
//                                     user's copy on replica <slot> stands
//
// <prefix> is cluster_etcd_prefix ("/replimail/" by default; always ends in
// '/'). Slot names: letters, digits, '-', '_', '.', at most 64. User names:
// Cyrus userids (no '/', no control character, no space, at most 255).
// Values are JSON objects; unknown fields are ignored when read, so that a
// later version can add fields without breaking an older reader.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace replimail::cluster {

inline constexpr std::string_view kDefaultPrefix = "/replimail/";

Status check_slot_name(std::string_view slot);
Status check_user_name(std::string_view user);

// A slot (one instance: master and its services) as it announces itself.
struct SlotInfo {
  std::string name;   // from the key, not stored in the value
  std::string host;   // the address the proxies and peers reach it at
  int imap_port = 0;  // 0: the slot has no such service
  int pop3_port = 0;
  int lmtp_port = 0;
  int sync_port = 0;
  // "primary" (serves its users' logins and deliveries) or "replica"
  // (only receives replication): the instance's own role.
  std::string role = "primary";
  int64_t started = 0;  // Unix time the registration was made
  int64_t lease = 0;    // from the key (etcd's), not stored in the value
};

// Where a user lives.
struct UserEntry {
  std::string user;  // from the key
  std::string primary;
  std::vector<std::string> replicas;  // never the primary, no duplicates
  int64_t mod_revision = 0;           // etcd's, for compare-and-swap
};

// A replica's copy of one user (issue 15's channel states, per user).
enum class BootstrapState { kPending, kBootstrapping, kRolling, kFailed };
std::string_view bootstrap_state_name(BootstrapState s);
std::optional<BootstrapState> parse_bootstrap_state(std::string_view name);

struct ReplicaBootstrap {
  std::string user;  // from the key
  std::string slot;  // from the key
  BootstrapState state = BootstrapState::kPending;
  int64_t since = 0;   // Unix time of the last change of state
  std::string reason;  // kFailed: one line saying why
};

class KeyLayout {
 public:
  // kConfigError for a prefix that is empty or does not start with '/'; a
  // missing final '/' is added.
  static Result<KeyLayout> make(std::string_view prefix);
  const std::string& prefix() const { return prefix_; }

  std::string slots_prefix() const { return prefix_ + "slots/"; }
  std::string slot_key(std::string_view slot) const { return slots_prefix() + std::string(slot); }
  std::string users_prefix() const { return prefix_ + "users/"; }
  std::string user_key(std::string_view user) const { return users_prefix() + std::string(user); }
  std::string bootstrap_prefix() const { return prefix_ + "bootstrap/"; }
  std::string bootstrap_user_prefix(std::string_view user) const {
    return bootstrap_prefix() + std::string(user) + "/";
  }
  std::string bootstrap_key(std::string_view user, std::string_view slot) const {
    return bootstrap_user_prefix(user) + std::string(slot);
  }

  // What a key of the layout names; nullopt for a key outside it (or with
  // a bad name in it).
  struct Parsed {
    enum class Kind { kSlot, kUser, kBootstrap };
    Kind kind;
    std::string user;  // kUser, kBootstrap
    std::string slot;  // kSlot, kBootstrap
  };
  std::optional<Parsed> parse(std::string_view key) const;

 private:
  explicit KeyLayout(std::string prefix) : prefix_(std::move(prefix)) {}
  std::string prefix_;
};

// Values. decode_* take the name(s) from the key and fail with
// kProtocolError naming what is wrong (the directory is shared: a bad value
// is reported, never trusted).
std::string encode_slot(const SlotInfo& slot);
Result<SlotInfo> decode_slot(std::string_view name, std::string_view value);
std::string encode_user(const UserEntry& user);
Result<UserEntry> decode_user(std::string_view user, std::string_view value);
std::string encode_bootstrap(const ReplicaBootstrap& b);
Result<ReplicaBootstrap> decode_bootstrap(std::string_view user, std::string_view slot,
                                          std::string_view value);

// The entry after making `slot` the user's primary: the old primary becomes
// a replica (first in the list), `slot` leaves the replicas.
UserEntry with_primary(UserEntry entry, std::string_view slot);

}  // namespace replimail::cluster
