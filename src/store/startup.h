// What a mail service (imapd, pop3d, lmtpd, sync_server) does first: load
// imapd.conf, log its warnings (options ignored or unknown) unless master
// started it (CYRUS_SERVICE set: master logged them once for all its
// children, master/imapd_conf_report.h), and open the instance it describes.
#pragma once

#include <memory>
#include <string>

#include "common/config.h"
#include "common/status.h"
#include "store/instance.h"

namespace replimail::store {

struct Configured {
  Config config;
  std::unique_ptr<Instance> instance;
};

// The config at `config_path` and its instance. A config error names the file
// and line; a store that cannot be opened is reported as "cannot open the
// mail store: ...". The caller logs the status and exits (EX_CONFIG).
Result<Configured> open_configured(const std::string& config_path);

// The same without opening the store (`instance` stays null), for a program
// that keeps no mail (lmtpproxyd).
Result<Configured> load_configured(const std::string& config_path);

}  // namespace replimail::store
