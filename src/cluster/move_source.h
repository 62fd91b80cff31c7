// The MoveSource of a move run on the source slot's host (cyr_cluster move
// -C <the source's imapd.conf>): the fence is the instance's per-user fence
// file (store::Instance::set_user_fence), a pass is sync_client -u's
// SyncClient::sync_user to the target slot's sync_server, logging in with
// the channel's credentials (<channel>_sync_authname / _sync_password, the
// default channel's sync_authname when `channel` is empty).
#pragma once

#include <chrono>
#include <set>
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
  //
  // When this instance also replicates to the target through a rolling
  // channel (one of its replica channels whose sync host is the target's
  // sync_server: the target is a replica of this slot already), the pass
  // first waits, at most `kChannelWait`, for that channel to apply what is
  // logged (synclog::wait_channel_applied). Otherwise the channel applies
  // the user's latest changes under the pass, which is then refused with
  // IMAP_SYNC_CHECKSUM (or applies an older state with FORCE that the next
  // sync corrects), and under load every pass can be refused, those under
  // the fence too, while the channel works off its backlog. Under the fence
  // nothing new is logged for the user, so after the wait the channel
  // leaves the user alone and the pass runs alone. A channel that does not
  // catch up in time is not waited for again by this source.
  Result<uint64_t> sync_pass(const std::string& user, const SlotInfo& target) override;

  static constexpr std::chrono::milliseconds kChannelWait{10000};

 private:
  // Waits for this instance's rolling channels into `target` (above).
  void wait_for_channels_to(const SlotInfo& target);

  store::Instance& instance_;
  const Config& cfg_;
  std::string slot_;
  std::string channel_;
  std::set<std::string> not_waited_;  // channels that did not catch up in time
};

}  // namespace replimail::cluster
