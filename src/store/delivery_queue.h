// Group commit of concurrent deliveries into one mailbox, across processes.
//
// Each lmtpd is a process of its own, and deliveries into one mailbox take
// its write lock in turn: each paid its own directory fsync and its own WAL
// commit under the lock. With the queue, a delivery whose staged file is
// durable announces itself in a small shared file beside the mailbox's
// index (`cyrus.index.db-queue`, fixed slots) before it waits for the lock.
// Whoever takes the lock next (the leader) claims every delivery announced
// for that mailbox, links them all, flushes the directory once and commits
// them in one SQLite transaction (one WAL fsync), then writes each member's
// outcome into its slot while it still holds the lock. A member that then
// gets the lock finds its outcome there and answers: 250 only for a
// delivery whose record the leader committed, the failure of the group (a
// temporary one for an I/O error) otherwise.
//
// Crash safety: the order of durable steps is the one a single delivery
// has (staged file, then directory entry and log lines, then the index
// record); the queue file is never flushed and holds only coordination
// between live processes. The leader writes each member's UID into its
// slot before the commit, so a member whose leader died holding a claim
// (SIGKILL) tells, under the lock, whether that leader committed it: the
// record at that UID with its GUID, whose file is its staged file's inode
// (or which was expunged since). If not, the member's delivery is taken up
// again. A member that died is never adopted (its owner's PID is gone);
// slots of a previous boot (boot_id) are free.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"

namespace replimail::store {

class StagedMessage;

class DeliveryQueue {
 public:
  static constexpr const char* kFileSuffix = "-queue";  // beside cyrus.index.db
  static constexpr int kSlots = 32;

  // A delivery as the queue holds it.
  struct Entry {
    int slot = -1;
    uint64_t ticket = 0;  // the delivery's, unique
    pid_t owner = 0;
    std::string path;  // the staged file
    std::string guid;
    uint64_t size = 0;
    uint64_t ino = 0;
    bool check_quota = true;
    uint32_t uid = 0;  // set by a leader before its commit
  };
  // A delivery's outcome, once a leader settled it.
  struct Outcome {
    bool settled = false;
    Status status;
    uint32_t uid = 0;
    uint32_t uidvalidity = 0;
  };

  // Opens (creating) the queue of the mailbox whose index is `index_path`.
  static Result<DeliveryQueue> open(const std::string& index_path);
  DeliveryQueue(DeliveryQueue&& o) noexcept;
  DeliveryQueue& operator=(DeliveryQueue&&) = delete;
  DeliveryQueue(const DeliveryQueue&) = delete;
  ~DeliveryQueue();

  // Whether a delivery of `msg` to `mailbox` fits a slot (path and name
  // lengths).
  static bool fits(const std::string& mailbox, const StagedMessage& msg);

  // Announces a delivery of the durable staged `msg` to `mailbox`. The
  // returned entry's slot is -1 when every slot is taken (deliver alone).
  Result<Entry> announce(const std::string& mailbox, const StagedMessage& msg, bool check_quota);
  // Frees an announced delivery's slot if no leader claimed it (its owner
  // gives up before taking the lock). A claimed one stays to be settled.
  void withdraw(const Entry& e);

  // Under the mailbox's write lock: `e`'s outcome if a leader settled it
  // (the slot is then freed). If a leader claimed it and died (or failed
  // after its lock was released), `committed(uid, guid, ino)` tells whether
  // its record went in: if so it is settled as delivered, else it is
  // pending again.
  using Committed = std::function<bool(uint32_t uid, const std::string& guid, uint64_t ino)>;
  Result<Outcome> outcome(const Entry& e, uint32_t uidvalidity, const Committed& committed);

  // Under the mailbox's write lock, as the leader `leader` (its own
  // ticket): claims every delivery announced for `mailbox` whose owner is
  // alive, its own included; claims left by a dead leader are resolved with
  // `committed` first.
  Result<std::vector<Entry>> claim(const std::string& mailbox, uint64_t leader,
                                   uint32_t uidvalidity, const Committed& committed);
  // Records the UIDs the leader gave its claimed entries (before the
  // commit).
  Status note_uids(const std::vector<Entry>& claimed, uint64_t leader);
  // Writes each claimed entry's outcome (outcomes[i] for claimed[i]), for
  // the entries still claimed by `leader`; the leader's own slot
  // (`own_ticket`) is freed instead.
  void settle(const std::vector<Entry>& claimed, const std::vector<Outcome>& outcomes,
              uint64_t leader, uint64_t own_ticket);

  // How many deliveries to `mailbox` are announced and not yet claimed.
  Result<int> pending(const std::string& mailbox);

  // A fresh ticket (random, never 0).
  static uint64_t new_ticket();

 private:
  explicit DeliveryQueue(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  struct Slot;
  class Locked;

  int fd_ = -1;
  std::string path_;
};

}  // namespace replimail::store
