// Cyrus's sync CRCs (reference §5.9), bit-exact, so that a replimail replica
// and a Cyrus peer agree on whether a mailbox is in sync. Pure functions.
//
// SYNC_CRC is the XOR over non-expunged records of record_crc(); the annot
// CRC is kAnnotCrcSeed XOR, over non-expunged records, record_annot_crc().
// Both are maintained incrementally: XOR the old contribution out, the new in.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "store/record.h"

namespace replimail::store {

inline constexpr uint32_t kAnnotCrcSeed = 12345678;

// zlib/IEEE CRC-32 of the bytes of `s`.
uint32_t crc32_of(std::string_view s);

// XOR of crc32 of the lower-cased names of the set flags (\deleted \answered
// \flagged \draft \seen and each user flag); \Expunged never counts.
uint32_t flags_crc(uint32_t system_flags, const std::vector<std::string>& user_flags);

// crc32("<uid> <modseq> <last_updated> (<flagcrc>) <internaldate> <guid>"),
// or 0 for an expunged record.
uint32_t record_crc(const IndexRecord& r);

// XOR of crc32("<uid> <entry> <userid> <value>") over the record's
// annotations with a non-empty value, plus the virtual savedate and
// createdmodseq annotations when non-zero; 0 for an expunged record.
uint32_t record_annot_crc(const IndexRecord& r, const std::vector<MessageAnnotation>& annots);

// Cyrus's mailbox_crceq(): equal, or either side 0 ("don't check").
inline bool crc_matches(uint32_t a, uint32_t b) { return a == 0 || b == 0 || a == b; }

}  // namespace replimail::store
