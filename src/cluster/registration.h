// A slot's registration in the cluster directory (clusterd's work): the
// slot key under a lease the registrar keeps alive, so that the key lives
// exactly as long as the slot does. clusterd runs as a DAEMON of the slot's
// master, which SIGKILLs it when master dies however master dies (spawn's
// death signal): a dead slot's key goes when its lease's TTL runs out, a
// slot stopped cleanly revokes its lease and its key goes at once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>

#include "cluster/directory_schema.h"
#include "cluster/etcd_client.h"
#include "common/config.h"
#include "master/cyrus_conf.h"

namespace replimail::cluster {

// The cluster options of imapd.conf (docs/CLUSTER.md).
struct ClusterOptions {
  std::string endpoints;         // cluster_etcd_endpoints, as written
  EtcdSettings etcd;             // it parsed, with cluster_etcd_cacert etc.
  std::string prefix;            // cluster_etcd_prefix
  std::string slot;              // cluster_slot_name
  std::string host;              // cluster_slot_host
  std::string role;              // cluster_slot_role
  std::chrono::seconds ttl{10};  // cluster_lease_ttl
  bool controller = false;       // cluster_controller
};
// kConfigError when cluster_etcd_endpoints is unset or a value is bad (the
// cluster_etcd_* files too: etcd_settings());
// `need_slot`: cluster_slot_name must be set too (clusterd).
Result<ClusterOptions> cluster_options(const Config& config, bool need_slot);

// What the slot announces: its ports are the inet listen= of its cyrus.conf
// SERVICES (imapd and pop3d without -s, lmtpd, sync_server), its host
// cluster_slot_host or else the imap service's listen address. Pure.
Result<SlotInfo> slot_info(const ClusterOptions& options, const master::CyrusConf& conf);

class SlotRegistrar {
 public:
  SlotRegistrar(EtcdClient& etcd, KeyLayout layout, SlotInfo slot, std::chrono::seconds ttl);

  // Registers, then keeps the lease alive (every TTL/3) until `stop` (and
  // wake()): a lease that expired (etcd unreachable longer than the TTL) or
  // a slot key deleted by someone else is registered again; etcd errors are
  // logged and retried every second. At stop the lease is revoked.
  void run(const std::atomic<bool>& stop);
  // Makes run() look at `stop` now (from a signal-handling thread).
  void wake();

  // Called from run()'s thread: `lease_lost` once the slot's lease is
  // lost (no renewal for a whole TTL while etcd cannot be reached, or
  // etcd says it expired): the controller may be failing the slot over;
  // `registered` after every registration (the first and each one after a
  // loss). Set before run().
  struct Hooks {
    std::function<void()> lease_lost;
    std::function<void()> registered;
  };
  void set_hooks(Hooks hooks) { hooks_ = std::move(hooks); }

  // The slot's role changed (a promotion or a rejoin wrote it to
  // imapd.conf): run() puts the slot key again with it, under the same
  // lease (or registers with it next). Any thread.
  void set_role(const std::string& role);

  // One registration: a new lease and the slot key attached to it.
  Status register_once();
  int64_t lease() const { return lease_; }

 private:
  // Watches the slot key; a deletion makes run() register again.
  void watch_own_key(const std::atomic<bool>& stop);
  // The slot's key deleted by someone else while the lease lives, or its
  // role changed: put it again under the same lease (and the member key on
  // a new role). False when the put failed (register again, a new lease).
  bool put_again(bool lost_key, bool role_changed);

  EtcdClient& etcd_;
  KeyLayout layout_;
  SlotInfo slot_;
  std::chrono::seconds ttl_;
  int64_t lease_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool key_lost_ = false;
  std::string new_role_;  // set_role's, until run() applies it
  Hooks hooks_;
};

}  // namespace replimail::cluster
