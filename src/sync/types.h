// The replication protocol's objects as plain types (reference §4.4–§4.6):
// what GET replies and APPLY requests carry. Conversion to and from the wire
// is in sync/protocol.h; building them from the store in sync/state.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/message_cache.h"
#include "store/record.h"
#include "store/userdata.h"

namespace replimail::sync {

// A mailbox-level or per-message annotation as carried in ANNOTATIONS lists.
struct AnnotationItem {
  std::string entry;
  std::string userid;  // "" = shared
  uint64_t modseq = 0;
  std::string value;
  bool operator==(const AnnotationItem&) const = default;
};

// The banner line a replimail sync_server sends ("* X-REPLIMAIL-CACHE") to
// say it takes a CACHE item in APPLY MAILBOX's records (RecordItem::cache).
// A Cyrus peer neither sends it nor is sent CACHE.
inline constexpr std::string_view kCacheCapability = "X-REPLIMAIL-CACHE";

// The virtual per-message annotations that carry index fields (§4.6).
inline constexpr std::string_view kSavedateEntry = "/vendor/cmu/cyrus-imapd/savedate";
inline constexpr std::string_view kCreatedModseqEntry = "/vendor/cmu/cyrus-imapd/createdmodseq";
inline constexpr std::string_view kThridEntry = "/vendor/cmu/cyrus-imapd/thrid";

// One RECORD element. Virtual annotations are folded into `record`
// (savedate, createdmodseq); `annotations` holds only real ones. `cache` is
// the master's message cache of the record's file, sent only to a replica
// that offers kCacheCapability (a replimail extension; Cyrus's records have
// no such field), so that the replica need not read the file back and parse
// it: the file's bytes are the same (its GUID is their SHA-1).
struct RecordItem {
  store::IndexRecord record;
  std::vector<AnnotationItem> annotations;
  std::optional<store::MessageCache> cache;
  bool operator==(const RecordItem&) const = default;
};

// A MAILBOX kvlist: a GET reply (replica state) or an APPLY MAILBOX request.
struct MailboxState {
  std::string uniqueid;
  std::string mboxname;
  std::string mbtype;  // "" for plain email (MBOXTYPE omitted); "ei" intermediate
  uint32_t sync_crc = 0;
  std::optional<uint32_t> sync_crc_annot;
  uint32_t last_uid = 0;
  uint64_t highestmodseq = 0;
  uint32_t recentuid = 0;
  int64_t recenttime = 0;
  int64_t last_appenddate = 0;
  int64_t pop3_last_login = 0;
  int64_t pop3_show_after = 0;
  uint64_t xconvmodseq = 0;
  uint64_t raclmodseq = 0;
  uint32_t uidvalidity = 0;
  std::string partition;
  std::string acl;
  std::string options;
  std::string quotaroot;
  uint64_t createdmodseq = 0;
  uint64_t foldermodseq = 0;
  std::vector<AnnotationItem> annotations;
  // The replica state a delta was computed against (APPLY MAILBOX only).
  std::optional<uint64_t> since_modseq;
  uint32_t since_crc = 0;
  uint32_t since_crc_annot = 0;
  // RECORD list: present in APPLY MAILBOX and GET FULLMAILBOX replies.
  std::optional<std::vector<RecordItem>> records;

  bool intermediate() const { return mbtype.find('i') != std::string::npos; }
  bool operator==(const MailboxState&) const = default;
};

struct QuotaItem {
  std::string root;
  int64_t storage_kib = -1;  // -1 unlimited
  int64_t messages = -1;     // -1 unlimited
  uint64_t modseq = 0;
  bool operator==(const QuotaItem&) const = default;
};

// A SEEN kvlist; `userid` is present in APPLY SEEN, absent in GET replies.
struct SeenItem {
  std::string userid;
  store::SeenRecord seen;
  bool operator==(const SeenItem&) const = default;
};

struct ReserveRequest {
  std::string partition;
  std::vector<std::string> mboxnames;
  std::vector<std::string> guids;
  bool operator==(const ReserveRequest&) const = default;
};

struct RenameRequest {
  std::string oldname;
  std::string newname;
  std::string partition;
  uint32_t uidvalidity = 0;  // 0: not sent
  bool operator==(const RenameRequest&) const = default;
};

struct ExpungeRequest {
  std::string mboxname;
  std::string uniqueid;
  std::vector<uint32_t> uids;
  bool operator==(const ExpungeRequest&) const = default;
};

// APPLY SUB / UNSUB.
struct SubRequest {
  std::string userid;
  std::string mboxname;
  bool operator==(const SubRequest&) const = default;
};

// APPLY ANNOTATION / UNANNOTATION and GET ANNOTATION reply items.
struct ServerAnnotation {
  std::string mboxname;  // "" = server-wide
  std::string entry;
  std::string userid;
  std::string value;
  bool operator==(const ServerAnnotation&) const = default;
};

// One `* SIEVE %(FILENAME f LAST_UPDATE t GUID g ISACTIVE 0|1)` item of a
// GET USER / GET META reply (legacy sieve, without SIEVE-MAILBOX). The
// active script is listed twice: "<name>.script" (ISACTIVE 0, content GUID)
// and "<name>.bc" (ISACTIVE 1, all-zero GUID), as Cyrus lists it.
struct SieveItem {
  std::string filename;
  int64_t last_update = 0;
  std::string guid;  // SHA-1 of the content, 40 hex digits
  bool active = false;
  bool operator==(const SieveItem&) const = default;
};

// APPLY SIEVE (with content), UNSIEVE and ACTIVATE_SIEVE (without).
struct SieveRequest {
  std::string userid;
  std::string filename;
  int64_t last_update = 0;
  std::string content;
  bool operator==(const SieveRequest&) const = default;
};

// Everything a GET USER / GET META reply carries.
struct UserState {
  std::vector<MailboxState> mailboxes;
  std::vector<QuotaItem> quotas;
  std::vector<SeenItem> seen;
  std::vector<std::string> lsub;
  std::vector<SieveItem> sieve;
};

}  // namespace replimail::sync
