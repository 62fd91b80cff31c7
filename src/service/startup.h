// What every mail service program (imapd, pop3d, lmtpd, sync_server) does
// before it serves: the generic service options (net/service.h), its own
// flags, imapd.conf and the instance it describes (store/startup.h), SASL,
// the TLS context when a certificate is configured, and the server name.
#pragma once

#include <sysexits.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/status.h"
#include "net/service.h"
#include "net/tls.h"
#include "store/instance.h"
#include "store/startup.h"

namespace replimail::service {

// Exit codes of a failed start-up, as Cyrus's.
inline constexpr int kExitUsage = EX_USAGE;
inline constexpr int kExitConfig = EX_CONFIG;

// One flag of the program's own, e.g. {"-s"} or {"-p", "ssf"}: a non-empty
// `value` names the argument the flag takes (for the usage line).
struct Flag {
  std::string name;
  std::string value;
};

struct Spec {
  std::string program;  // log name and usage line: "imapd"
  std::vector<Flag> flags;
  // What a SASL initialisation failure means to this program's users, for
  // the log ("logins will fail").
  std::string without_sasl;
  // Load the TLS context when tls_server_cert is set.
  bool tls = false;
  // A flag that makes a TLS context failure fatal (imapd's and pop3d's -s).
  std::string tls_required_by;
  // Open the mail store imapd.conf describes. A program that keeps no mail
  // (lmtpproxyd) says false: Started::configured.instance stays null.
  bool open_store = true;
};

// The program's own flags as given: name -> value ("" for a flag without
// one). kInvalidArgument names an unknown flag or a missing value; `args`
// is ServiceOptions::args (argv[0] first).
Result<std::map<std::string, std::string>> parse_flags(const std::vector<std::string>& args,
                                                       const std::vector<Flag>& flags);

// "usage: imapd [-C imapd.conf] [-U uses] [-T timeout] [-X] [-D] [-s]".
std::string usage_line(const Spec& spec);

struct Started {
  net::ServiceOptions options;
  store::Configured configured;
  std::map<std::string, std::string> flags;
  std::unique_ptr<net::TlsContext> tls;  // null without a certificate
  std::string servername;                // servername, or the host name

  bool has(std::string_view flag) const { return flags.count(std::string(flag)) != 0; }
  const Config& config() const { return configured.config; }
  // REQUIRES: Spec::open_store.
  store::Instance& instance() { return *configured.instance; }
};

// Initialises logging as spec.program and does the whole start-up. A bad
// option fails with kInvalidArgument (exit_code: 64), anything else (config,
// store, required TLS) with its own code (exit_code: 78). A SASL failure is
// only logged: the program still serves, as Cyrus's do.
Result<Started> start(int argc, char** argv, const Spec& spec);

// Logs why start() failed and returns the process exit code.
int fail(const Status& why);

}  // namespace replimail::service
