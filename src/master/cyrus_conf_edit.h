// Edits of cyrus.conf text for cyr_promote: find the rolling sync_clients,
// add one for a new channel, comment out those of channels that go away.
// Everything else stays as the operator wrote it. Pure: text in, text out;
// the caller checks the result with parse_cyrus_conf before writing it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "master/cyrus_conf.h"

namespace replimail::master {

// The channel `e` follows if it runs a rolling sync_client (`sync_client`
// with -r or -R): its -n argument, "" for the default channel; nullopt for
// any other program.
std::optional<std::string> rolling_channel(const Entry& e);

// `text` with the DAEMON entry `name cmd="<cmd>"` added at the end of its
// DAEMON section (a DAEMON section is appended when there is none).
std::string add_daemon(std::string_view text, std::string_view name, std::string_view cmd);

// `text` with the given lines (1-based, as Entry::line) made comments:
// "# <why>: <the line>".
std::string comment_out_lines(std::string_view text, const std::vector<int>& which,
                              std::string_view why);

}  // namespace replimail::master
