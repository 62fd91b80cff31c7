// cyr_expire: expires duplicate delivery records, purges expunged records
// and removes deleted mailboxes (store/expire.h has the options and where
// replimail differs from Cyrus 3.6).
#include <sysexits.h>

#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "admin/expire.h"
#include "common/config.h"
#include "common/log.h"
#include "store/instance.h"

namespace {

constexpr int kExitFail = 1;

constexpr const char* kUsage =
    "usage: cyr_expire [-C imapd.conf] [-A dur] [-D dur] [-E dur] [-X dur]\n"
    "                  [-p mailbox-prefix] [-u user] [-v] [-a] [-c] [-x]\n"
    "  -E dur  remove duplicate delivery records (deliver.db) older than dur\n"
    "  -X dur  purge expunged messages (records, and files kept by\n"
    "          expunge_mode: delayed) expunged more than dur ago\n"
    "  -D dur  remove mailboxes deleted (delete_mode: delayed) more than dur ago\n"
    "  -p pfx  only mailboxes whose internal name starts with pfx\n"
    "  -u user only that user's mailboxes\n"
    "  -x      do not purge expunged messages;  -v  verbose\n"
    "  dur: days, or a number with suffix d, h, m or s (1.5d, 12h, 0)\n"
    "Differences from Cyrus 3.6: the /vendor/cmu/cyrus-imapd/expire, archive\n"
    "and delete annotations are not read (so -a has nothing to skip); -A and -c\n"
    "do nothing (no archive partitions, no conversations); -t is refused.\n"
    "-X changes nothing replicated: run it on replicas too. -D's removals\n"
    "reach replicas through the sync log.\n";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  for (const auto& a : args) {
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
  }
  auto opts = replimail::admin::parse_expire_args(args);
  if (!opts.ok()) {
    std::fprintf(stderr, "cyr_expire: %s\n%s", opts.status().message().c_str(), kUsage);
    return EX_USAGE;
  }
  replimail::init_logging("cyr_expire");
  auto cfg = replimail::Config::load(opts->config);
  if (!cfg.ok()) {
    std::fprintf(stderr, "cyr_expire: %s\n", cfg.status().to_string().c_str());
    return EX_CONFIG;
  }
  auto inst = replimail::store::Instance::open(*cfg);
  if (!inst.ok()) {
    std::fprintf(stderr, "cyr_expire: %s\n", inst.status().to_string().c_str());
    return EX_CONFIG;
  }
  auto report =
      replimail::admin::run_expire(**inst, *opts, ::time(nullptr), [](const std::string& line) {
        std::printf("%s\n", line.c_str());
        std::fflush(stdout);
      });
  if (!report.ok()) {
    std::fprintf(stderr, "cyr_expire: %s\n", report.status().to_string().c_str());
    return kExitFail;
  }
  return 0;
}
