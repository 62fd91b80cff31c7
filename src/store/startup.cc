#include "store/startup.h"

#include <spdlog/spdlog.h>

#include "common/log.h"
#include "common/stats.h"

#include <cstdlib>
#include <utility>

namespace replimail::store {

Result<Configured> open_configured(const std::string& config_path) {
  auto config = Config::load(config_path);
  if (!config.ok()) return config.status();
  apply_logging_config(*config);
  stats::configure(*config);
  // Under master they are master's to say, once, not each worker's.
  if (std::getenv("CYRUS_SERVICE") == nullptr)
    for (const std::string& w : config->warnings()) spdlog::warn("{}", w);
  auto instance = Instance::open(*config);
  if (!instance.ok()) {
    return Status(instance.status().code(),
                  "cannot open the mail store: " + instance.status().message());
  }
  return Configured{std::move(*config), std::move(*instance)};
}

}  // namespace replimail::store
