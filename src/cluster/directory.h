// The cluster directory in etcd (directory_schema.h's keys) as operations:
// what clusterd, mailauthd and cyr_cluster read and write. Every write that
// depends on what was read is a compare-and-swap on the key's mod_revision,
// so two writers never lose each other's change.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cluster/directory_schema.h"
#include "cluster/etcd_client.h"

namespace replimail::cluster {

class Directory {
 public:
  Directory(EtcdClient& etcd, KeyLayout layout) : etcd_(etcd), layout_(std::move(layout)) {}
  const KeyLayout& layout() const { return layout_; }
  EtcdClient& etcd() { return etcd_; }

  // The slots alive now (their lease held), by name. A value that does not
  // decode is left out and logged.
  Result<std::vector<SlotInfo>> slots();
  // nullopt: no such slot alive.
  Result<std::optional<SlotInfo>> slot(std::string_view name);

  // Every slot's last registration (members/, alive or not), by name; a
  // value that does not decode is left out.
  Result<std::map<std::string, SlotInfo>> members();

  Result<std::optional<UserEntry>> user(std::string_view name);
  // Every user entry (for tools and, later, the controller).
  Result<std::vector<UserEntry>> users();
  // Writes the user's entry if its key is still at `expected_mod_revision`
  // (0: the user must not exist yet). kSyncChanged when someone else wrote
  // it meanwhile (read it again).
  Status put_user(const UserEntry& entry, int64_t expected_mod_revision);
  // Makes `slot` the user's primary (the old one becomes a replica), read
  // and compare-and-swap, retried while others write the same user.
  // kNotFound: no such user.
  Result<UserEntry> set_primary(std::string_view user, std::string_view slot);
  Status remove_user(std::string_view user);

  Status put_bootstrap(const ReplicaBootstrap& b);
  Result<std::vector<ReplicaBootstrap>> bootstraps(std::string_view user);

  // The user's move in progress (`<prefix>moves/<user>`), nullopt when none;
  // kProtocolError for a value that does not decode.
  Result<std::optional<MoveRecord>> move(std::string_view user);

  // Where a login of `user` goes: the primary slot's registration.
  // kNotFound: the user is not in the directory (a permanent answer);
  // kAgain: its primary slot is not alive now (a failover will move it).
  Result<SlotInfo> route(std::string_view user);

  // What routing one user's mail needs (lmtpproxyd, per recipient): move()
  // and route() from one read, an etcd transaction reading the move key, the
  // user entry and the slots' registrations at one revision (so a flip can
  // not fall between them). The slots' range carries every registration
  // (about 150 bytes each); a watch-fed cache is the next step if that
  // becomes too much per recipient.
  struct UserRoute {
    Result<std::optional<MoveRecord>> move;
    Result<SlotInfo> primary;
  };
  UserRoute user_route(std::string_view user);

 private:
  // user(), with "no such user" as kNotFound.
  Result<UserEntry> user_entry_or_status(std::string_view name);
  // The values of ranges read by the calls above (the key alone, its first
  // kv if any).
  Result<std::optional<MoveRecord>> move_from(std::string_view user, const RangeResult& r) const;
  Result<std::optional<UserEntry>> user_from(std::string_view name, const RangeResult& r) const;
  Result<std::optional<SlotInfo>> slot_from(std::string_view name, const KeyValue* kv) const;
  // route()'s answer once the user's entry and its primary's registration
  // are read.
  static Result<SlotInfo> primary_of(const UserEntry& u, Result<std::optional<SlotInfo>> slot);

  EtcdClient& etcd_;
  KeyLayout layout_;
};

}  // namespace replimail::cluster
