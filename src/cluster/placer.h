// Replica placement against the directory (docs/CLUSTER.md "Replicas
// placed by policy"): reads what placement.h's policy looks at, writes the
// entries it chose (each a compare-and-swap on the user's revision), and
// removes a slot from the cluster. What `cyr_cluster place` and
// `cyr_cluster remove-slot` run.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "cluster/directory.h"
#include "cluster/placement.h"

namespace replimail::cluster {

// The slots alive (slots/), the slots known (members/) and every user.
Result<PlacementView> read_placement_view(Directory& dir);

// Places `users` (every user in the directory when empty) with `wanted`
// replicas each and writes the entries that change. A user written by
// someone else meanwhile is read and placed again (a few times, then
// refused). Users refused by the policy are left as they were and listed.
Result<PlacementRound> place_and_write(Directory& dir, const std::vector<std::string>& users,
                                       size_t wanted);

// Removes `slot` from the cluster: its members/ key goes, so placement no
// longer keeps it as a replica. Refused (kInvalidArgument) while the slot
// is alive or is some user's primary (move or fail those users over
// first). The users that had it as a replica, for placing again.
Result<std::vector<std::string>> remove_slot(Directory& dir, const std::string& slot);

}  // namespace replimail::cluster
