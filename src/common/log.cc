#include "common/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace replimail {
namespace {

std::string& program_name() {
  static std::string name;
  return name;
}

void set_pattern(spdlog::logger& logger, std::string_view prefix) {
  std::string ident = prefix.empty() ? program_name() : std::string(prefix) + "/" + program_name();
  logger.set_pattern(std::string("%Y-%m-%d %H:%M:%S.%e ") + ident + "[" +
                     std::to_string(::getpid()) + "] %l: %v");
}

}  // namespace

void init_logging(std::string_view program, bool verbose) {
  program_name() = std::string(program);
  auto logger = spdlog::stderr_logger_mt(std::string(program) + "-" + std::to_string(::getpid()));
  const char* prefix = std::getenv("CYRUS_SYSLOG_PREFIX");
  set_pattern(*logger, prefix != nullptr ? prefix : "");
  logger->set_level(verbose ? spdlog::level::debug : spdlog::level::info);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

void apply_syslog_prefix(std::string_view configured) {
  if (std::getenv("CYRUS_SYSLOG_PREFIX") != nullptr || configured.empty()) return;
  if (auto logger = spdlog::default_logger()) set_pattern(*logger, configured);
}

}  // namespace replimail
