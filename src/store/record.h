// The per-message index record and the per-mailbox counters: exactly the
// fields the replication protocol carries (reference §4.4, §4.6), so that a
// replica can be made identical to its master.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace replimail::store {

// System flag bits of IndexRecord::system_flags.
enum SystemFlag : uint32_t {
  kFlagAnswered = 1u << 0,
  kFlagFlagged = 1u << 1,
  kFlagDeleted = 1u << 2,
  kFlagDraft = 1u << 3,
  kFlagSeen = 1u << 4,
  // The record was expunged; Cyrus's replication-only "\Expunged" flag.
  kFlagExpunged = 1u << 31,
};

// One message of a mailbox. `user_flags` are in the mailbox's flag-slot order.
struct IndexRecord {
  uint32_t uid = 0;
  uint64_t modseq = 0;
  int64_t last_updated = 0;  // Unix seconds
  uint32_t system_flags = 0;
  std::vector<std::string> user_flags;
  int64_t internaldate = 0;  // Unix seconds
  uint64_t size = 0;
  std::string guid;  // 40 lower-case hex digits: SHA-1 of the message file
  int64_t savedate = 0;
  uint64_t createdmodseq = 0;

  bool expunged() const { return (system_flags & kFlagExpunged) != 0; }
  bool operator==(const IndexRecord&) const = default;
};

// A per-message annotation (RFC 5257 style); `userid` "" means shared.
struct MessageAnnotation {
  uint32_t uid = 0;
  std::string entry;
  std::string userid;
  std::string value;
  uint64_t modseq = 0;
  bool operator==(const MessageAnnotation&) const = default;
};

// The index header of a mailbox (Cyrus's cyrus.index header fields).
struct MailboxCounters {
  uint32_t last_uid = 0;
  uint64_t highestmodseq = 0;
  uint32_t recentuid = 0;
  int64_t recenttime = 0;
  int64_t last_appenddate = 0;
  int64_t pop3_last_login = 0;
  int64_t pop3_show_after = 0;
  uint32_t uidvalidity = 0;
  std::string options;  // Cyrus OPTIONS letters (P, S, D, A); "" if none
  uint32_t sync_crc = 0;
  uint32_t sync_crc_annot = 0;
  // Quota usage of this mailbox: non-expunged messages and their bytes.
  uint64_t exists = 0;
  uint64_t quota_used = 0;
  bool operator==(const MailboxCounters&) const = default;
};

// "\Answered"-style names of the set system flags, in Cyrus's replication
// order (\Deleted \Answered \Flagged \Draft \Expunged \Seen).
std::vector<std::string> system_flag_names(uint32_t flags);
// Bit of a system flag name (case-insensitive, with the backslash); 0 if the
// name is not a system flag.
uint32_t system_flag_bit(std::string_view name);

// Keywords (user flags) are one name whatever their case (RFC 3501 §2.3.2):
// a mailbox keeps one flag slot per name, spelled as it was first seen, as
// Cyrus does. Every path that compares or merges keywords (IMAP STORE and
// SEARCH, the store's slots, replication) uses these.
bool same_keyword(std::string_view a, std::string_view b);
bool has_keyword(const std::vector<std::string>& keywords, std::string_view k);
// True if `a` and `b` hold the same keywords, in any order and case.
bool same_keywords(const std::vector<std::string>& a, const std::vector<std::string>& b);

enum class FlagChange { kReplace, kAdd, kRemove };
// The keywords of a message that has `have` after a STORE of `keywords`:
// no name twice, and a name `have` already holds keeps its spelling there.
std::vector<std::string> change_keywords(const std::vector<std::string>& have,
                                         const std::vector<std::string>& keywords,
                                         FlagChange op);

}  // namespace replimail::store
