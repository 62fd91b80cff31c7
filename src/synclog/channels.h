// Start-up check of the sync log's channel configuration.
//
// A Cyrus administrator who sets `sync_log_channels: squatter` to feed the
// search indexer silently turns replication off: the default channel is
// only logged when sync_log_channels is unset or lists "" (a pain point
// reported on Cyrus's tracker). master, lmtpd and sync_client call this at
// start-up and log what it finds; none of it stops the server, since a
// squatter-only instance is a valid (replica-less) set-up.
#pragma once

#include <string>
#include <vector>

#include "common/config.h"

namespace replimail::synclog {

// Warnings, one sentence each, naming the options to change:
//  - sync_log is on but every listed channel is `squatter`: no replication;
//  - a listed channel other than squatter without any sync host, so its
//    log grows with no sync_client able to drain it.
// Empty when sync_log is off or everything is consistent.
std::vector<std::string> check_channels(const Config& cfg);

}  // namespace replimail::synclog
