#include "master/imapd_conf_report.h"

#include <spdlog/spdlog.h>

#include <cstdlib>

#include "common/log.h"

namespace replimail::master {

std::string imapd_conf_path(const std::string& configured) {
  return configured.empty() ? "/etc/imapd.conf" : configured;
}

Result<Config> report_imapd_conf(const std::string& path) {
  auto config = Config::load(path);
  if (!config.ok()) return config.status();
  for (const std::string& w : config->warnings()) spdlog::warn("{}", w);
  return config;
}

void export_syslog_prefix(const Config& config) {
  std::string prefix = config.get("syslog_prefix");
  if (prefix.empty() || std::getenv("CYRUS_SYSLOG_PREFIX") != nullptr) return;
  apply_syslog_prefix(prefix);
  ::setenv("CYRUS_SYSLOG_PREFIX", prefix.c_str(), 0);
}

}  // namespace replimail::master
