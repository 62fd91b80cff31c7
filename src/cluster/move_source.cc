#include "cluster/move_source.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "sync/client.h"
#include "sync/connection.h"
#include "sync/rolling.h"
#include "synclog/applied.h"
#include "synclog/synclog.h"

namespace replimail::cluster {

LocalMoveSource::LocalMoveSource(store::Instance& instance, const Config& cfg, std::string slot,
                                 std::string channel)
    : instance_(instance), cfg_(cfg), slot_(std::move(slot)), channel_(std::move(channel)) {}

Status LocalMoveSource::fence(const std::string& user) {
  return instance_.set_user_fence(user, true);
}

Status LocalMoveSource::lift_fence(const std::string& user, bool moved_away) {
  return instance_.set_user_fence(user, false, moved_away);
}

void LocalMoveSource::wait_for_channels_to(const SlotInfo& target) {
  for (const std::string& channel : instance_.synclog().replica_channels()) {
    if (not_waited_.count(channel)) continue;
    auto to = sync::channel_connect_options(cfg_, channel, "");
    if (!to.ok() || to->host != target.host || to->port != target.sync_port) continue;
    auto caught_up = synclog::wait_channel_applied(cfg_.configdirectory(), channel, kChannelWait);
    if (caught_up.ok() && *caught_up) continue;
    not_waited_.insert(channel);
    spdlog::warn("move to {}: channel {} to it {}; passes go on without waiting for it",
                 target.name, channel,
                 caught_up.ok() ? fmt::format("did not catch up in {} ms", kChannelWait.count())
                                : caught_up.status().to_string());
  }
}

Result<uint64_t> LocalMoveSource::sync_pass(const std::string& user, const SlotInfo& target) {
  wait_for_channels_to(target);
  auto co = sync::channel_connect_options(cfg_, channel_,
                                          fmt::format("{}:{}", target.host, target.sync_port));
  if (!co.ok()) return co.status();
  co->force = true;
  sync::FetchSink fetched(instance_);
  auto conn = sync::ReplicaConnection::open(*co, &fetched);
  if (!conn.ok())
    return Status(conn.status().code(), fmt::format("connecting to {} ({}:{}): {}", target.name,
                                                    target.host, target.sync_port,
                                                    conn.status().message()));
  sync::ClientOptions opts;
  opts.channel = channel_;
  opts.no_copyback = true;
  sync::SyncClient client(instance_, **conn, fetched, opts);
  Status s = client.sync_user(user);
  if (Status e = (*conn)->simple("EXIT"); !e.is_ok())
    spdlog::warn("move {}: EXIT to {}: {}", user, target.name, e.to_string());
  if (!s.is_ok()) return s;
  return client.stats().messages_uploaded + client.stats().mailboxes_applied;
}

}  // namespace replimail::cluster
