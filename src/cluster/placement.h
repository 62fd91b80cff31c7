// Replica placement (issue 19, docs/CLUSTER.md "Replicas placed by
// policy"), pure: which slots hold a user's replicas. No I/O: placer.h
// reads the directory and writes the entries chosen here.
//
// The rules, in order:
//   1. A replica is never on the host of the user's primary slot, and no
//      two replicas of a user share a host (a host lost takes one copy).
//   2. Replicas the user already has are kept when they obey rule 1 and
//      their slot is known (it has a members/ key: it registered once and
//      was not removed with `cyr_cluster remove-slot`); a slot dead for now
//      is kept (it will come back and catch up). The others are dropped.
//   3. New replicas are chosen among the replica slots alive now (registered
//      with role `replica`: a primary-role instance serves its own users,
//      and feeding it another primary's whole instance would mix the two),
//      first those the
//      user's primary slot feeds already (another of its users has them as
//      replica): replication runs per slot pair (the primary's channel to a
//      replica slot carries the whole instance), so a primary's users
//      sharing replica slots costs no new channel and no new full sync.
//      Then the slot holding the fewest users (as primary or replica), then
//      by name (so that the choice is reproducible).
//   4. A user that would end with fewer than the wanted replicas is left
//      as it is, with the reason: placing it partly would hide the problem.
//      Placement only adds: a user with more replicas keeps them.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "cluster/directory_schema.h"
#include "common/status.h"

namespace replimail::cluster {

// What placement looks at, as read from the directory.
struct PlacementView {
  // slot -> host: alive now with role replica (where new replicas go)
  std::map<std::string, std::string> candidates;
  std::map<std::string, std::string> known;  // slot -> host: members/ (the alive ones too)
  std::vector<UserEntry> users;              // every user entry
};

struct Placement {
  UserEntry entry;                   // the user's entry after placement
  std::vector<std::string> added;    // replica slots chosen now
  std::vector<std::string> dropped;  // replicas left out (rule 2)
  bool changed() const { return !added.empty() || !dropped.empty(); }
};

// The user's entry with `wanted` replicas placed by the rules above.
// Refused with kAgain when too few hosts have a candidate slot (a slot that
// registers later changes that; the message names the hosts counted), with
// kNotFound when the primary slot is unknown (no members/ key: its host
// cannot be told).
Result<Placement> place_replicas(const PlacementView& view, const UserEntry& user, size_t wanted);

// Every user of `users` (in that order) placed, each seeing the choices
// made for the ones before (rule 3's counts): what `cyr_cluster place
// --all` writes after a slot was added or removed.
struct PlacementRound {
  std::vector<Placement> placed;     // changed entries only
  std::vector<std::string> refused;  // one line per user left as it was
};
PlacementRound place_users(PlacementView view, const std::vector<std::string>& users,
                           size_t wanted);

}  // namespace replimail::cluster
