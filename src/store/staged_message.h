// A message being delivered: streamed into a staging file on a partition
// (`<partition>/stage./`) while its SHA-1 GUID and size are computed, then
// fsynced by finish(). The staged file can then be appended to any number of
// mailboxes (hard links: single-instance store) and is removed when the
// StagedMessage is destroyed. A message is never held in memory whole.
//
// finish(kDeferFsync) leaves the fsync to the commit that first links the
// file (MailboxTxn, through make_durable()): the commit then flushes the
// file beside the mailbox directory and the sync log, in one journal
// commit of the filesystem instead of one more in sequence before them.
//
// Not thread-safe; one writer.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace replimail::store {

class StagedMessage {
 public:
  // Creates a fresh staging file in `stage_dir` (created if missing). Its
  // name carries the PID so a check can tell a live writer's file from one a
  // crash left behind. `partition` is recorded for same-partition linking.
  static Result<std::unique_ptr<StagedMessage>> create(const std::string& stage_dir,
                                                       const std::string& partition);
  ~StagedMessage();  // unlinks the staging file
  StagedMessage(const StagedMessage&) = delete;
  StagedMessage& operator=(const StagedMessage&) = delete;

  // Appends bytes. REQUIRES: !finished().
  Status write(std::string_view bytes);
  enum class Durability { kFsyncNow, kDeferFsync };
  // Fixes guid() and size(); fsyncs and closes the file, or with
  // kDeferFsync keeps it open for make_durable().
  // REQUIRES: !finished(). After an error the message cannot be used.
  Status finish(Durability durability = Durability::kFsyncNow);
  // Whether the file's contents are on disk (finish() with kFsyncNow, or
  // make_durable() done).
  bool durable() const { return durable_; }
  // fsyncs a file finished with kDeferFsync (once; later calls return the
  // first call's result). OK at once when already durable. A commit linking
  // the file calls it before the commit, so nothing is acknowledged whose
  // file is not on disk. REQUIRES: finished().
  Status make_durable() const;
  // Discards everything written so far (e.g. the message was too large).
  // REQUIRES: !finished().
  Status truncate();

  bool finished() const { return finished_; }
  uint64_t size() const { return size_; }
  // 40 lower-case hex digits. REQUIRES: finished().
  const std::string& guid() const { return guid_; }
  const std::string& path() const { return path_; }
  const std::string& partition() const { return partition_; }

 private:
  struct Hasher;
  StagedMessage(int fd, std::string path, std::string partition);

  int fd_ = -1;
  std::string path_;
  std::string partition_;
  std::unique_ptr<Hasher> hasher_;
  uint64_t size_ = 0;
  std::string guid_;
  bool finished_ = false;
  // The deferred fsync's state: the descriptor stays open (fd_) until
  // make_durable(), whose result is kept (a failed fsync is not retried:
  // the kernel may have dropped the pages).
  // durable_ is atomic because Instance::append runs make_durable() in a
  // thread of its own while it links the file (which reads durable()).
  mutable std::atomic<bool> durable_{false};
  mutable Status sync_status_;
  mutable bool synced_once_ = false;
};

// Streams `src` (a finished message file) into the staged message in chunks.
Status stage_copy_from_fd(StagedMessage& msg, int src_fd);

// The GUID (SHA-1, 40 lower-case hex digits) and size of the file at `path`,
// read in chunks.
struct FileDigest {
  std::string guid;
  uint64_t size = 0;
};
Result<FileDigest> digest_file(const std::string& path);

// Reads the whole message file at `path` into `*bytes` and checks it against
// its record: exactly `size` bytes whose SHA-1 is `guid`. One read serves
// both the check and the sending (sync_client's upload). kSyncChecksum when
// the file differs from its record, kIoError when it cannot be read, and
// kMessageTooLarge (nothing read) when `size` exceeds `max_in_memory`: such
// a file is checked with digest_file() and streamed from disk instead.
Status read_checked(const std::string& path, const std::string& guid, uint64_t size,
                    uint64_t max_in_memory, std::string* bytes);

}  // namespace replimail::store
