// Legacy per-user sieve scripts on a replica: what APPLY SIEVE / UNSIEVE /
// ACTIVATE_SIEVE / UNACTIVATE_SIEVE change and what GET USER / GET META list
// as `* SIEVE` items when the client has not enabled SIEVE-MAILBOX
// (reference §4.4, §4.5, §5.11).
//
// Layout, as Cyrus 3.6 keeps a user's sieve directory without SIEVE-MAILBOX:
//   <sievedir>/<h>/<user>/<name>.script      the script source
//   <sievedir>/<h>/<user>/defaultbc          symlink to "<name>.bc" (active)
// where <h> is the user's first letter (lower-cased; 'q' for a non-letter)
// and a "user@domain" lives under <sievedir>/domain/<d>/<domain>/<h>/<user>.
// `sievedir` defaults to <configdirectory>/sieve. replimail compiles no
// bytecode: the `.bc` a symlink names is never written, the link only
// records which script is active (as the listing reports it).
//
// Script names are single path components (no '/', no leading '.').
// Writes are atomic and durable (fs::write_file_atomic). Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/status.h"
#include "sync/types.h"

namespace replimail::sync {

class SieveStore {
 public:
  explicit SieveStore(const Config& config);

  // The user's sieve directory (it need not exist).
  Result<std::string> user_dir(std::string_view userid) const;
  // Every script, sorted by file name; empty if the user has none.
  Result<std::vector<SieveItem>> list(std::string_view userid) const;
  // APPLY SIEVE: stores `content` as `filename` with mtime `last_update`.
  // Names not ending in ".script" are accepted and ignored, as in Cyrus.
  Status put(std::string_view userid, std::string_view filename, int64_t last_update,
             std::string_view content);
  // APPLY UNSIEVE: removes the script (deactivating it first if active).
  // A missing script is not an error.
  Status remove(std::string_view userid, std::string_view filename);
  // APPLY ACTIVATE_SIEVE with the bytecode name "<name>.bc".
  // kMailboxNonexistent if "<name>.script" does not exist.
  Status activate(std::string_view userid, std::string_view bcname);
  // APPLY UNACTIVATE_SIEVE.
  Status deactivate(std::string_view userid);
  // APPLY UNUSER: the whole directory.
  Status remove_user(std::string_view userid);

 private:
  std::string root_;
};

}  // namespace replimail::sync
