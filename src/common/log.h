// Logging: every program logs through spdlog, one line per event, to stderr
// (which master collects) with the program name and PID, as Cyrus's syslog
// lines carry them.
#pragma once

#include <string_view>

#include <spdlog/spdlog.h>

namespace replimail {

// Sets the default logger's name and pattern. `verbose` lowers the level to
// debug. Call once at the top of main().
void init_logging(std::string_view program, bool verbose = false);

}  // namespace replimail
