// What a cluster slot's bootstrap may send (sync/bootstrap.h's
// user_verdict; docs/CLUSTER.md "A move onto a slot whose channel is still
// bootstrapping"). A new channel bootstraps its replica with every user its
// slot holds, and a slot holds copies it is not the primary of:
//   the copy a move to this slot is filling (moves/<user>, target this
//   slot, not switched yet): left for a later run (kLater), sent once the
//   move has switched (this slot is then the primary) or was aborted and
//   its key deleted;
//   the copy a move from this slot has switched away (moves/<user>, source
//   this slot, switched): never this slot's to send (kNotOurs); once the
//   move is done the instance's own fence and moved file say the same
//   (sync::local_user_verdict).
// Anything else is sent, as before. The directory read fails (etcd down):
// kLater, as the move could be under way; and for the next 5 s every user
// is kLater without asking (a bootstrap of many users would otherwise wait
// out the client's timeout once per user).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "cluster/directory.h"
#include "cluster/directory_schema.h"
#include "cluster/etcd_client.h"
#include "common/config.h"
#include "common/status.h"
#include "sync/bootstrap.h"

namespace replimail::cluster {

// Pure: slot `self`'s verdict on a user whose moves key is `move`
// (nullopt: no move recorded).
sync::UserVerdict bootstrap_verdict(const std::string& self, const std::optional<MoveRecord>& move);

class BootstrapGate {
 public:
  // The gate of the slot `config` describes; nullptr when it is not a
  // cluster slot's (cluster_etcd_endpoints or cluster_slot_name unset);
  // kConfigError for cluster options that are set but bad.
  static Result<std::unique_ptr<BootstrapGate>> from_config(const Config& config);
  BootstrapGate(std::string self, EtcdSettings etcd, KeyLayout layout);

  // One read of the user's moves key (none while the directory is taken
  // for down).
  sync::UserVerdict verdict(const std::string& user);
  // How many times verdict() asked the directory.
  size_t directory_reads() const { return reads_; }

  static constexpr std::chrono::seconds kDownFor{5};

 private:
  std::string self_;
  size_t reads_ = 0;
  std::chrono::steady_clock::time_point down_until_{};
  std::string down_why_;
  EtcdClient etcd_;
  Directory directory_;
};

}  // namespace replimail::cluster
