// One APPLY MESSAGE file literal being received on a replica: streamed into
// a staging file while its SHA-1 (the GUID) and size are computed.
//
// Group commit: finish() does NOT fsync. The server makes a whole APPLY
// MESSAGE command durable at once (ReserveList::start_sync: an fsync per
// file for a few files, else one syncfs() per command), on another thread
// while the next command comes in, and APPLY MAILBOX waits for that flush
// before it commits: no record is committed over a file not on disk.
//
// The file is unlinked when the object is destroyed, unless keep() was
// called. Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace replimail::sync {

class UploadFile {
 public:
  // The file `path` (its directory must exist), created or truncated.
  static Result<std::unique_ptr<UploadFile>> create(const std::string& path);
  // The new file `path` (O_EXCL), or null if `path` exists already.
  static Result<std::unique_ptr<UploadFile>> create_new(const std::string& path);
  ~UploadFile();
  UploadFile(const UploadFile&) = delete;
  UploadFile& operator=(const UploadFile&) = delete;

  // REQUIRES: !finished().
  Status write(std::string_view bytes);
  // Closes the file (without fsync) and fixes guid() and size().
  Status finish();
  // The file stays when this object goes. REQUIRES: finished().
  void keep() { kept_ = true; }

  bool finished() const { return finished_; }
  uint64_t size() const { return size_; }
  // 40 lower-case hex digits. REQUIRES: finished().
  const std::string& guid() const { return guid_; }
  const std::string& path() const { return path_; }

 private:
  // create() and create_new(): open(2) with `flags` added.
  static Result<std::unique_ptr<UploadFile>> open_file(const std::string& path, int flags);
  struct Hasher;
  UploadFile(int fd, std::string path);

  int fd_ = -1;
  std::string path_;
  std::unique_ptr<Hasher> hasher_;
  uint64_t size_ = 0;
  std::string guid_;
  bool finished_ = false;
  bool kept_ = false;
};

// syncfs() of the filesystem holding `dir`: every file written there so far
// (by this process or any other) is durable when it returns OK.
Status sync_filesystem(const std::string& dir);

}  // namespace replimail::sync
