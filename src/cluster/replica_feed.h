// A primary slot feeding the replica slots its users are placed on (docs/
// CLUSTER.md "Replicas placed by policy"), run by the slot's clusterd.
//
// Every round it reads the users whose primary is this slot: each replica
// slot named by one of them must be fed by a replication channel of this
// instance (cluster::channel_for_slot(replica), its sync host the replica's
// registered sync_server), if that slot is registered with role replica
// (placement.h's candidates; a primary-role slot named as a replica, the
// source of a move, is not fed: its key stays pending with the reason).
// A missing channel is added through the hook,
// which is cyr_promote's channel-adding steps (admin/promote.h's
// add_channels: imapd.conf, cyrus.conf's rolling sync_client, master
// SIGHUP); master then records the new channel bootstrapping (issue 15)
// and its rolling client fills the replica (-A) before it rolls.
//
// And it writes each user's `bootstrap/<user>/<replica>` key from the
// channel's state: pending (no channel yet, or not recorded yet: the
// reason says which), bootstrapping, rolling, failed (the channel's
// one-line reason). A key is written only when its state or reason
// changes; the keys of its users' replicas that are no longer named go.
// Replication is per instance, so every user of the slot placed on the
// same replica has the same state there.
//
// And it removes the channels it owns that no user of this slot names any
// more (a replica slot removed from the cluster, users placed elsewhere or
// moved away): cyr_promote's channel-removing steps (admin::remove_channels:
// the channel leaves imapd.conf, its rolling client cyrus.conf; its pending
// log stays on disk for the operator, named in the log). "Owns" means
// clusterd added it, by placement or by a promotion it ran; the record
// (owned_channels_path) survives restarts. A channel set up by hand is
// never removed. Nothing is removed while this slot is being promoted (its
// users are flipped to it only after the promotion's channels exist) or
// failed over (the rejoin drops every channel itself).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cluster/directory.h"
#include "store/mboxlist.h"

namespace replimail::cluster {

// One replication channel of this instance, as its configuration and
// mailboxes.db have it.
struct FeedChannel {
  std::string sync_address;                  // "host:port" it sends to
  std::optional<store::ChannelState> phase;  // none: not recorded yet
};

// What one round looks at.
struct FeedView {
  std::string slot;                               // this primary slot
  std::vector<UserEntry> users;                   // every user entry
  std::map<std::string, SlotInfo> members;        // last registrations
  std::map<std::string, FeedChannel> channels;    // by channel name
  std::vector<ReplicaBootstrap> keys;             // the bootstrap keys of the users here
  std::map<std::string, std::string> add_failed;  // channel -> why its last addition failed
  // A failover away from this slot is under way (a promote-<slot> or its
  // rejoin command exists): its users are about to leave it, and its rejoin
  // drops its channels, so none is added.
  bool failing_over = false;
  // A promotion of this slot is under way (a commands/<slot>/promote-*
  // key): the users it takes over are not flipped to it yet.
  bool being_promoted = false;
  std::set<std::string> owned;  // channels clusterd added here (the record)
  int64_t now = 0;              // Unix seconds
};

// A channel to add (or whose sync host to set again).
struct FeedTarget {
  std::string slot;
  std::string channel;
  std::string sync_address;
  bool operator==(const FeedTarget&) const = default;
};

struct FeedPlan {
  std::vector<FeedTarget> add;
  std::vector<ReplicaBootstrap> put;                        // keys whose state or reason changed
  std::vector<std::pair<std::string, std::string>> remove;  // (user, slot)
  std::vector<std::string> drop;    // owned channels no user of this slot needs
  std::vector<std::string> disown;  // owned channels gone already: forget them
};

// One round's decisions, pure.
FeedPlan plan_feed(const FeedView& view);

class ReplicaFeeder {
 public:
  struct Hooks {
    // This instance's replication channels now (re-read each round).
    std::function<Result<std::map<std::string, FeedChannel>>()> channels;
    // Adds the channels (one call per round with all of them).
    std::function<Status(const std::vector<FeedTarget>&)> add_channels;
    // Removes the channels (one call per round with all of them).
    std::function<Status(const std::vector<std::string>&)> remove_channels;
    // The record of the channels clusterd owns here: read, and changed
    // (channels added to it, others taken out) in one step.
    std::function<Result<std::set<std::string>>()> owned;
    std::function<Status(const std::set<std::string>& own, const std::set<std::string>& disown)>
        update_owned;
  };
  ReplicaFeeder(Directory& dir, std::string slot, Hooks hooks);

  // A round every `period` until `stop`.
  void run(const std::atomic<bool>& stop,
           std::chrono::milliseconds period = std::chrono::milliseconds(1000));
  // One round (public for tests).
  Status round();

 private:
  Result<FeedView> read_view();
  // Writes the plan's keys; kAgain if etcd did not take them all.
  Status write_keys(const FeedPlan& plan);
  // Adds the plan's channels (owned from before they exist); the view's
  // channels read again afterwards.
  Status add(FeedView& view, const FeedPlan& plan);
  // Removes the plan's dropped channels and forgets the disowned ones.
  Status drop(const FeedPlan& plan);

  Directory& dir_;
  std::string slot_;
  Hooks hooks_;
  std::map<std::string, std::string> add_failed_;
};

// The record of owned channels: one name per line, in
// <configdirectory>/clusterd.channels. Missing: none owned.
std::string owned_channels_path(const std::string& configdirectory);
Result<std::set<std::string>> read_owned_channels(const std::string& path);
Status write_owned_channels(const std::string& path, const std::set<std::string>& channels);
// Reads the record, adds `own`, takes out `disown`, writes it if changed.
// The caller serialises updates of one record.
Status update_owned_channels(const std::string& path, const std::set<std::string>& own,
                             const std::set<std::string>& disown);

}  // namespace replimail::cluster
