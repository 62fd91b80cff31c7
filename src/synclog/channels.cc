#include "synclog/channels.h"

#include <algorithm>

#include <fmt/format.h>

#include "synclog/synclog.h"

namespace replimail::synclog {

namespace {

constexpr const char* kSquatter = "squatter";

std::string shown(const std::string& channel) {
  return channel.empty() ? "the default channel (\"\")" : fmt::format("channel \"{}\"", channel);
}

}  // namespace

std::vector<std::string> check_channels(const Config& cfg) {
  std::vector<std::string> out;
  if (!cfg.get_bool("sync_log")) return out;
  SyncLog log(cfg);
  const std::vector<std::string>& channels = log.configured_channels();
  bool only_squatter = std::all_of(channels.begin(), channels.end(),
                                   [](const std::string& c) { return c == kSquatter; });
  if (only_squatter) {
    out.push_back(
        "sync_log_channels lists only squatter: nothing is logged for replication, so no "
        "replica is fed; add each replica's channel (or \"\" for the default channel)");
  }
  for (const auto& c : channels) {
    if (c == kSquatter) continue;
    if (cfg.channel_get(c, "sync_host").empty()) {
      out.push_back(fmt::format(
          "{} is logged but has no {}sync_host: its log grows and no sync_client can drain it",
          shown(c), c.empty() ? "" : c + "_"));
    }
  }
  return out;
}

}  // namespace replimail::synclog
