#include "master/config_check.h"

#include <fmt/format.h>

#include <map>

#include "common/config.h"
#include "master/cyrus_conf.h"

namespace replimail::master {

CheckReport check_configuration(const std::string& imapd_conf, const std::string& cyrus_conf,
                                const std::string& bin_dir) {
  CheckReport report;
  auto config = Config::load(imapd_conf);
  if (!config.ok()) {
    report.errors.push_back(config.status().message());
  } else {
    report.warnings = config->warnings();
    if (config->configdirectory().empty())
      report.errors.push_back(imapd_conf + ": configdirectory is not set");
    if (config->partitions().empty())
      report.errors.push_back(imapd_conf + ": no partition-<name> is set: mail has nowhere to go");
  }
  auto conf = load_cyrus_conf(cyrus_conf);
  if (!conf.ok()) {
    report.errors.push_back(conf.status().message());
    return report;
  }
  for (const std::string& w : conf->warnings) report.warnings.push_back(w);
  if (Status st = resolve_commands(&*conf, bin_dir); !st.is_ok())
    report.errors.push_back(st.message());
  std::map<std::string, int> listening;  // address -> line of the first service on it
  for (const ServiceEntry& s : conf->services) {
    std::string where = s.address.to_string();
    auto [it, fresh] = listening.emplace(where, s.line);
    if (!fresh) {
      report.errors.push_back(
          fmt::format("{}:{}: service {} listens on {}, as the service of line {} does", cyrus_conf,
                      s.line, s.name, where, it->second));
    }
  }
  return report;
}

}  // namespace replimail::master
