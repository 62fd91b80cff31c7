// The target's side of a move (cluster/move.h): a slot a user left keeps
// that user's fence (<configdirectory>/fence/<user>, so that a stale route
// is deferred there, never accepted and lost); moving the user back must
// lift it, and only once the directory names the slot the user's primary,
// or the slot could accept the user's writes while another primary does.
//
// The mover leaves the command <prefix>commands/<target>/unfence-<user>
// (failover.h's SlotCommand, op unfence) when it records the move; the
// target's clusterd runs it (CommandRunner, every 250 ms) on its own host:
//   no fence here                       done ("no fence"): nothing to wait for
//   a fence, the entry names another    not yet (kAgain): stays pending
//   a fence, the entry names this slot  the fence removed (durably), done
// The mover's last step (after the switch, while the moves key still says
// switched, so proxies keep the user waiting) waits for the command to be
// done, then deletes it with the moves key.
#pragma once

#include <optional>
#include <string>

#include "cluster/directory.h"
#include "cluster/directory_schema.h"
#include "store/instance.h"

namespace replimail::cluster {

enum class UnfenceStep { kNothing, kNotYet, kLift };

// Pure: what slot `self` does for `user`'s unfence command, from the user's
// directory entry (nullopt: not in the directory) and whether the user is
// fenced on `self`.
UnfenceStep decide_unfence(const std::string& self, const std::optional<UserEntry>& entry,
                           bool fenced_here);

// Runs the unfence command of `user` on slot `self`, whose store is
// `instance`: a line saying what it did, or kAgain while the directory
// does not name `self` the user's primary and the fence must stay.
Result<std::string> run_unfence(Directory& dir, const std::string& self, store::Instance& instance,
                                const std::string& user);

}  // namespace replimail::cluster
