#include "common/program_config.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>

#include "common/log.h"

namespace replimail {

Result<Config> load_program_config(std::string_view program, const std::string& path,
                                   bool verbose) {
  init_logging(program, verbose);
  auto config = Config::load(path);
  if (!config.ok()) {
    spdlog::error("{}", config.status().to_string());
    return config.status();
  }
  apply_logging_config(*config);
  return config;
}

std::optional<DaemonFlags> parse_daemon_flags(int argc, char** argv, char letter,
                                              std::string default_value, bool required,
                                              const char* usage) {
  DaemonFlags flags;
  flags.value = std::move(default_value);
  const std::string optstring = std::string("C:") + letter + ":v";
  int c;
  while ((c = ::getopt(argc, argv, optstring.c_str())) != -1) {
    if (c == 'C') {
      flags.conf = optarg;
    } else if (c == letter) {
      flags.value = optarg;
    } else if (c == 'v') {
      flags.verbose = true;
    } else {
      std::fputs(usage, stderr);
      return std::nullopt;
    }
  }
  if (optind != argc || (required && flags.value.empty())) {
    std::fputs(usage, stderr);
    return std::nullopt;
  }
  return flags;
}

}  // namespace replimail
