// Moving a user from its primary slot to another slot (cyr_cluster move;
// Cyrus's XFER, FastMail's slot moves), as a resumable sequence recorded in
// the directory's <prefix>moves/<user> key (directory_schema.h, MoveRecord):
//
//   start     the key created with a compare-and-swap on its absence, phase
//             copying: a second move of the user is refused while one runs
//   copying   replication passes of the user to the target slot's
//             sync_server, repeated until one finds nothing to send (the
//             source serves the user meanwhile)
//   fenced    the key's phase first, then the source's fence (writes for the
//             user refused there: store::Instance::user_fenced); passes
//             again until one finds nothing to send
//   switched  one etcd transaction, conditional on both keys' revisions:
//             the user entry names the target as primary (the source first
//             among the replicas, or left out) and the key says switched;
//             then the target's stale fence of the user (if it is a slot
//             the user left before) is lifted by the target's clusterd
//             (the command unfence-<user>, left with the record:
//             move_target.h), the source's sessions of the user ended (its
//             fence stays) and the key deleted
//
// The directory's user entry changes once, atomically, so at every instant
// it names exactly one primary; the source refuses the user's writes from
// before its last pass until after that flip, so nothing accepted there is
// left behind. A move killed in any phase is continued by resume() (every
// step is idempotent) or, before the flip, undone by abort() (fence lifted,
// key deleted, the user where it was). After the flip abort() refuses:
// resume() finishes.
//
// Thread-compatible: one Mover per move.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "cluster/directory.h"
#include "cluster/directory_schema.h"

namespace replimail::cluster {

// What a move needs of the source slot: its per-user fence and one
// replication pass of the user to the target. Implemented over the source
// instance's store and sync client (move_source.h); tests can fake it.
class MoveSource {
 public:
  virtual ~MoveSource() = default;
  // This source's slot name (cluster_slot_name): a move is run where the
  // user's primary is, as the fence is a local file of that instance.
  virtual std::string slot() const = 0;
  // Sets the user's fence; idempotent, durable when it returns.
  virtual Status fence(const std::string& user) = 0;
  // Lifts it; `moved_away`: the user now lives on the target, so sessions
  // still open here are ended (store::Instance::user_moved_at) and the
  // fence stays, deferring what a stale route still sends here.
  virtual Status lift_fence(const std::string& user, bool moved_away) = 0;
  // One full replication pass of the user to `target`'s sync_server: how
  // many changes it sent (messages uploaded + mailboxes applied); 0 means
  // the target already had everything.
  virtual Result<uint64_t> sync_pass(const std::string& user, const SlotInfo& target) = 0;
};

struct MoveOptions {
  // After the switch the source stays one of the user's replicas (false:
  // it leaves the user entry; its copy of the data is left in place).
  bool keep_source = true;
  // Copy passes before fencing even if the last one still sent something
  // (a user receiving mail faster than one pass lasts): the fenced passes
  // then send the rest, with a longer pause.
  int max_copy_passes = 10;
  // Fenced passes that may still send something before the move gives up
  // (each pass sends only what the previous one missed; under the fence
  // nothing new arrives, so the second finds nothing).
  int max_fenced_passes = 3;
  // How long the last step waits for the target's clusterd to run the
  // unfence command (move_target.h) before the move stops, switched
  // (--resume finishes it).
  std::chrono::milliseconds unfence_timeout{60000};
  // One line per step (phase changes, passes), for the operator.
  std::function<void(const std::string&)> progress;
};

struct MoveReport {
  MoveRecord record;           // as the move last wrote it
  int copy_passes = 0;         // passes before the fence
  uint64_t copied = 0;         // changes they sent
  int fenced_passes = 0;       // passes under the fence
  uint64_t copied_fenced = 0;  // changes those sent
  // From the fence set (the key's phase fenced) to the fence lifted and the
  // key deleted: how long the user's writes were refused. A resume counts
  // from its setting the fence again; zero for a resume after the switch.
  std::chrono::microseconds pause{0};
};

class Mover {
 public:
  Mover(Directory& dir, MoveSource& source, MoveOptions options = {});

  // Moves `user` to `target`. kInvalidArgument: the user's primary is not
  // this source, the target is the primary already, or is not alive (no
  // sync port); kMailboxLocked: a move of the user is recorded already
  // (resume or abort it); kNotFound: no such user.
  Result<MoveReport> move(const std::string& user, const std::string& target);
  // Continues the recorded move of `user` from its phase. kNotFound: none.
  Result<MoveReport> resume(const std::string& user);
  // Undoes the recorded move of `user` before its switch: the source's
  // fence lifted, the key deleted; the user entry was never changed.
  // kInvalidArgument after the switch (resume finishes it).
  Result<MoveRecord> abort(const std::string& user);

  // The recorded move of `user`, if any.
  Result<std::optional<MoveRecord>> recorded(const std::string& user);

 private:
  Result<MoveReport> run(MoveRecord rec);
  Status copy(MoveRecord& rec, MoveReport& report);
  Status fence(MoveRecord& rec, MoveReport& report);
  Status flip(MoveRecord& rec);
  Status finish(MoveRecord& rec);
  // The target's unfence command, pending (created or put back if absent
  // or failed), then waited for until done.
  Status target_unfenced(const MoveRecord& rec);
  // Writes `rec` at `phase` if its key is still at rec.mod_revision.
  Status set_phase(MoveRecord& rec, MovePhase phase);
  Result<SlotInfo> target_slot(const MoveRecord& rec);
  // Passes until one sends nothing, at most `max`: false if it never did.
  Result<bool> passes(const MoveRecord& rec, int max, int* count, uint64_t* sent);
  void say(const std::string& line) const;

  Directory& dir_;
  MoveSource& source_;
  MoveOptions opts_;
  std::optional<std::chrono::steady_clock::time_point> fenced_at_;
};

}  // namespace replimail::cluster
