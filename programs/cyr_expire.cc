// cyr_expire: expires duplicate delivery records, purges expunged records
// and removes deleted mailboxes (store/expire.h has the options and where
// replimail differs from Cyrus 3.6).

#include "admin/expire.h"
#include "admin/tool_main.h"

namespace {

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
  return replimail::admin::tool_main("cyr_expire", kUsage, argc, argv,
                                     replimail::admin::parse_expire_args,
                                     replimail::admin::run_expire);
}
