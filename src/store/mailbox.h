// One mailbox's storage: the directory `<partition>/uuid/<u0>/<u1>/<uniqueid>/`
// holding one plain RFC 5322 file per message (`<uid>.`) and the index
// `cyrus.index.db` (SQLite, WAL, synchronous=FULL): a header row of counters,
// one row per record, the mailbox's user-flag slots and per-message
// annotations.
//
// Concurrency: any number of processes may open the same mailbox. A write
// transaction (MailboxTxn) takes SQLite's write lock with BEGIN IMMEDIATE, so
// writers are serialised and UIDs are never reused; readers see committed
// state only.
//
// Expunge policy (expunge_mode): an expunged record stays in the index
// (flag kFlagExpunged, new modseq) so replicas learn of it. Its message file
// is removed as soon as the expunge is committed ("semidelayed", our
// default), or kept with the record ("delayed", Cyrus's default) until
// cyr_expire -X purges both (MailboxTxn::purge_expunged).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/workers.h"
#include "store/mboxlist.h"
#include "store/message_cache.h"
#include "store/record.h"
#include "synclog/line.h"

namespace replimail::store {

class SqliteDb;
class SqliteStmt;
class IndexPool;
class StagedMessage;
class MailboxTxn;

// The directory of a mailbox on `partition_path` (Cyrus 3.6 uuid layout).
// kMailboxBadName unless `uniqueid` passes validate_uniqueid() (a uniqueid
// such as "../../x" must never become a path), kConfigError for an empty
// partition path.
Result<std::string> mailbox_dir(const std::string& partition_path, const std::string& uniqueid);
// The file holding message `uid` in mailbox directory `dir`: "<dir>/<uid>.".
std::string message_file(const std::string& dir, uint32_t uid);

class Mailbox {
 public:
  // Creates the directory and an empty index for `entry` with `counters`
  // (uidvalidity, highestmodseq taken from it). kMailboxExists if an index
  // is already there.
  static Status create(const MailboxEntry& entry, const std::string& dir,
                       const MailboxCounters& counters);
  // Opens the mailbox of `entry` stored in `dir`. `pool` (may be null) lends an idle connection to
  // the index and takes it back when the Mailbox is destroyed.
  static Result<std::unique_ptr<Mailbox>> open(const MailboxEntry& entry, const std::string& dir,
                                               std::shared_ptr<IndexPool> pool = nullptr);
  ~Mailbox();

  const MailboxEntry& entry() const { return entry_; }
  const std::string& name() const { return entry_.name; }
  const std::string& dir() const { return dir_; }
  std::string message_path(uint32_t uid) const { return message_file(dir_, uid); }

  // Committed state.
  Result<MailboxCounters> counters();
  Result<IndexRecord> record(uint32_t uid);
  // Records in UID order with modseq > `since_modseq` (0: all), expunged ones
  // included; stops when `fn` returns false. `fn` may call record() and
  // annotations() but not for_each_record() on the same Mailbox.
  Status for_each_record(uint64_t since_modseq, const std::function<bool(const IndexRecord&)>& fn);
  // UIDs of the records not expunged whose message is `guid` (hex), in
  // UID order: through the index on guid when the mailbox has it.
  Result<std::vector<uint32_t>> uids_of_guid(const std::string& guid);
  // The (GUID, UID) pairs of the records not expunged whose message is one
  // of `guids` (hex), GUID by GUID through the index on guid, or with one
  // read of every record where the index could not be made.
  Result<std::vector<std::pair<std::string, uint32_t>>> uids_of_guids(
      const std::vector<std::string>& guids);
  // Per-message annotations of `uid`, sorted by entry then userid.
  Result<std::vector<MessageAnnotation>> annotations(uint32_t uid);
  // The mailbox's user flags in slot order.
  Result<std::vector<std::string>> user_flag_slots();
  // Opens message `uid` for reading; returns the fd (caller closes).
  Result<int> open_message(uint32_t uid) const;

