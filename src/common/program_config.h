// The start every daemon and tool with its own flags makes once they are
// parsed: logging named after the program, imapd.conf read, the file's
// logging options (syslog_prefix, syslog_facility) applied.
#pragma once

#include <string>
#include <string_view>

#include "common/config.h"
#include "common/status.h"

namespace replimail {

// init_logging(program, verbose), then Config::load(path) and
// apply_logging_config. A file that cannot be read or parsed is logged and
// its status returned: the caller exits EX_CONFIG.
Result<Config> load_program_config(std::string_view program, const std::string& path,
                                   bool verbose);

}  // namespace replimail
