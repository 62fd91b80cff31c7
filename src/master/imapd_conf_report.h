// What master says about imapd.conf: every option its programs ignore or do
// not know, once at start-up and again at each SIGHUP (the workers started
// after a reload read the file afresh). Programs that master starts do not
// repeat it (store/startup.h), so each warning is in the log once per load.
#pragma once

#include <string>

#include "common/config.h"
#include "common/status.h"

namespace replimail::master {

// The imapd.conf master's children read: `configured` (-C), else Cyrus's
// /etc/imapd.conf.
std::string imapd_conf_path(const std::string& configured);

// Loads imapd.conf and logs each of its warnings; the error if it cannot
// be loaded (a refused option, a bad value).
Result<Config> report_imapd_conf(const std::string& path);

// syslog_prefix for master's own lines and, through $CYRUS_SYSLOG_PREFIX,
// for every program it starts; an externally set $CYRUS_SYSLOG_PREFIX wins.
void export_syslog_prefix(const Config& config);

}  // namespace replimail::master
