// Logging: every program logs through spdlog, one line per event, to stderr
// (which master collects, or master -L's file, or systemd's journal) with
// the program name and PID, as Cyrus's syslog lines carry them; and, when
// imapd.conf sets `syslog_facility`, to syslog as well (/dev/log, RFC 3164
// datagrams as glibc's syslog() sends them: "<PRI>Mmm dd hh:mm:ss
// ident[pid]: level: message"), with `syslog_prefix` in the ident.
#pragma once

#include <spdlog/spdlog.h>

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace replimail {

class Config;

// Sets the default logger's name and pattern. `verbose` lowers the level to
// debug. Call once at the top of main(). $CYRUS_SYSLOG_PREFIX, if set, is
// put before the program name ("cyrus/imapd[123]"), as Cyrus does.
void init_logging(std::string_view program, bool verbose = false);

// imapd.conf's syslog_prefix, once the file is read: the program's lines are
// then "<prefix>/<program>[pid]". $CYRUS_SYSLOG_PREFIX wins over it (Cyrus:
// it can be set before the file is read); master sets that variable for its
// children. Does nothing for an empty prefix.
void apply_syslog_prefix(std::string_view configured);

// What imapd.conf says about logging, once it is read: syslog_prefix
// (apply_syslog_prefix) and syslog_facility (a syslog sink beside stderr).
// A bad facility was refused by Config already; here it is ignored.
void apply_logging_config(const Config& cfg);

// --- syslog ------------------------------------------------------------

// The facility code (LOG_MAIL, LOG_LOCAL6, ...) of one of Cyrus's
// syslog_facility names: DAEMON, MAIL, NEWS, USER, LOCAL0 ... LOCAL7, in
// any case. nullopt for another name.
std::optional<int> syslog_facility_code(std::string_view name);
// The severity spdlog's level maps to (LOG_DEBUG ... LOG_CRIT).
int syslog_severity(spdlog::level::level_enum level);
// One datagram as glibc's syslog() writes it: "<facility|severity>Mmm dd
// hh:mm:ss ident[pid]: message" (local time, day padded with a space).
std::string syslog_datagram(int facility, int severity, std::time_t when, std::string_view ident,
                            int pid, std::string_view message);

// Adds a sink to the default logger that sends every line to the unix
// datagram socket `path` (default /dev/log) with `facility`, reconnecting
// when the socket was replaced (syslogd restarted); a line that cannot be
// sent at once is dropped (logging never blocks the server). Idempotent:
// a second call replaces the sink. Call at start-up, before other threads log.
void enable_syslog(int facility, const std::string& path = "/dev/log");

}  // namespace replimail
