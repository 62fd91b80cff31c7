// reconstruct: check and repair mailboxes, as Cyrus's tool of the same name.
//
//   reconstruct [-C imapd.conf] [-n] [-G] [-r] [NAME...]
//
// Without names every mailbox is checked. -n only reports (exit status 1 if
// anything is wrong); -G re-reads every message file and verifies its SHA-1;
// -r includes the children of each NAME. Also removes staging files left by
// dead processes and, when repairing, recomputes quota usage.
#include <sysexits.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/log.h"
#include "store/check.h"
#include "store/instance.h"
#include "sync/reserve.h"

namespace {

constexpr int kExitFail = 1;

int usage(const char* why) {
  std::fprintf(stderr,
               "reconstruct: %s\n"
               "usage: reconstruct [-C imapd.conf] [-n] [-G] [-r] [NAME...]\n",
               why);
  return EX_USAGE;
}

}  // namespace

int main(int argc, char** argv) {
  std::string conf_path = "/etc/imapd.conf";
  replimail::store::CheckOptions opts;
  opts.repair = true;
  bool recursive = false;
  int opt;
  while ((opt = ::getopt(argc, argv, "C:nGr")) != -1) {
    switch (opt) {
      case 'C':
        conf_path = optarg;
        break;
      case 'n':
        opts.repair = false;
        break;
      case 'G':
        opts.verify_content = true;
        break;
      case 'r':
        recursive = true;
        break;
      default:
        return usage("unknown option");
    }
  }
  std::vector<std::string> names(argv + optind, argv + argc);

  replimail::init_logging("reconstruct");
  auto cfg = replimail::Config::load(conf_path);
  if (!cfg.ok()) {
    std::fprintf(stderr, "reconstruct: %s\n", cfg.status().to_string().c_str());
    return EX_CONFIG;
  }
  auto inst = replimail::store::Instance::open(*cfg);
  if (!inst.ok()) {
    std::fprintf(stderr, "reconstruct: %s\n", inst.status().to_string().c_str());
    return EX_CONFIG;
  }
  auto n = replimail::store::reconstruct(
      **inst, names, recursive, opts,
      [](const std::string& line) { std::printf("%s\n", line.c_str()); });
  if (!n.ok()) {
    std::fprintf(stderr, "reconstruct: %s\n", n.status().to_string().c_str());
    return kExitFail;
  }
  // Replication staging of killed sync_server sessions (sync/reserve.h).
  auto stale = replimail::sync::sweep_staging(**inst, opts.repair);
  if (!stale.ok()) {
    std::fprintf(stderr, "reconstruct: %s\n", stale.status().to_string().c_str());
    return kExitFail;
  }
  for (const auto& dir : *stale)
    std::printf("staging: stale-sync-stage: %s%s\n", dir.c_str(), opts.repair ? " (removed)" : "");
  *n += stale->size();
  if (*n == 0)
    std::printf("consistent\n");
  else
    std::printf("%zu problem(s)%s\n", *n, opts.repair ? ", repaired" : "");
  return (!opts.repair && *n > 0) ? kExitFail : 0;
}
