// Automatic failover's values and decisions (docs/CLUSTER.md "Automatic
// failover"), pure: what a primary slot publishes about its replicas, the
// commands the controller leaves for a slot's clusterd, and the plan of one
// controller round. No I/O: controller.h reads and writes etcd.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cluster/directory_schema.h"
#include "common/status.h"

namespace replimail::cluster {

// <prefix>replication/<slot>: how far each replica of a primary slot has
// applied, published by the primary's clusterd every TTL/3 and kept after
// it dies (no lease). complete_through_ms[replica]: every change committed
// on the primary before that Unix time (ms) was applied on the replica when
// the report was made (the age of the channel's oldest unreplicated line;
// `at_ms` itself when nothing was pending; 0 while it bootstraps).
struct ReplicationReport {
  std::string slot;  // the primary, from the key
  int64_t at_ms = 0;
  std::map<std::string, int64_t> complete_through_ms;  // by channel_for_slot(replica)
};
std::string encode_replication(const ReplicationReport& r);
Result<ReplicationReport> decode_replication(std::string_view slot, std::string_view value);

// <prefix>commands/<slot>/<name>: work the controller asks <slot>'s
// clusterd to run there, then to mark done (or failed) with a
// compare-and-swap. Names: "promote-<old primary>", "rejoin", and
// "unfence-<user>" (left by a move to this slot, cluster/move_target.h).
struct SlotCommand {
  enum class Op { kPromote, kRejoin, kUnfence };
  enum class State { kPending, kDone, kFailed };
  std::string slot;  // who runs it, from the key
  std::string name;  // from the key
  Op op = Op::kPromote;
  State state = State::kPending;
  std::string old_primary;       // kPromote: the dead primary slot
  std::string old_primary_sync;  // kPromote: its sync_server, "host:port"
  // kPromote: the other live replicas the promoted slot feeds from then
  // on: slot -> "host:port" of its sync_server.
  std::map<std::string, std::string> replicas;
  std::string user;          // kUnfence: the user moving to this slot
  std::string controller;    // the controller (or mover) that made it
  std::string result;        // a line saying what the run did, or why it failed
  int64_t mod_revision = 0;  // etcd's, from the key
};
std::string encode_command(const SlotCommand& c);
Result<SlotCommand> decode_command(std::string_view slot, std::string_view name,
                                   std::string_view value);
std::string promote_command_name(std::string_view old_primary);
inline constexpr std::string_view kRejoinCommand = "rejoin";
std::string unfence_command_name(std::string_view user);

// The replication channel a slot is fed on, named after it: lower case (as
// imapd.conf's keys, so that <channel>_sync_host is found) and a '.'
// becomes '_' (channel names take letters, digits, '_' and '-').
std::string channel_for_slot(std::string_view slot);

// The replica to promote for `user`: among its replicas alive now, the one
// whose complete_through_ms in `report` (its dead primary's last report) is
// greatest; a replica the report does not list, or no report, counts as 0;
// ties go to the first in the user's list. nullopt: no replica alive.
std::optional<std::string> choose_replica(const UserEntry& user, const std::set<std::string>& alive,
                                          const std::optional<ReplicationReport>& report);

// What the directory holds, as one controller round reads it.
struct ClusterView {
  std::vector<UserEntry> users;
  std::set<std::string> alive;                       // slots registered now
  std::map<std::string, SlotInfo> members;           // last registrations
  std::map<std::string, ReplicationReport> reports;  // by primary slot
  std::vector<SlotCommand> commands;
};

// One round's work. A user is failed over when its primary is not alive,
// or when a promotion away from its primary is already under way (so a
// primary that comes back mid-failover is still made a replica: the
// promoted slot already takes writes). A promotion under way for the
// user's primary to one of its replicas is followed (a new controller
// finishes its predecessor's work, never starts a second one); otherwise
// choose_replica picks, and the promote command (and the old primary's
// rejoin command) is created. Users are flipped once their promote command
// is done; a done promote command no user still needs is removed.
struct FailoverPlan {
  std::vector<SlotCommand> create;  // commands to create (they do not exist)
  std::vector<UserEntry> flip;      // new entries; mod_revision as read
  std::vector<std::pair<std::string, std::string>> remove;  // (slot, name)
  std::vector<std::string> waiting;                         // why a user cannot be failed over yet
};
FailoverPlan plan_failover(const ClusterView& view, const std::string& controller);

}  // namespace replimail::cluster
