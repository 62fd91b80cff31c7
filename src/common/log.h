// Logging: every program logs through spdlog, one line per event, to stderr
// (which master collects) with the program name and PID, as Cyrus's syslog
// lines carry them.
#pragma once

#include <string_view>

#include <spdlog/spdlog.h>

namespace replimail {

// Sets the default logger's name and pattern. `verbose` lowers the level to
// debug. Call once at the top of main(). $CYRUS_SYSLOG_PREFIX, if set, is
// put before the program name ("cyrus/imapd[123]"), as Cyrus does.
void init_logging(std::string_view program, bool verbose = false);

// imapd.conf's syslog_prefix, once the file is read: the program's lines are
// then "<prefix>/<program>[pid]". $CYRUS_SYSLOG_PREFIX wins over it (Cyrus:
// it can be set before the file is read); master sets that variable for its
// children. Does nothing for an empty prefix.
void apply_syslog_prefix(std::string_view configured);

}  // namespace replimail
