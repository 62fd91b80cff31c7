#include "common/log.h"

#include <unistd.h>

#include <spdlog/sinks/stdout_sinks.h>

namespace replimail {

void init_logging(std::string_view program, bool verbose) {
  auto logger = spdlog::stderr_logger_mt(std::string(program) + "-" + std::to_string(::getpid()));
  logger->set_pattern(std::string("%Y-%m-%d %H:%M:%S.%e ") + std::string(program) + "[" +
                      std::to_string(::getpid()) + "] %l: %v");
  logger->set_level(verbose ? spdlog::level::debug : spdlog::level::info);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace replimail
