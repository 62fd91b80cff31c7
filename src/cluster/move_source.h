// The MoveSource of a move run on the source slot's host (cyr_cluster move
// -C <the source's imapd.conf>): the fence is the instance's per-user fence
// file (store::Instance::set_user_fence), a pass is sync_client -u's
// SyncClient::sync_user to the target slot's sync_server, logging in with
// the channel's credentials (<channel>_sync_authname / _sync_password, the
// default channel's sync_authname when `channel` is empty).
#pragma once

#include <string>

#include "cluster/move.h"
#include "common/config.h"
#include "store/instance.h"

namespace replimail::cluster {

class LocalMoveSource : public MoveSource {
 public:
  // `instance` is the source's store; `cfg` its imapd.conf (the slot name
  // and the channel's credentials).
  LocalMoveSource(store::Instance& instance, const Config& cfg, std::string slot,
                  std::string channel);

  std::string slot() const override { return slot_; }
  Status fence(const std::string& user) override;
  Status lift_fence(const std::string& user, bool moved_away) override;
  // The pass never changes the source (no copyback: a full update would
  // write here) and sends with FORCE, as the target's copy is to become
  // the source's exactly.
  Result<uint64_t> sync_pass(const std::string& user, const SlotInfo& target) override;

 private:
  store::Instance& instance_;
  const Config& cfg_;
  std::string slot_;
  std::string channel_;
};

}  // namespace replimail::cluster
