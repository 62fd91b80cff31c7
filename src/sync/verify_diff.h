// The consistency verifier's comparison (sync/verify.h): what differs
// between a mailbox on the primary and its copy on a replica, in words an
// operator reads, and whether the normal sync path can make the replica
// equal again without changing the primary. Pure: protocol types in,
// descriptions out.
//
// What counts, as cyr_digest counts it (store/digest.h): the mailbox's
// uniqueid, type, counters (LAST_UID, HIGHESTMODSEQ, UIDVALIDITY, RECENTUID,
// RECENTTIME, POP3_*), sync CRCs, ACL, OPTIONS, FOLDERMODSEQ and mailbox
// annotations; then every record, expunged ones included (GUID, flags,
// MODSEQ, dates, size, SAVEDATE, CREATEDMODSEQ, per-message annotations).
// The partition is not compared (sync_client -p may choose another). CRCs
// are compared exactly: a GET reply carries the replica's real CRCs, so
// the "0 matches anything" rule of a partial batch does not apply.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sync/types.h"

namespace replimail::sync {

// One difference: `what` says it ("flags primary (\Seen) replica
// (\Flagged \Seen)"); `repairable` is false when only a merge that changes
// the primary could resolve it (sync_client's full update: a message only
// the replica holds is copied back, a message the replica lost below its
// LAST_UID is renumbered, a split-brain UID is renumbered on both sides).
struct Difference {
  uint32_t uid = 0;  // 0: the mailbox itself
  std::string what;
  bool repairable = true;
  bool operator==(const Difference&) const = default;
};

// The mailbox-level differences (counters, CRCs, ACL, options,
// annotations, uniqueid, type) between the primary's `p` and the
// replica's `r` of the same name, "field primary X replica Y" each; empty
// when they agree. A different uniqueid (another mailbox of that name) and
// a replica LAST_UID above the primary's are not repairable.
std::vector<Difference> mailbox_differences(const MailboxState& p, const MailboxState& r);

// True if the counters that follow the records differ (CRCs, LAST_UID,
// HIGHESTMODSEQ): the record lists must then be compared.
bool records_may_differ(const MailboxState& p, const MailboxState& r);

// The difference between the primary's and the replica's record of one
// UID (either may be absent, not both); nullopt when they agree, or when
// the side that has it has it expunged (never sent; purged by cyr_expire -X).
// `replica_last_uid`: a record the replica lacks above it is one it has not
// received yet (repairable); below it, one it lost (not repairable).
std::optional<Difference> record_difference(const RecordItem* p, const RecordItem* r,
                                            uint32_t replica_last_uid);

// Walks both record lists (ascending UID) and returns every difference,
// in UID order.
std::vector<Difference> record_differences(const std::vector<RecordItem>& p,
                                           const std::vector<RecordItem>& r,
                                           uint32_t replica_last_uid);

// "(\Seen $Label)": a record's flags as a divergence line shows them,
// system flags in Cyrus's order, then user flags sorted case-insensitively.
std::string flags_text(const store::IndexRecord& rec);

}  // namespace replimail::sync
