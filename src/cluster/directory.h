// The cluster directory in etcd (directory_schema.h's keys) as operations:
// what clusterd, mailauthd and cyr_cluster read and write. Every write that
// depends on what was read is a compare-and-swap on the key's mod_revision,
// so two writers never lose each other's change.
#pragma once

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

 private:
  // user(), with "no such user" as kNotFound.
  Result<UserEntry> user_entry_or_status(std::string_view name);

  EtcdClient& etcd_;
  KeyLayout layout_;
};

}  // namespace replimail::cluster