  // The cache of live record `uid`, whose file has GUID `guid`: the index's
  // row when it is there and current. Otherwise (a record written before the
  // cache existed) it is computed from the message file and queued to be
  // written to the index by flush_cache(), which runs by itself every
  // kCacheFillBatch queued rows and when the Mailbox is destroyed.
  Result<MessageCache> cache(uint32_t uid, const std::string& guid);
  // The index's current cache row of `uid` for `guid`, or nullopt: never
  // computed from the file (sync_client sends a replica what it has).
  Result<std::optional<MessageCache>> stored_cache(uint32_t uid, const std::string& guid);
  // One column of cache(uid, guid), read without the others (SEARCH reads
  // the header block of every message, the text segments of those a body
  // key opens), into `out`, whose capacity is kept from call to call. A
  // missing or stale row is computed and queued as cache() does.
  Status cache_column(uint32_t uid, const std::string& guid, CacheColumn column,
                      std::string& out);
  // Writes the queued cache rows (and search_fields rows, queued by
  // SubjectCursor) in one write transaction; a row whose record was
  // expunged or replaced meanwhile is dropped. Nothing is written while
  // this connection is inside a transaction (a read snapshot, a
  // MailboxTxn) or a SubjectCursor is open: the rows stay queued, up to
  // kCacheFillBatch cache rows and kSearchFieldsFillBatch search_fields
  // rows. A failure loses only the queued rows (they are computed again
  // when next read).
  Status flush_cache();
  static constexpr size_t kCacheFillBatch = 64;
  // A search_fields row is a few dozen bytes: a scan of an old index queues
  // this many (a SEARCH runs in one read snapshot, so writes wait for its end).
  static constexpr size_t kSearchFieldsFillBatch = 16384;

  // A read snapshot: every read until end_read() sees the same committed
  // state (an SQLite read transaction; writers in other processes go on).
  // sync_client reads a mailbox's counters, uploads its new messages and
  // streams its records from one snapshot. Ended by the destructor too.
  Status begin_read();
  void end_read();

  // expunge_mode "delayed": files of expunged records stay until the
  // records are purged. Instance::open_mailbox sets it from imapd.conf.
  void set_keep_expunged_files(bool keep) { keep_expunged_files_ = keep; }
  bool keep_expunged_files() const { return keep_expunged_files_; }

  // Starts a write transaction (blocks while another writer holds it).
  // Finish it with Instance::commit() so quota usage and the sync log follow.
  Result<std::unique_ptr<MailboxTxn>> begin();

 private:
  friend class MailboxTxn;
  friend class SubjectCursor;
  Mailbox(MailboxEntry entry, std::string dir, std::unique_ptr<SqliteDb> db,
          std::shared_ptr<IndexPool> pool);

  MailboxEntry entry_;
  std::string dir_;
  std::unique_ptr<SqliteDb> db_;
  std::shared_ptr<IndexPool> pool_;  // takes db_ back on destruction; may be null
  bool reading_ = false;             // begin_read() without end_read()
  bool keep_expunged_files_ = false;
  struct CacheFill {
    uint32_t uid;
    std::string guid;
    MessageCache cache;
  };
  std::vector<CacheFill> cache_fills_;  // computed rows not yet in the index
  struct SearchFieldsFill {
    uint32_t uid;
    std::string guid;
    std::string subject;
  };
  std::vector<SearchFieldsFill> search_fields_fills_;  // likewise, search_fields rows
  int cursors_ = 0;                                    // SubjectCursors open on db_
};

// The search form of the Subject fields of live messages
// (mime::field_search_form(header, "Subject")), read from the index's
// search_fields table with one statement walking it in UID order: SEARCH
// SUBJECT of every message of a mailbox steps through one B-tree rather
// than looking up each UID, and reads no header block. A missing or stale
// row (an index written before the table existed, a message too large to
// be cached at append) is computed from the cached header block
// (Mailbox::cache_column) and queued to be written by flush_cache().
// One cursor per scan, on the Mailbox's connection; destroy it before
// ending the scan's read snapshot.
class SubjectCursor {
 public:
  explicit SubjectCursor(Mailbox& mbox);
  ~SubjectCursor();
  SubjectCursor(const SubjectCursor&) = delete;
  SubjectCursor& operator=(const SubjectCursor&) = delete;
  // The search form for message `uid`, whose file has GUID `guid`: a view
  // valid until the next call. REQUIRES: `uid` above the previous call's.
  Result<std::string_view> subject(uint32_t uid, const std::string& guid);

