// cyrus.conf: the process table master runs (START, SERVICES, EVENTS and
// DAEMON sections), in Cyrus's format:
//
//   SERVICES {
//     lmtp   cmd="lmtpd -a" listen="127.0.0.1:2003" prefork=1 maxchild=10
//   }
//
// Section names match case-insensitively; `#` starts a comment anywhere on a
// line (even inside quotes, as in Cyrus); an entry is one line of
// `<name> key=value key="quoted value" ...` whose name is alphanumeric.
// A section this parser does not know is skipped with a warning.
//
// parse_cyrus_conf() is pure: bytes in, CyrusConf out. Every error names the
// file and line. resolve_commands() is the one step that looks at the disk.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "net/socket.h"

namespace replimail::master {

// What every entry has: its name, its command split on whitespace, and where
// it was defined.
struct Entry {
  std::string name;
  std::vector<std::string> argv;
  int line = 0;
};

// START: run in order at start-up, each to completion.
struct StartEntry : Entry {};

// SERVICES: master listens; children accept (see net/service.h).
struct ServiceEntry : Entry {
  std::string listen;  // as written
  std::string proto = "tcp";
  net::ListenAddress address;
  int prefork = 0;
  int maxchild = -1;    // -1: unlimited
  int maxforkrate = 0;  // forks per second; 0: unlimited
  bool babysit = false;
};

// EVENTS: run on a schedule, never waited for.
struct EventEntry : Entry {
  int period_minutes = 0;  // 0 without `at`: once at start-up
  // Daily at this local time (hour*100+minute), overriding the period.
  std::optional<int> at;
};

// DAEMON: one long-running instance, restarted when it exits.
struct DaemonEntry : Entry {
  bool wait = false;
  int maxforkrate = 10;
};

struct CyrusConf {
  std::string filename;
  std::vector<StartEntry> start;
  std::vector<ServiceEntry> services;
  std::vector<EventEntry> events;
  std::vector<DaemonEntry> daemons;
  // Keys and sections that were ignored.
  std::vector<std::string> warnings;
};

// Parses cyrus.conf text; `filename` is used in messages only.
Result<CyrusConf> parse_cyrus_conf(std::string_view text, std::string_view filename);

// Reads and parses the file at `path`.
Result<CyrusConf> load_cyrus_conf(const std::string& path);

// Resolves argv[0] of every entry: a bare program name to the file of that
// name in `bin_dir` (master's own directory), a path containing '/' as
// given. kConfigError naming file and line if it is not an executable file.
Status resolve_commands(CyrusConf* conf, const std::string& bin_dir);

// The directory holding the running executable (from /proc/self/exe).
Result<std::string> self_exe_dir();

}  // namespace replimail::master
