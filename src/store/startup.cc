#include "store/startup.h"

#include <spdlog/spdlog.h>

#include "common/log.h"
#include "common/stats.h"

#include <cstdlib>
#include <utility>

namespace replimail::store {

Result<Configured> load_configured(const std::string& config_path) {
  auto config = Config::load(config_path);
  if (!config.ok()) return config.status();
  apply_logging_config(*config);
  stats::configure(*config);
  // Under master they are master's to say, once, not each worker's.
  if (std::getenv("CYRUS_SERVICE") == nullptr)
    for (const std::string& w : config->warnings()) spdlog::warn("{}", w);
  return Configured{std::move(*config), nullptr};
}

Result<Configured> open_configured(const std::string& config_path) {
  auto configured = load_configured(config_path);
  if (!configured.ok()) return configured.status();
  auto instance = Instance::open(configured->config);
  if (!instance.ok()) {
    return Status(instance.status().code(),
                  "cannot open the mail store: " + instance.status().message());
  }
  configured->instance = std::move(*instance);
  return configured;
}

}  // namespace replimail::store
