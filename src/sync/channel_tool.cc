#include "sync/channel_tool.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "common/log.h"
#include "common/stats.h"
#include "store/instance.h"
#include "sync/rolling.h"

namespace replimail::sync {

bool take_channel_flag(int opt, const char* arg, ChannelFlags& flags) {
  switch (opt) {
    case 'C':
      flags.conf = arg;
      return true;
    case 'n':
      flags.channel = arg;
      return true;
    case 'S':
      flags.server = arg;
      return true;
    case 'v':
      flags.verbose++;
      return true;
    default:
      return false;
  }
}

std::string option_problem(int opt) {
  if (opt == ':') return fmt::format("option -{} needs an argument", static_cast<char>(optopt));
  return optopt > 32 && optopt < 127 ? fmt::format("unknown option -{}", static_cast<char>(optopt))
                                     : std::string("unknown option");
}

std::optional<Config> load_tool_config(const std::string& path) {
  auto config = Config::load(path);
  if (!config.ok()) {
    spdlog::error("{}", config.status().to_string());
    return std::nullopt;
  }
  apply_logging_config(*config);
  stats::configure(*config);
  return std::move(*config);
}

void apply_channel_flags(const ChannelFlags& flags, ConnectOptions& co) {
  co.verbose = flags.verbose;
  co.require_compression = flags.require_compression;
  co.force = flags.force;
}

std::optional<ConnectOptions> load_channel_options(const Config& cfg, const ChannelFlags& flags) {
  auto co = channel_connect_options(cfg, flags.channel, flags.server);
  if (!co.ok()) {
    spdlog::error("{}", co.status().message());
    return std::nullopt;
  }
  apply_channel_flags(flags, *co);
  return std::move(*co);
}

std::unique_ptr<store::Instance> open_tool_store(const Config& cfg) {
  auto instance = store::Instance::open(cfg);
  if (!instance.ok()) {
    spdlog::error("cannot open the mail store: {}", instance.status().to_string());
    return nullptr;
  }
  return std::move(*instance);
}

std::unique_ptr<ReplicaConnection> connect_replica(const ConnectOptions& co,
                                                   const std::string& channel, FetchSink& sink) {
  auto conn = ReplicaConnection::open(co, &sink);
  if (!conn.ok()) {
    spdlog::error("SYNCERROR channel={} connecting to {}: {}", channel.empty() ? "\"\"" : channel,
                  co.host, conn.status().to_string());
    return nullptr;
  }
  return std::move(*conn);
}

}  // namespace replimail::sync
