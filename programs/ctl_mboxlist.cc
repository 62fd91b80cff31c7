// ctl_mboxlist: mailbox list maintenance, as Cyrus's tool of the same name.
//
//   ctl_mboxlist [-C imapd.conf] -d [-p PARTITION]
//
// -d dumps mailboxes.db, one line per entry, tombstones and intermediates
// included: the name, a TAB, then the entry as a Cyrus-style kvlist
// (T type, I uniqueid, P partition, V uidvalidity, C createdmodseq,
// F foldermodseq, M mtime, A acl). A tombstone's type contains 'd' and the
// line ends with a TAB and "(tombstone)"; an intermediate's type contains 'i'.
#include <fmt/format.h>
#include <sysexits.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "common/config.h"
#include "common/log.h"
#include "store/acl.h"
#include "store/instance.h"

namespace {

constexpr int kExitFail = 1;

int usage(const char* why) {
  std::fprintf(stderr,
               "ctl_mboxlist: %s\n"
               "usage: ctl_mboxlist [-C imapd.conf] -d [-p PARTITION]\n",
               why);
  return EX_USAGE;
}

std::string format_entry(const replimail::store::MailboxEntry& e) {
  std::string acl;
  for (const auto& [id, rights] : replimail::store::parse_acl(e.acl))
    acl += fmt::format("{}{} {}", acl.empty() ? "" : " ", id, rights);
  std::string out =
      fmt::format("%(T {} I {} P {} V {} C {} F {} M {} A %({}))", e.mbtype, e.uniqueid,
                  e.partition, e.uidvalidity, e.createdmodseq, e.foldermodseq, e.mtime, acl);
  if (e.is_tombstone()) out += "\t(tombstone)";
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string conf_path = "/etc/imapd.conf";
  std::string partition;
  bool dump = false;
  int opt;
  while ((opt = ::getopt(argc, argv, "C:dp:")) != -1) {
    switch (opt) {
      case 'C':
        conf_path = optarg;
        break;
      case 'd':
        dump = true;
        break;
      case 'p':
        partition = optarg;
        break;
      default:
        return usage("unknown option");
    }
  }
  if (!dump) return usage("no operation given (only -d is supported)");
  if (optind != argc) return usage("unexpected argument");

  replimail::init_logging("ctl_mboxlist");
  auto cfg = replimail::Config::load(conf_path);
  if (!cfg.ok()) {
    std::fprintf(stderr, "ctl_mboxlist: %s\n", cfg.status().to_string().c_str());
    return EX_CONFIG;
  }
  auto inst = replimail::store::Instance::open(*cfg);
  if (!inst.ok()) {
    std::fprintf(stderr, "ctl_mboxlist: %s\n", inst.status().to_string().c_str());
    return EX_CONFIG;
  }
  replimail::Status s =
      (*inst)->mailboxes().list("", true, [&](const replimail::store::MailboxEntry& e) {
        if (partition.empty() || e.partition == partition)
          std::printf("%s\t%s\n", e.name.c_str(), format_entry(e).c_str());
        return true;
      });
  if (!s) {
    std::fprintf(stderr, "ctl_mboxlist: %s\n", s.to_string().c_str());
    return kExitFail;
  }
  return 0;
}
