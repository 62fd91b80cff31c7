// ipurge: deletes messages by age or size, with Cyrus 3.6's options
// (ipurge(8)). Messages are expunged through store::Instance::expunge, the
// store's normal path: logged, replicated, quota released.
//
//   -d days  older than days (by the Date: header; -X: by delivery time)
//   -b bytes / -k KiB / -m MiB   larger than the size (one of -d/-b/-k/-m)
//   -x  exact: age in whole days, or size, equal to the value
//   -i  invert: -x means not equal, -d newer, -b smaller
//   -s  skip \Flagged messages;  -o  only \Deleted messages
//   -f  also user mailboxes (user.* and below): without it only shared
//       mailboxes are touched, as in Cyrus
//   -M  do not recurse: a pattern selects the mailboxes it names, not
//       their children
//   -n  dry run: print what would go;  -v  print per mailbox totals
//   mailbox-pattern: internal names, '*' any characters, '%' any but '.';
//   none: every mailbox
// Where replimail differs: a message without a usable Date: header is aged
// by its delivery time (Cyrus takes its sent date as 0, so it always counts
// as old).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/record.h"

namespace replimail::store {
class Instance;
}

namespace replimail::admin {

struct PurgeOptions {
  std::string config = "/etc/imapd.conf";  // -C
  std::optional<int64_t> days;             // -d
  std::optional<uint64_t> bytes;           // -b, -k, -m (in bytes)
  bool exact = false;                      // -x
  bool delivery_time = false;              // -X
  bool invert = false;                     // -i
  bool skip_flagged = false;               // -s
  bool only_deleted = false;               // -o
  bool force = false;                      // -f
  bool no_recurse = false;                 // -M
  bool dry_run = false;                    // -n
  bool verbose = false;                    // -v
  std::vector<std::string> patterns;
};

// The arguments after the program name, getopt-style. kInvalidArgument
// naming the problem (no criterion, two criteria, a bad number).
Result<PurgeOptions> parse_ipurge_args(const std::vector<std::string>& args);

// True if the message `r` (whose age reference is `when`, Unix seconds)
// is to be deleted at `now`. Expunged records never are.
bool purge_matches(const PurgeOptions& o, const store::IndexRecord& r, int64_t when, int64_t now);

// True if mailbox `name` is selected by the patterns and -f.
bool purge_selects(const PurgeOptions& o, std::string_view name);

struct PurgeReport {
  uint64_t mailboxes = 0;
  uint64_t messages = 0, bytes = 0;  // looked at
  uint64_t deleted = 0, deleted_bytes = 0;
};

// Does what `o` asks at `now`; `say` receives the lines -n and -v print.
Result<PurgeReport> run_ipurge(store::Instance& inst, const PurgeOptions& o, int64_t now,
                               const std::function<void(const std::string&)>& say);

}  // namespace replimail::admin
