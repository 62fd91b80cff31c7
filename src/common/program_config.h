// The start every daemon and tool with its own flags makes once they are
// parsed: logging named after the program, imapd.conf read, the file's
// logging options (syslog_prefix, syslog_facility) applied.
#pragma once

#include <optional>
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

// The command line of a daemon with one option of its own besides
// -C imapd.conf and -v: mailauthd's and promstatsd's -l [host:]port,
// clusterd's -M cyrus.conf.
struct DaemonFlags {
  std::string conf = "/etc/imapd.conf";  // -C
  std::string value;                     // the own option's, or its default
  bool verbose = false;                  // -v
};

// Parses argv (getopt) with `letter` as the own option. nullopt after
// printing `usage` (a line) to stderr on an unknown flag, an operand, or a
// `required` own option not given (or empty): the caller exits EX_USAGE.
std::optional<DaemonFlags> parse_daemon_flags(int argc, char** argv, char letter,
                                              std::string default_value, bool required,
                                              const char* usage);

}  // namespace replimail
