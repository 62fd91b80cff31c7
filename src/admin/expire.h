// cyr_expire: the regular clean-up of an instance, with Cyrus 3.6's
// options (cyr_expire(8)); every removal goes through store::Instance's
// mutation path, so it is logged to the sync log like any other change.
//
//   -E dur  remove duplicate delivery records (deliver.db) older than dur
//   -X dur  purge expunged records whose expunge is older than dur, with
//           their files (expunge_mode: delayed keeps the files till then)
//   -D dur  delete mailboxes under deletedprefix (delete_mode: delayed)
//           whose deletion time (the hex suffix of the name) is older
//           than dur
//   -p pfx  only mailboxes whose internal name starts with pfx
//   -u user only the user's mailboxes (and the user's deleted ones)
//   -x      skip -X;  -v  say what was done;  -a  see below
//   -A dur, -c: accepted; no archive partitions nor conversations exist,
//           so they have nothing to do (as in Cyrus without them)
//   -t      refused: not implemented
// A duration is a number (a fraction allowed) of days, or with a suffix
// d, h, m or s. At least one of -A -D -E -X must be given.
//
// Where replimail differs from Cyrus: the /vendor/cmu/cyrus-imapd/expire,
// /archive and /delete annotations are not read (no message is expunged by
// age, -E applies to every mailbox; -a has nothing to skip).
//
// Replication: -D's deletions are logged (UNMAILBOX) and replicas delete
// their copies through the normal sync path. -X changes nothing replicated
// (expunged records count in no CRC, count or quota), so each host purges
// its own expunged records: run cyr_expire -X on replicas too, as with
// Cyrus. deliver.db is per host.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace replimail::store {
class Instance;
}

namespace replimail::admin {

using store::Instance;

struct ExpireOptions {
  std::string config = "/etc/imapd.conf";  // -C
  std::optional<double> expire_s;          // -E, seconds
  std::optional<double> expunge_s;         // -X
  std::optional<double> delete_s;          // -D
  std::optional<double> archive_s;         // -A (nothing to archive)
  std::string prefix;                      // -p
  std::string user;                        // -u
  bool verbose = false;                    // -v
  bool skip_annotations = false;           // -a
  bool skip_expunge = false;               // -x
  bool skip_conversations = false;         // -c
};

// A cyr_expire duration in seconds: "2" (days), "1.5d", "12h", "30m",
// "45s". kInvalidArgument for anything else (negative, empty, unknown suffix).
Result<double> parse_expire_duration(std::string_view text);

// The arguments after the program name, getopt-style ("-X0", "-X 0",
// "-va"). kInvalidArgument naming the problem.
Result<ExpireOptions> parse_expire_args(const std::vector<std::string>& args);

struct ExpireReport {
  int64_t duplicates_expired = 0;
  int64_t duplicates_left = 0;
  uint64_t mailboxes_scanned = 0;
  uint64_t records_purged = 0;
  uint64_t mailboxes_deleted = 0;
};

// Does what `opts` asks at time `now` (Unix seconds). `say` receives one
// line per action when opts.verbose. Stops at the first error.
Result<ExpireReport> run_expire(Instance& inst, const ExpireOptions& opts, int64_t now,
                                const std::function<void(const std::string&)>& say);

// The deletion time encoded in the name of a mailbox under deletedprefix
// ("DELETED.user.bob.Old.6B0799F4" -> 0x6B0799F4); nullopt if the last
// level is not 8 hex digits.
std::optional<int64_t> deleted_mailbox_time(std::string_view name);

}  // namespace replimail::admin
