// ipurge: deletes messages by age or size (admin/purge.h has the options
// and where replimail differs from Cyrus 3.6).
#include <sysexits.h>

#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "admin/purge.h"
#include "common/config.h"
#include "common/log.h"
#include "store/instance.h"

namespace {

constexpr int kExitFail = 1;

constexpr const char* kUsage =
    "usage: ipurge [-f] [-C imapd.conf] [-x] [-M] [-X] [-i] [-s] [-o] [-n] [-v]\n"
    "              {-d days | -b bytes | -k Kbytes | -m Mbytes} [mailbox-pattern...]\n"
    "  -d days older than days (Date: header; -X: delivery time)\n"
    "  -b/-k/-m larger than bytes / KiB / MiB\n"
    "  -x exact match;  -i invert;  -s skip \\Flagged;  -o only \\Deleted\n"
    "  -f also user mailboxes (default: shared ones only);  -M do not recurse\n"
    "  -n dry run;  -v per-mailbox totals\n"
    "  patterns are internal names ('user.bob.*'): '*' any, '%' any but '.'\n"
    "Differences from Cyrus 3.6: a message without a usable Date: header is\n"
    "aged by its delivery time (Cyrus takes it as infinitely old).\n"
    "Deletions are expunges through the store: logged and replicated.\n";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  for (const auto& a : args) {
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
  }
  auto opts = replimail::admin::parse_ipurge_args(args);
  if (!opts.ok()) {
    std::fprintf(stderr, "ipurge: %s\n%s", opts.status().message().c_str(), kUsage);
    return EX_USAGE;
  }
  replimail::init_logging("ipurge");
  auto cfg = replimail::Config::load(opts->config);
  if (!cfg.ok()) {
    std::fprintf(stderr, "ipurge: %s\n", cfg.status().to_string().c_str());
    return EX_CONFIG;
  }
  auto inst = replimail::store::Instance::open(*cfg);
  if (!inst.ok()) {
    std::fprintf(stderr, "ipurge: %s\n", inst.status().to_string().c_str());
    return EX_CONFIG;
  }
  auto report =
      replimail::admin::run_ipurge(**inst, *opts, ::time(nullptr), [](const std::string& line) {
        std::printf("%s\n", line.c_str());
        std::fflush(stdout);
      });
  if (!report.ok()) {
    std::fprintf(stderr, "ipurge: %s\n", report.status().to_string().c_str());
    return kExitFail;
  }
  return 0;
}
