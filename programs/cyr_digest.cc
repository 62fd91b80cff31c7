// cyr_digest: prints the canonical digest of an instance's replicated state
// (store/digest.h): one item per line, sorted, then "hash <sha1>". Two
// instances replicate each other exactly when their outputs are equal.
//
//   cyr_digest [-C imapd.conf] [-u USER | -m MAILBOX]
#include <sysexits.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "common/config.h"
#include "common/log.h"
#include "store/digest.h"
#include "store/instance.h"

namespace {

constexpr int kExitFail = 1;

int usage(const char* why) {
  std::fprintf(stderr, "cyr_digest: %s\nusage: cyr_digest [-C imapd.conf] [-u USER | -m MAILBOX]\n",
               why);
  return EX_USAGE;
}

}  // namespace

int main(int argc, char** argv) {
  std::string conf_path = "/etc/imapd.conf";
  replimail::store::DigestScope scope;
  int opt;
  while ((opt = ::getopt(argc, argv, "C:u:m:")) != -1) {
    switch (opt) {
      case 'C':
        conf_path = optarg;
        break;
      case 'u':
        scope.user = optarg;
        break;
      case 'm':
        scope.mailbox = optarg;
        break;
      default:
        return usage("unknown option");
    }
  }
  if (optind != argc) return usage("unexpected argument");
  if (!scope.user.empty() && !scope.mailbox.empty()) return usage("-u and -m exclude each other");
  if (!scope.user.empty() && !replimail::store::validate_userid(scope.user))
    return usage("invalid user");

  replimail::init_logging("cyr_digest");
  auto cfg = replimail::Config::load(conf_path);
  if (!cfg.ok()) {
    std::fprintf(stderr, "cyr_digest: %s\n", cfg.status().to_string().c_str());
    return EX_CONFIG;
  }
  auto inst = replimail::store::Instance::open(*cfg);
  if (!inst.ok()) {
    std::fprintf(stderr, "cyr_digest: %s\n", inst.status().to_string().c_str());
    return EX_CONFIG;
  }
  auto lines = replimail::store::digest_lines(**inst, scope);
  if (!lines.ok()) {
    std::fprintf(stderr, "cyr_digest: %s\n", lines.status().to_string().c_str());
    return kExitFail;
  }
  std::string out;
  for (const auto& l : *lines) out += l + "\n";
  out += replimail::store::digest_hash_line(*lines) + "\n";
  if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
    std::perror("cyr_digest: write");
    return kExitFail;
  }
  return 0;
}
