// cyr_promote: failover in one command (docs/OPERATIONS.md "Failover step by
// step"). Run on the replica that becomes the primary:
//
//   cyr_promote [-C imapd.conf] [-M cyrus.conf] [-p master.pid]
//               -o CHANNEL=HOST[:PORT] [-O OLD_IMAPD_CONF [-n OLD_CHANNEL]]
//               [-r CHANNEL=HOST[:PORT]]... [-w SECS]
//
//   -o  the channel this instance creates to the old primary (its
//       sync_server at HOST[:PORT]): recorded as bootstrapping, so the first
//       sync once the old primary is back is a full one (-A) that merges
//       what it alone had (split brain: both sides' messages are kept,
//       folders only it has are copied here).
//   -O  the old primary's imapd.conf, when its files are reachable from here
//       (same host, shared storage): it is fenced (<configdirectory>/readonly:
//       every service of it refuses changes from then on) and what its
//       channel to this instance still holds is sent here (its sync_client
//       run once, or its running rolling client waited for, up to -w SECS,
//       default 120). Without -O the old primary counts as unreachable and
//       the command prints what the operator must guarantee.
//   -n  the old primary's channel to this instance (default: its only
//       channel with a rolling sync_client, or its only one besides squatter)
//   -r  another replica this instance now feeds (repeatable)
//   -p  master's pidfile: master gets SIGHUP (starts the new rolling
//       clients; sync_logd picks up the channels on its own)
//
//   cyr_promote --rejoin [-C imapd.conf] [-M cyrus.conf] [-p master.pid]
//
// Run on the old primary before its master starts again: it stops feeding
// anyone (its replication channels and their rolling clients are removed),
// its read-only fence is lifted so that the new primary's sync can apply,
// and the new primary's channel then brings it back as a replica.
//
// Every step is printed as it is done. Exit status: 0 done, 1 a step failed
// (what was done before it is printed), 64 usage, 78 configuration.
#include <fmt/format.h>
#include <getopt.h>
#include <sysexits.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "admin/promote.h"
#include "common/log.h"

namespace {

using namespace replimail;

constexpr const char* kSynopsis =
    "cyr_promote [-C imapd.conf] [-M cyrus.conf] [-p master.pid] -o CHANNEL=HOST[:PORT]"
    " [-O OLD_IMAPD_CONF [-n OLD_CHANNEL]] [-r CHANNEL=HOST[:PORT]]... [-w SECS]\n"
    "       cyr_promote --rejoin [-C imapd.conf] [-M cyrus.conf] [-p master.pid]";

int usage_error(const std::string& why) {
  std::fprintf(stderr, "cyr_promote: %s\nusage: %s\n", why.c_str(), kSynopsis);
  return EX_USAGE;
}

std::string absolute(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  char cwd[4096];
  if (!::getcwd(cwd, sizeof cwd)) return path;
  return std::string(cwd) + "/" + path;
}

}  // namespace

int main(int argc, char** argv) {
  admin::PromoteOptions o;
  bool rejoin = false;
  static const option longopts[] = {{"rejoin", no_argument, nullptr, 'J'},
                                    {"old-primary", required_argument, nullptr, 'o'},
                                    {"old-config", required_argument, nullptr, 'O'},
                                    {"old-channel", required_argument, nullptr, 'n'},
                                    {"replica", required_argument, nullptr, 'r'},
                                    {nullptr, 0, nullptr, 0}};
  int c;
  while ((c = ::getopt_long(argc, argv, "C:M:p:o:O:n:r:w:", longopts, nullptr)) != -1) {
    switch (c) {
      case 'C':
        o.conf = absolute(optarg);
        break;
      case 'M':
        o.cyrus_conf = absolute(optarg);
        break;
      case 'p':
        o.pidfile = absolute(optarg);
        break;
      case 'J':
        rejoin = true;
        break;
      case 'o': {
        auto t = admin::parse_promote_target(optarg);
        if (!t) return usage_error(fmt::format("-o {}: want CHANNEL=HOST[:PORT]", optarg));
        o.old_primary = *t;
        break;
      }
      case 'O':
        o.old_conf = absolute(optarg);
        break;
      case 'n':
        o.old_channel = optarg;
        break;
      case 'r': {
        auto t = admin::parse_promote_target(optarg);
        if (!t) return usage_error(fmt::format("-r {}: want CHANNEL=HOST[:PORT]", optarg));
        o.replicas.push_back(*t);
        break;
      }
      case 'w':
        o.drain_secs = std::atoi(optarg);
        if (o.drain_secs <= 0) return usage_error("-w wants a number of seconds");
        break;
      default:
        return usage_error("unknown option");
    }
  }
  if (optind != argc) return usage_error(fmt::format("unexpected argument {}", argv[optind]));
  init_logging("cyr_promote", false);
  const admin::PromoteOutput output{
      [](const std::string& line) {
        std::printf("%s\n", line.c_str());
        std::fflush(stdout);
      },
      [](const std::string& line) { std::fprintf(stderr, "cyr_promote: %s\n", line.c_str()); }};
  if (rejoin) {
    if (o.old_primary || !o.old_conf.empty() || !o.replicas.empty())
      return usage_error("--rejoin takes only -C, -M and -p");
    return admin::rejoin(o, output);
  }
  if (!o.old_primary) return usage_error("-o CHANNEL=HOST[:PORT] (the old primary) is required");
  if (!o.old_channel.empty() && o.old_conf.empty()) return usage_error("-n needs -O");
  return admin::promote(o, output);
}
