#include "cluster/bootstrap_gate.h"

#include <fmt/format.h>

#include <utility>

#include "cluster/registration.h"

namespace replimail::cluster {

sync::UserVerdict bootstrap_verdict(const std::string& self, const std::optional<MoveRecord>& move) {
  if (!move) return {};
  if (move->target == self && move->phase != MovePhase::kSwitched)
    return {sync::UserTurn::kLater,
            fmt::format("being moved here from {} (move {})", move->source,
                        move_phase_name(move->phase))};
  if (move->source == self && move->phase == MovePhase::kSwitched)
    return {sync::UserTurn::kNotOurs, fmt::format("moved away to {}", move->target)};
  return {};
}

Result<std::unique_ptr<BootstrapGate>> BootstrapGate::from_config(const Config& config) {
  if (config.get("cluster_etcd_endpoints").empty() || config.get("cluster_slot_name").empty())
    return std::unique_ptr<BootstrapGate>();
  auto o = cluster_options(config, true);
  if (!o.ok()) return o.status();
  auto layout = KeyLayout::make(o->prefix);
  if (!layout.ok()) return layout.status();
  return std::make_unique<BootstrapGate>(o->slot, std::move(o->etcd), std::move(*layout));
}

BootstrapGate::BootstrapGate(std::string self, EtcdSettings etcd, KeyLayout layout)
    : self_(std::move(self)), etcd_(std::move(etcd)), directory_(etcd_, std::move(layout)) {}

sync::UserVerdict BootstrapGate::verdict(const std::string& user) {
  const auto now = std::chrono::steady_clock::now();
  if (now < down_until_) return {sync::UserTurn::kLater, down_why_};
  ++reads_;
  auto move = directory_.move(user);
  if (!move.ok()) {
    down_until_ = now + kDownFor;
    down_why_ = "the cluster directory cannot say whether a move is under way: " +
                move.status().to_string();
    return {sync::UserTurn::kLater, down_why_};
  }
  return bootstrap_verdict(self_, *move);
}

}  // namespace replimail::cluster
