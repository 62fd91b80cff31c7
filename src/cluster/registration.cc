#include "cluster/registration.h"

#include <spdlog/spdlog.h>

#include <ctime>
#include <filesystem>
#include <thread>

namespace replimail::cluster {
namespace {

// The program a cyrus.conf entry runs, without its directory.
std::string program_of(const master::Entry& e) {
  if (e.argv.empty()) return "";
  return std::filesystem::path(e.argv.front()).filename().string();
}

bool has_flag(const master::Entry& e, std::string_view flag) {
  for (size_t i = 1; i < e.argv.size(); ++i) {
    if (e.argv[i] == flag) return true;
  }
  return false;
}

}  // namespace

Result<ClusterOptions> cluster_options(const Config& config, bool need_slot) {
  ClusterOptions o;
  o.endpoints = config.get("cluster_etcd_endpoints");
  o.prefix = config.get("cluster_etcd_prefix");
  o.slot = config.get("cluster_slot_name");
  o.host = config.get("cluster_slot_host");
  o.role = config.get("cluster_slot_role");
  o.ttl = config.get_duration("cluster_lease_ttl");
  o.controller = config.get_bool("cluster_controller");
  auto etcd = etcd_settings(config);
  if (!etcd.ok()) return etcd.status();
  o.etcd = std::move(*etcd);
  if (auto l = KeyLayout::make(o.prefix); !l.ok()) return l.status();
  if (need_slot) {
    if (o.slot.empty()) return Status(Code::kConfigError, "cluster_slot_name is not set");
    if (Status s = check_slot_name(o.slot); !s.is_ok())
      return Status(Code::kConfigError, "cluster_slot_name: " + s.message());
  }
  if (o.role != "primary" && o.role != "replica")
    return Status(Code::kConfigError, "cluster_slot_role must be primary or replica");
  if (o.ttl.count() < 2) return Status(Code::kConfigError, "cluster_lease_ttl must be at least 2s");
  return o;
}

Result<SlotInfo> slot_info(const ClusterOptions& options, const master::CyrusConf& conf) {
  SlotInfo s;
  s.name = options.slot;
  s.role = options.role;
  s.host = options.host;
  std::string imap_host;
  for (const master::ServiceEntry& e : conf.services) {
    if (e.address.kind != net::ListenAddress::Kind::kInet) continue;
    std::string prog = program_of(e);
    int port = e.address.port;
    if (prog == "imapd" && !has_flag(e, "-s") && s.imap_port == 0) {
      s.imap_port = port;
      imap_host = e.address.host;
    } else if (prog == "pop3d" && !has_flag(e, "-s") && s.pop3_port == 0) {
      s.pop3_port = port;
    } else if (prog == "lmtpd" && s.lmtp_port == 0) {
      s.lmtp_port = port;
    } else if (prog == "sync_server" && s.sync_port == 0) {
      s.sync_port = port;
    }
  }
  if (s.host.empty()) {
    if (imap_host.empty() || imap_host == "*" || imap_host == "0.0.0.0" || imap_host == "::")
      return Status(Code::kConfigError,
                    "cluster_slot_host is not set and the imap service listens on no one address");
    s.host = imap_host;
  }
  return s;
}

SlotRegistrar::SlotRegistrar(EtcdClient& etcd, KeyLayout layout, SlotInfo slot,
                             std::chrono::seconds ttl)
    : etcd_(etcd), layout_(std::move(layout)), slot_(std::move(slot)), ttl_(ttl) {}

Status SlotRegistrar::register_once() {
  auto lease = etcd_.lease_grant(ttl_);
  if (!lease.ok()) return lease.status();
  slot_.started = static_cast<int64_t>(std::time(nullptr));
  auto put = etcd_.put(layout_.slot_key(slot_.name), encode_slot(slot_), lease->id);
  if (!put.ok()) {
    (void)etcd_.lease_revoke(lease->id);
    return put.status();
  }
  // The last registration, kept after the slot dies: the failover
  // controller needs its sync address to make it a replica again.
  if (auto member = etcd_.put(layout_.member_key(slot_.name), encode_slot(slot_)); !member.ok())
    spdlog::warn("clusterd: slot {}: {}: {}", slot_.name, layout_.member_key(slot_.name),
                 member.status().to_string());
  lease_ = lease->id;
  spdlog::info("clusterd: slot {} registered at {} (lease {:x}, ttl {}s, revision {})", slot_.name,
               slot_.host, lease_, lease->ttl, *put);
  return Status::success();
}

void SlotRegistrar::set_role(const std::string& role) {
  std::lock_guard<std::mutex> lock(mu_);
  new_role_ = role;
  cv_.notify_all();
}

void SlotRegistrar::wake() {
  std::lock_guard<std::mutex> lock(mu_);
  cv_.notify_all();
}

void SlotRegistrar::watch_own_key(const std::atomic<bool>& stop) {
  const std::string key = layout_.slot_key(slot_.name);
  int64_t from = 0;
  while (!stop.load()) {
    // A watch that fails at once (etcd unreachable, TLS or auth refused) is
    // tried again a second later, not in a tight loop.
    auto next_try = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    auto end = etcd_.watch(
        key, {}, from,
        [&](const WatchMessage& m) {
          for (const WatchEvent& ev : m.events) {
            if (ev.type != WatchEvent::Type::kDelete) continue;
            std::lock_guard<std::mutex> lock(mu_);
            key_lost_ = true;
            cv_.notify_all();
          }
          return true;
        },
        stop);
    if (end.status.code() == Code::kNotFound) {
      from = 0;  // compacted: the next keepalive round re-checks the key
      std::lock_guard<std::mutex> lock(mu_);
      key_lost_ = true;
      cv_.notify_all();
      continue;
    }
    if (end.last_revision > 0) from = end.last_revision + 1;
    if (end.status.is_ok()) continue;
    if (end.status.code() != Code::kAgain)
      spdlog::warn("clusterd: watch of {}: {}", key, end.status.to_string());
    std::this_thread::sleep_until(next_try);
  }
}

bool SlotRegistrar::put_again(bool lost_key, bool role_changed) {
  auto put = etcd_.put(layout_.slot_key(slot_.name), encode_slot(slot_), lease_);
  if (!put.ok()) return false;
  if (lost_key) spdlog::warn("clusterd: slot {}: key was deleted; put back", slot_.name);
  if (role_changed) {
    (void)etcd_.put(layout_.member_key(slot_.name), encode_slot(slot_));
    spdlog::info("clusterd: slot {} registered as {}", slot_.name, slot_.role);
  }
  return true;
}

void SlotRegistrar::run(const std::atomic<bool>& stop) {
  std::thread watcher([&] { watch_own_key(stop); });
  const auto period = std::max<std::chrono::milliseconds>(ttl_ / 3, std::chrono::milliseconds(500));
  bool registered = false;
  bool lost = false;  // lease_lost called, no registration since
  auto last_renewal = std::chrono::steady_clock::now();
  auto lose = [&] {
    if (lost) return;
    lost = true;
    if (hooks_.lease_lost) hooks_.lease_lost();
  };
  Status last_error;
  while (!stop.load()) {
    auto wait = period;
    if (!registered) {
      Status s = register_once();
      registered = s.is_ok();
      if (!registered) {
        if (s.to_string() != last_error.to_string())
          spdlog::error("clusterd: slot {} not registered: {}", slot_.name, s.to_string());
        last_error = s;
        wait = std::chrono::seconds(1);
      } else {
        last_error = Status();
        last_renewal = std::chrono::steady_clock::now();
        lost = false;
        if (hooks_.registered) hooks_.registered();
      }
    } else {
      auto ttl = etcd_.lease_keepalive(lease_);
      if (ttl.status().code() == Code::kNotFound) {
        spdlog::warn("clusterd: slot {}: lease {:x} expired; registering again", slot_.name,
                     lease_);
        lose();
        registered = false;
        continue;
      }
      if (!ttl.ok()) {
        spdlog::warn("clusterd: slot {}: keepalive: {}", slot_.name, ttl.status().to_string());
        wait = std::chrono::seconds(1);
        if (std::chrono::steady_clock::now() - last_renewal >= ttl_) {
          spdlog::warn("clusterd: slot {}: lease {:x} not renewed for {}s: taken as lost",
                       slot_.name, lease_, ttl_.count());
          lose();
          registered = false;
          continue;
        }
      } else {
        last_renewal = std::chrono::steady_clock::now();
      }
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, wait, [&] {
      return stop.load() || key_lost_ || (!new_role_.empty() && new_role_ != slot_.role);
    });
    const bool role_changed = !new_role_.empty() && new_role_ != slot_.role;
    if (role_changed) slot_.role = new_role_;
    if ((key_lost_ || role_changed) && registered) {
      const bool lost_key = key_lost_;
      key_lost_ = false;
      lock.unlock();
      registered = put_again(lost_key, role_changed);
    }
  }
  watcher.join();
  if (registered) {
    Status s = etcd_.lease_revoke(lease_);
    if (s.is_ok()) {
      spdlog::info("clusterd: slot {} unregistered", slot_.name);
    } else {
      spdlog::warn("clusterd: slot {}: revoke: {} (the key goes when the lease expires)",
                   slot_.name, s.to_string());
    }
  }
}

}  // namespace replimail::cluster
