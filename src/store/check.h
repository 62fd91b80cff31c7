// Consistency check of a mailbox's storage against its index, and repair.
// A crash (kill -9) can leave: a message file without an index row (linked
// but never committed, so never acknowledged: an orphan, removed), stale
// staging files of dead processes (removed). Damage from outside (a file
// deleted or altered by hand, counters behind the records) is reported and,
// with repair, fixed: a record whose file is gone is marked expunged, wrong
// size/GUID is rewritten from the file, LAST_UID/HIGHESTMODSEQ raised, CRCs
// and quota usage recomputed. A live record without its message cache (a
// mailbox written before the cache existed) gets it computed from its file.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace replimail::store {

class Instance;

struct CheckProblem {
  enum class Kind {
    kOrphanFile,       // message file with no index record
    kMissingFile,      // live record whose file is missing
    kWrongSize,        // file size differs from the record
    kWrongGuid,        // file SHA-1 differs from the record
    kCounterBehind,    // LAST_UID or HIGHESTMODSEQ below a record's
    kDerivedMismatch,  // stored CRCs or quota usage differ from the records
    kStaleStage,       // staging file of a dead process
    kMissingCache,     // live record without a current message cache (an
                       // index from before the cache, or a rewritten GUID)
  };
  Kind kind;
  uint32_t uid = 0;
  std::string detail;
};

struct CheckOptions {
  bool repair = false;
  // Re-read every message file and verify size and SHA-1 (slow). Without it
  // only the directory listing and file sizes are compared.
  bool verify_content = false;
};

struct CheckReport {
  std::string mailbox;
  std::vector<CheckProblem> problems;
  bool repaired = false;
  bool ok() const { return problems.empty(); }
};

std::string_view problem_kind_name(CheckProblem::Kind k);

// Checks (and with opts.repair, repairs) one mailbox. Repair holds the
// mailbox's write lock, so it is safe while other processes deliver.
Result<CheckReport> check_mailbox(Instance& inst, const std::string& name,
                                  const CheckOptions& opts);
// Removes staging files of dead processes on every partition.
Result<std::vector<CheckProblem>> check_staging(Instance& inst, bool repair);

// What reconstruct does: checks the named mailboxes (every mailbox when
// `names` is empty; with `recursive`, each name's children too) and the
// staging directories; with opts.repair also fixes them and recomputes the
// usage of every quota root. Each finding is passed to `out` as one line
// ("user.alice: orphan-file uid 7: file without index record"). Returns the
// number of problems found.
Result<size_t> reconstruct(Instance& inst, const std::vector<std::string>& names, bool recursive,
                           const CheckOptions& opts,
                           const std::function<void(const std::string&)>& out);

}  // namespace replimail::store
