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
//   <prefix>moves/<user>              MoveRecord (JSON): a move of the user
//                                     between slots in progress, and whether
//                                     its writes are fenced (cyr_cluster move)
//   <prefix>members/<slot>            SlotInfo: the slot's last registration,
//                                     no lease (outlives the slot)
//   <prefix>controller                the failover controller's slot name,
//                                     under its lease (cluster/failover.h)
//   <prefix>replication/<slot>        ReplicationReport: how far each of the
//                                     primary slot's replicas has applied
//   <prefix>commands/<slot>/<name>    SlotCommand: a promotion or rejoin the
//                                     controller asks <slot>'s clusterd to run
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

// A move of one user from its primary slot to another (cyr_cluster move,
// cluster/move.h). Its phases, in order; the key is deleted when the move
// ends (done or aborted):
//   copying   the target receives the user by replication; the source
//             serves the user as before
//   fenced    writes for the user are refused on the source (a temporary
//             error: LMTP 451 4.2.1, IMAP NO [UNAVAILABLE]) while the final
//             pass runs; the user entry still names the source
//   switched  the user entry names the target as primary (flipped with a
//             compare-and-swap); the source's fence is still up until it is
//             lifted and the key deleted
// A proxy (mailauthd, lmtpproxyd) treats a user whose move is fenced or
// switched (move_is_fenced) as temporarily unavailable: a delivery gets
// 451 4.2.1 so that the MTA retries, a login "try again later". Between the
// flip and the key's deletion, routing by the user entry is already right;
// refusing until the key goes keeps the pause one window for every client.
enum class MovePhase { kCopying, kFenced, kSwitched };
std::string_view move_phase_name(MovePhase p);
std::optional<MovePhase> parse_move_phase(std::string_view name);

struct MoveRecord {
  std::string user;    // from the key
  std::string source;  // the primary slot when the move began
  std::string target;  // the slot that becomes the primary
  MovePhase phase = MovePhase::kCopying;
  int64_t started = 0;  // Unix time the move began
  int64_t since = 0;    // Unix time of the last change of phase
  // After the switch the source stays one of the user's replicas (true) or
  // leaves the user entry (false: cyr_cluster move --remove-source).
  bool keep_source = true;
  int64_t mod_revision = 0;  // etcd's, for compare-and-swap
};

// True while writes for the user are paused (phases fenced and switched).
inline bool move_is_fenced(const MoveRecord& m) { return m.phase != MovePhase::kCopying; }

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
  std::string moves_prefix() const { return prefix_ + "moves/"; }
  std::string move_key(std::string_view user) const { return moves_prefix() + std::string(user); }

  std::string members_prefix() const { return prefix_ + "members/"; }
  std::string member_key(std::string_view slot) const {
    return members_prefix() + std::string(slot);
  }
  std::string controller_key() const { return prefix_ + "controller"; }
  std::string replication_prefix() const { return prefix_ + "replication/"; }
  std::string replication_key(std::string_view slot) const {
    return replication_prefix() + std::string(slot);
  }
  std::string commands_prefix() const { return prefix_ + "commands/"; }
  std::string slot_commands_prefix(std::string_view slot) const {
    return commands_prefix() + std::string(slot) + "/";
  }
  std::string command_key(std::string_view slot, std::string_view name) const {
    return slot_commands_prefix(slot) + std::string(name);
  }

  // What a key of the layout names; nullopt for a key outside it (or with
  // a bad name in it).
  struct Parsed {
    enum class Kind { kSlot, kUser, kBootstrap, kMove };
    Kind kind;
    std::string user;  // kUser, kBootstrap, kMove
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
// A move whose source and target are the same slot, or that names a bad
// slot, is refused.
std::string encode_move(const MoveRecord& m);
Result<MoveRecord> decode_move(std::string_view user, std::string_view value);

// "host:port" of a slot's sync_server, "" when it has none.
std::string sync_address(const SlotInfo& s);

// The entry after making `slot` the user's primary: the old primary becomes
// a replica (first in the list), `slot` leaves the replicas.
UserEntry with_primary(UserEntry entry, std::string_view slot);

}  // namespace replimail::cluster
