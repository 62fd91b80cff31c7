#include "master/imapd_conf_report.h"

#include <spdlog/spdlog.h>

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

}  // namespace replimail::master
