// What the tools that talk to a channel's replica (sync_client,
// sync_verify) share before their own work: the flags that name the
// channel and how to reach it (-C, -n, -S, -v), getopt's complaints,
// imapd.conf with its logging and statistics settings applied, the
// channel's connect options with those flags, and the connection. Each step
// logs why it failed; the caller exits with the code its comment names.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/config.h"
#include "common/status.h"
#include "sync/client.h"
#include "sync/connection.h"

namespace replimail::sync {

struct ChannelFlags {
  std::string conf = "/etc/imapd.conf";  // -C
  std::string channel;                   // -n: "" is the default channel
  std::string server;                    // -S: overrides <channel>_sync_host
  int verbose = 0;                       // -v, repeatable: 1 commands, 2 replies too
  bool require_compression = false;      // sync_client -z
  // APPLY FORCE after logging in: sync_client -O, sync_verify's repairs.
  bool force = false;
};

// Takes one of the getopt options the tools share (C, n, S, v) into
// `flags`; false for any other option.
bool take_channel_flag(int opt, const char* arg, ChannelFlags& flags);

// What getopt's ':' (an option without its argument) or '?' (an unknown
// option) means, for the usage error line; getopt's optopt names the option.
std::string option_problem(int opt);

// imapd.conf at `path`, its logging settings applied and statistics
// configured (call after init_logging). nullopt once the error is logged:
// the tool exits EX_CONFIG.
std::optional<Config> load_tool_config(const std::string& path);

// `co` with the flags' verbosity, compression and FORCE.
void apply_channel_flags(const ChannelFlags& flags, ConnectOptions& co);

// How to reach the channel's replica: channel_connect_options (with -S)
// and apply_channel_flags. nullopt once the error is logged: the tool
// exits EX_CONFIG.
std::optional<ConnectOptions> load_channel_options(const Config& cfg, const ChannelFlags& flags);

// The store of `cfg`; nullptr once "cannot open the mail store: why" is
// logged: the tool exits EX_CONFIG.
std::unique_ptr<store::Instance> open_tool_store(const Config& cfg);

// Connects and logs in, fetched files going to `sink`; null once
// "SYNCERROR channel=C connecting to HOST: why" is logged.
std::unique_ptr<ReplicaConnection> connect_replica(const ConnectOptions& co,
                                                   const std::string& channel, FetchSink& sink);

}  // namespace replimail::sync