 private:
  void advance();
  Result<std::string_view> compute(uint32_t uid, const std::string& guid);

  Mailbox& mbox_;
  std::unique_ptr<SqliteStmt> st_;  // null until the first call
  bool done_ = false;               // no more rows (or the statement failed: compute the rest)
  uint32_t row_uid_ = 0;            // UID of the row the statement is on
  std::string header_, computed_;
};

// A set of UIDs added in any order, held as runs of consecutive UIDs (one
// pair per run): constant memory for the usual ascending, gap-free case.
class UidRuns {
 public:
  void add(uint32_t uid);
  bool empty() const { return runs_.empty(); }
  void clear() { runs_.clear(); }
  template <typename Fn>
  void for_each(Fn fn) const {
    for (const auto& [first, last] : runs_)
      for (uint64_t u = first; u <= last; u++) fn(static_cast<uint32_t>(u));
  }

 private:
  std::vector<std::pair<uint32_t, uint32_t>> runs_;  // [first, last]
};

// A write transaction on one mailbox. Either append_new() (the store assigns
// UID and MODSEQ: delivery, IMAP APPEND) or put_record() (the caller gives
// every field: the replica applying its master's record). Counters, CRCs and
// quota usage are maintained incrementally. Destroying an uncommitted
// transaction rolls it back and unlinks the files it linked.
class MailboxTxn {
 public:
  ~MailboxTxn();
  MailboxTxn(const MailboxTxn&) = delete;
  MailboxTxn& operator=(const MailboxTxn&) = delete;

  // Counters as changed so far by this transaction.
  const MailboxCounters& counters() const { return counters_; }
  // Replaces the counters (replica side). CRCs and quota usage are kept:
  // they are always derived from the records.
  void set_counters(const MailboxCounters& c);

  // Next MODSEQ (HIGHESTMODSEQ + 1), recorded as the new HIGHESTMODSEQ.
  uint64_t next_modseq();

  // Links `msg`'s file as the next UID and adds its record (MODSEQ =
  // next_modseq(), LAST_UPDATED = now, SAVEDATE = now, CREATEDMODSEQ = MODSEQ)
  // with its message cache (computed from the file: an unreadable or
  // unparseable file fails the append).
  // A message finished with a deferred fsync is made durable before the
  // commit (flush_staged()); it must outlive the transaction's commit.
  // REQUIRES: msg.finished().
  Result<IndexRecord> append_new(const StagedMessage& msg, uint32_t system_flags,
                                 const std::vector<std::string>& user_flags, int64_t internaldate);
  // Writes `record` exactly as given (no new UID or MODSEQ). If the UID is
  // new, `file` (a finished message file whose SHA-1 is record.guid) is
  // linked (or copied) in, unless the record is expunged and `file` is "".
  // Raises LAST_UID and HIGHESTMODSEQ to cover the record. A linked file
  // gets its message cache as append_new() does, or `given` when not null (the
  // cache of that file, as a replica's master sends it); an expunged record
  // loses it.
  Status put_record(const IndexRecord& record, const std::string& file,
                    const MessageCache* given = nullptr);
  // Writes the message cache of live record `uid` (reconstruct filling the
  // cache of a record written before it existed). Changes no replicated state.
  Status put_cache(uint32_t uid, const MessageCache& cache);
  // True if record `uid` has a current message cache row.
  Result<bool> has_cache(uint32_t uid);
  Result<IndexRecord> record(uint32_t uid);
  // Changes flags of an existing record, bumping its MODSEQ.
  Status set_flags(uint32_t uid, uint32_t system_flags, const std::vector<std::string>& user_flags);
  // Marks a record expunged (new MODSEQ); its file goes after commit unless
  // the mailbox keeps expunged files (expunge_mode: delayed).
  Status expunge(uint32_t uid);
  // Removes expunged record `uid` from the index (its row, message
  // annotations and cache); its file goes after commit (cyr_expire -X). No
  // MODSEQ changes and nothing replicated changes: CRCs, counts and quota
  // leave out expunged records already. Logs MAILBOX on commit.
  // kNotFound if there is no such record; kInternal if it is not expunged.
  Status purge_expunged(uint32_t uid);
  // Sets (value "" deletes) a per-message annotation, bumping MODSEQ.
  Status set_annotation(uint32_t uid, const std::string& entry, const std::string& userid,
                        const std::string& value);
  // Stores a per-message annotation exactly as given (its modseq kept, the
  // record's MODSEQ untouched; an empty value deletes): the replica applying
  // its master's annotations. CRCs follow.
  Status put_annotation(const MessageAnnotation& a);
  // Recomputes SYNC_CRC, SYNC_CRC_ANNOT and quota usage from all records.
  Status recompute_derived();

