// The failover controller and the slot side of its commands (docs/CLUSTER.md
// "Automatic failover"), run by clusterd.
//
// Controller: one at a time in the whole cluster, elected through etcd.
// Each candidate (every clusterd with cluster_controller: yes) tries to
// create <prefix>controller (a transaction: only if the key does not exist)
// with its slot name, attached to a lease of cluster_lease_ttl it keeps
// alive. The holder runs a round every 300 ms (failover.h's plan_failover
// over what it reads). Fencing: every write it makes is a transaction that
// also compares the controller key's create_revision with the one it
// created, so a controller whose lease expired (its slot dead, cut off, or
// stalled longer than the TTL) can no longer change anything, whatever it
// believes; it notices (keepalive answers "expired", or a write refused for
// the fence) and stands again as a candidate.
//
// CommandRunner: every clusterd runs the commands the controller leaves for
// its slot (<prefix>commands/<slot>/...): a promotion or a rejoin, through
// the handler clusterd gives it (admin/promote.h's steps, which must run on
// the slot's own host), then marks the command done or failed with a
// compare-and-swap. A rejoin command, once done, is deleted. A handler
// answering kAgain leaves the command pending, to be run again (a move's
// unfence, cluster/move_target.h, waits so for the directory's switch).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <set>
#include <string>

#include "cluster/directory_schema.h"
#include "cluster/etcd_client.h"
#include "cluster/failover.h"

namespace replimail::cluster {

class Controller {
 public:
  Controller(EtcdClient& etcd, KeyLayout layout, std::string self, std::chrono::seconds ttl);

  // Stands for election and, while holding the key, runs rounds, until
  // `stop`; then gives the key up (revokes the lease).
  void run(const std::atomic<bool>& stop);

  // One round as the holder of the controller key created at
  // `my_revision` (public for tests). kAborted: the fence refused a write
  // (another controller holds the key now).
  Status round(int64_t my_revision);

 private:
  // True once this candidate holds the key (lease_ and revision_ set).
  bool campaign();
  Result<ClusterView> read_view();
  // A transaction fenced by the controller key.
  Result<TxnResult> fenced(Txn t, int64_t my_revision);

  EtcdClient& etcd_;
  KeyLayout layout_;
  std::string self_;
  std::chrono::seconds ttl_;
  int64_t lease_ = 0;
  int64_t revision_ = 0;
  std::set<std::string> said_;  // waiting lines already logged
};

class CommandRunner {
 public:
  // Runs one command on this slot: a line saying what it did, or a failure.
  using Handler = std::function<Result<std::string>(const SlotCommand&)>;
  CommandRunner(EtcdClient& etcd, KeyLayout layout, std::string slot, Handler handler);

  // Looks for pending commands every `period` until `stop`.
  void run(const std::atomic<bool>& stop,
           std::chrono::milliseconds period = std::chrono::milliseconds(250));
  // One look: runs every pending command of the slot (public for tests).
  Status run_pending();

 private:
  EtcdClient& etcd_;
  KeyLayout layout_;
  std::string slot_;
  Handler handler_;
};

}  // namespace replimail::cluster
