#include "common/program_config.h"

#include <spdlog/spdlog.h>

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

}  // namespace replimail
