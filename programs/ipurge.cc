// ipurge: deletes messages by age or size (admin/purge.h has the options
// and where replimail differs from Cyrus 3.6).

#include "admin/purge.h"
#include "admin/tool_main.h"

namespace {

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
  return replimail::admin::tool_main("ipurge", kUsage, argc, argv,
                                     replimail::admin::parse_ipurge_args,
                                     replimail::admin::run_ipurge);
}