  // Commits the index (its write lock is then released) and removes files
  // of expunged records. Only Instance::commit calls it, the one commit
  // path: it has already logged `log_lines()` (nothing commits that the
  // sync log does not announce), flushed the directory of linked files,
  // keeps its synclog::LogHold until this returns, and applies the quota
  // usage deltas (delta_messages()/delta_bytes()) after it.
  Status commit_deferred_log();
  // Abandons the transaction: the index rolls back and linked files go.
  // Destroying an uncommitted transaction does the same.
  void rollback();
  // The sync-log lines this transaction's changes call for (none if nothing
  // changed).
  std::vector<synclog::Line> log_lines() const;
  // Change of (messages, bytes) in quota usage made by this transaction.
  int64_t delta_messages() const { return delta_messages_; }
  int64_t delta_bytes() const { return delta_bytes_; }
  bool appended() const { return appended_; }
  bool changed() const { return changed_; }
  // From now on put_record() hands the links of new files to `workers`
  // (in batches, ahead of this thread) instead of making them itself: a
  // link's failure is then reported by wait_links(), which both commits
  // and rollback() wait for. For a replica applying many new records
  // (sync_server's APPLY MAILBOX); `workers` must outlive the transaction.
  void defer_links(Workers& workers);
  // Waits for every deferred link; the first failure, if any.
  Status wait_links();
  // fsyncs the appended messages whose fsync was deferred
  // (StagedMessage::Durability::kDeferFsync). Both commits call it before
  // committing; Instance::commit calls it earlier, beside the directory's
  // fsync and the sync log's write, so that they share a journal commit.
  Status flush_staged();
  bool has_unflushed_staged() const;

 private:
  friend class Mailbox;
  explicit MailboxTxn(Mailbox* mbox);
  Status load();
  Status write_record(const IndexRecord& r, bool insert);
  Status link_file(const std::string& src, uint32_t uid);
  Status write_annotation(const MessageAnnotation& a);

  Mailbox* mbox_;
  MailboxCounters counters_;
  bool open_ = false;
  bool appended_ = false;
  bool changed_ = false;
  int64_t delta_messages_ = 0;
  int64_t delta_bytes_ = 0;
  // UIDs whose files this transaction linked (removed on rollback) and
  // whose files go after commit (expunged), as runs of consecutive UIDs:
  // a replica applying 100,000 new records holds one run, not 100,000 paths.
  UidRuns linked_uids_;
  UidRuns expunged_uids_;
  UidRuns purged_uids_;  // purge_expunged(): files that go whatever the mode
  std::vector<const StagedMessage*> unflushed_;  // see flush_staged()
  std::vector<std::string> flag_slots_;
  struct DeferredLinks;
  std::unique_ptr<DeferredLinks> deferred_;  // see defer_links()
};

}  // namespace replimail::store
