// The child side of master: the generic service loop every service program
// (lmtpd, imapd, pop3d, sync_server) runs, as Cyrus's master/service.c.
//
// Started by master, a service inherits the listening socket on fd 4 and the
// status pipe to master on fd 3 (CYRUS_SERVICE and CYRUS_ID are set). It
// repeatedly reports AVAILABLE, accepts one connection, reports UNAVAILABLE
// and CONNECTION, runs the program's handler on it, and closes it, until it
// has served -U connections. It exits early when idle for longer than the
// -T timeout after its first connection (master keeps `prefork` workers), or
// on SIGHUP or SIGTERM while waiting for a connection. SIGHUP during a
// session lets the session finish first; SIGTERM ends the process at once.
//
// Generic options, stripped before the program sees its own:
//   -C <imapd.conf>  configuration file (default /etc/imapd.conf)
//   -U <n>           connections served per process (default 250)
//   -T <secs>        idle timeout between connections (default 60)
//   -X               serve one session on stdin/stdout, then exit (no master)
//   -D               debug: verbose logging
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"

namespace replimail::net {

// Messages a service writes to master's status pipe (fd 3), each an 8-byte
// struct {int message; pid_t pid;} in host byte order, as in Cyrus.
enum StatusMessage : int {
  kServiceAvailable = 1,
  kServiceUnavailable = 2,
  kServiceConnection = 3,
};
struct StatusRecord {
  int message;
  int pid;
};
static_assert(sizeof(StatusRecord) == 8);

// The descriptors master hands every service child.
inline constexpr int kStatusFd = 3;
inline constexpr int kListenFd = 4;

// One session, as a handler sees it. For a socket in_fd == out_fd; with -X
// they are 0 and 1. The descriptors stay owned by the service loop, which
// closes them after the handler returns.
struct Connection {
  int in_fd = -1;
  int out_fd = -1;
  std::string peer;   // "127.0.0.1:40212", "[::1]:40212", "unix" or "stdin"
  std::string local;  // the address the connection arrived on
  bool is_unix = false;
  bool is_stdio = false;
  std::string service;  // CYRUS_SERVICE; empty when standalone
};

using Handler = std::function<void(Connection&)>;

struct ServiceOptions {
  std::string config_path = "/etc/imapd.conf";
  int max_use = 250;
  std::chrono::seconds idle_timeout{60};
  bool stdio = false;
  bool debug = false;
  // The program's own arguments, argv[0] first, generic options removed.
  std::vector<std::string> args;
};

// Strips the generic options (-C x / -Cx, -U n, -T n, -X, -D) from argv.
// kInvalidArgument on a missing or malformed value.
Result<ServiceOptions> parse_service_options(int argc, char** argv);

// Runs the service loop (or one stdio session with -X) and returns the
// process exit code. REQUIRES: logging initialised.
int serve(const ServiceOptions& options, const Handler& handler);

// parse_service_options() then serve(), for programs without options of
// their own; a bad option is logged and yields exit code 64 (EX_USAGE).
int run_service(int argc, char** argv, const Handler& handler);

}  // namespace replimail::net
