// A message being delivered: streamed into a staging file on a partition
// (`<partition>/stage./`) while its SHA-1 GUID and size are computed, then
// fsynced by finish(). The staged file can then be appended to any number of
// mailboxes (hard links: single-instance store) and is removed when the
// StagedMessage is destroyed. A message is never held in memory whole.
//
// Not thread-safe; one writer.
#pragma once

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
  // Flushes, fsyncs and closes the file; fixes guid() and size().
  // REQUIRES: !finished(). After an error the message cannot be used.
  Status finish();
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

}  // namespace replimail::store
