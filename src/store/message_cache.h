// The message cache: what IMAP FETCH and SEARCH read of a message without
// opening its file, as Cyrus keeps it in cyrus.cache. Computed once from the
// message file when a record is written (MailboxTxn: delivery, APPEND, a
// replica applying its master's record) and kept in the mailbox index, in
// the same transaction as the record, in the table `message_cache` (one row
// per live record, keyed by UID, with the GUID of the file it describes).
//
// A row whose version or GUID differs from the record's is stale and read
// as missing. Records written before the cache existed have no row: readers
// then parse the file and fill the row lazily (Mailbox::cache), and
// reconstruct fills every missing row.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace replimail::mime {
class Message;
}

namespace replimail::store {

struct MessageCache {
  // Bumped when what is cached, or how it is printed, changes: rows of an
  // older version are recomputed.
  static constexpr int64_t kVersion = 2;

  // The message's header block exactly as in the file, with the blank line
  // that ends it (FETCH BODY[HEADER], RFC822.HEADER, HEADER.FIELDS; SEARCH
  // header keys).
  std::string header;
  // FETCH ENVELOPE, BODYSTRUCTURE and BODY as IMAP prints them.
  std::string envelope;
  std::string bodystructure;
  std::string body;
  // Where the body text SEARCH BODY/TEXT read lies in the file, and how to
  // decode it (mime::text_segments; "" when it cannot be kept: the scan
  // then parses the file).
  std::string text_segments;

  bool operator==(const MessageCache&) const = default;
};

// Beside each cache row, written with it in the same transaction (the
// index's write_cache writes both), a narrow row of table `search_fields` (UID, GUID,
// version, and the search form of the Subject fields:
// mime::field_search_form(header, "Subject")) that SEARCH SUBJECT reads
// with one cursor in UID order (SubjectCursor), as Cyrus keeps the subject
// as its own cache item. A cache row without it (an index written before
// the table existed) is read as missing it: the scan computes it from the
// header block and writes it back (Mailbox::flush_cache), reconstruct
// fills it. Bumped when the search form changes (search_fold does): rows of
// an older version are computed again.
inline constexpr int64_t kSearchFieldsVersion = 1;

// The parts of a cache row SEARCH reads alone (Mailbox::cache_column):
// MessageCache::header and MessageCache::text_segments.
enum class CacheColumn { kHeader, kTextSegments };

// Messages up to this size get their cache with the record, in the append's
// transaction. Parsing maps the whole file, so a larger message (an
// attachment of tens of MiB) would make every appending process, imapd
// included, as large as the message; its cache is filled on first use
// instead (Mailbox::cache), as for records written before the cache
// existed, and check_mailbox does not count it missing.
constexpr uint64_t kCacheAtAppendMaxBytes = 8u << 20;
inline bool cache_at_append(uint64_t message_size) {
  return message_size <= kCacheAtAppendMaxBytes;
}

// The cache of a parsed message.
MessageCache make_message_cache(const mime::Message& msg);
// The cache of the message file at `path`. kIoError if it cannot be read.
Result<MessageCache> compute_message_cache(const std::string& path);

}  // namespace replimail::store
