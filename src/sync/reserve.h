// The replica's per-connection reserve list (reference §3.5, §4.5): message
// files, by GUID, that the next APPLY MAILBOX may append. Files come from
// APPLY RESERVE (hard links of message files the replica already holds) or
// from APPLY MESSAGE (file literals streamed into a fresh staging file, made
// durable by a flush that start_sync() begins at the end of each command
// and APPLY MAILBOX waits for; see sync/upload.h).
// Everything lives in `<partition>/sync./<pid>.<random>/<guid>`: a staging
// directory of this list alone (never shared with another session, even of
// the same process), held by an flock() on the directory for as long as the
// list uses it. clear() (end of session) and the destructor remove it,
// restart() (RESTART) empties it; sweep_staging() removes those whose
// holder died. The list is
// the staging directories themselves: a GUID is held when `<dir>/<guid>`
// exists there, so memory stays flat whatever the number of messages of
// the session (only the uploads of the current APPLY MESSAGE and of the
// flush under way are listed).
//
// Not thread-safe; one per connection. Its flushes run on a thread of its
// own, on copies of what they flush.
#pragma once

#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "common/workers.h"
#include "store/instance.h"
#include "sync/guid_set.h"
#include "sync/upload.h"

namespace replimail::sync {

class ReserveList {
 public:
  explicit ReserveList(store::Instance& instance);
  ~ReserveList();
  ReserveList(const ReserveList&) = delete;
  ReserveList& operator=(const ReserveList&) = delete;

  // APPLY RESERVE: for each GUID of `guids` not yet held, looks through the
  // records of `mboxnames` (replica mailboxes; unknown names are skipped)
  // for a message file with that GUID, verifies its SHA-1 and links it into
  // the staging directory. Returns the GUIDs still missing, in request order.
  Result<std::vector<std::string>> reserve(const std::string& partition,
                                           const std::vector<std::string>& mboxnames,
                                           const std::vector<std::string>& guids);

  // A staging file for an APPLY MESSAGE file literal on `partition` that
  // declares `guid`: `<dir>/<guid>` itself, or a scratch file if that GUID
  // is already held in that partition's directory (or is not 40 hex digits).
  Result<std::unique_ptr<UploadFile>> begin_upload(const std::string& partition,
                                                   const std::string& guid);
  // Registers a finished upload and returns the staged file now holding
  // `guid`. Its SHA-1 must equal `guid`, else the file is dropped and
  // kIoError returned. An already-held GUID is kept as is (the scratch file
  // goes).
  Result<std::string> finish_upload(const std::string& guid, std::unique_ptr<UploadFile> msg);
  // Starts making durable, on a thread of this list's own, every upload
  // registered since the last call: an fsync of each when there are at most
  // kFsyncEachUpTo, else one syncfs() per staging filesystem (group commit).
  // The server calls it at the end of APPLY MESSAGE and answers at once, so
  // that the flush overlaps the next command's upload; APPLY MAILBOX waits
  // for it (wait_synced()) before it commits a record over such a file.
  // Waits first for the flush started before and returns its failure, if
  // any (see wait_synced(); nothing is started then).
  Status start_sync();
  // Waits for the flush start_sync() began. If it failed, the uploads it
  // covered and every one registered since are dropped (find() no longer
  // has them, reserve() reports them missing) and its failure is returned:
  // after a failed flush nobody knows what of them reached the disk, and a
  // later flush that succeeds does not say. A failed flush is never
  // retried into an OK. Returns OK when no flush is under way.
  Status wait_synced();
  // start_sync() then wait_synced(): every upload registered so far made
  // durable, or dropped.
  Status sync_uploads();

  static constexpr size_t kFsyncEachUpTo = 8;

  // The staged file holding `guid`, or "" if none.
  std::string find(const std::string& guid) const;

  // Removes every staged file and the staging directories.
  void clear();
  // RESTART: removes every staged file but keeps the staging directories
  // (and their locks) for the session's next commands, as long as each
  // could be emptied (else clear()). A rolling sync_client ends every pass
  // with RESTART; making the directory again in the next pass cost ~1 ms
  // of its replication lag (an Orlov placement, spread_subdirectories).
  void restart();

 private:
  // The index in dir_paths_ of `partition`'s staging directory (created).
  Result<uint16_t> stage_dir(const std::string& partition);
  std::string path_of(const Guid& g, uint16_t dir) const;
  // The staging directory holding `g`'s file, if any.
  std::optional<uint16_t> held(const Guid& g) const;

  // Unlinks the staged files of `files`.
  void drop(const std::vector<std::pair<Guid, uint16_t>>& files);

  // The flush start_sync() handed to flusher_, with the uploads it covers.
  struct Flush {
    std::future<Status> done;
    std::vector<std::pair<Guid, uint16_t>> files;
  };

  store::Instance& instance_;
  std::map<std::string, uint16_t> dirs_;  // partition -> staging dir index
  std::vector<std::string> dir_paths_;
  std::vector<int> dir_locks_;   // per dir_paths_: the descriptor holding its flock()
  std::set<uint16_t> unsynced_;  // staging dirs with uploads not yet synced
  std::vector<std::pair<Guid, uint16_t>> unsynced_files_;  // uploads not yet synced
  uint64_t scratch_ = 0;                                   // names of scratch files
  std::optional<Flush> flushing_;
  Workers flusher_{1};  // its thread starts with the first flush
};

// Asks the filesystem to place every new subdirectory of `dir` as it places
// top-level directories instead of next to `dir`: ext2/3/4's FS_TOPDIR_FL
// (`chattr +T`), with which the Orlov allocator puts each one in a block
// group with more free inodes and blocks than average, and the files created
// in it get their inodes there. A placement hint: nothing about content or
// durability changes. Returns false if `dir` cannot carry the flag (another
// filesystem, or no right to set it); callers go on without it.
bool spread_subdirectories(const std::string& dir);

// Staging directories under every partition's `sync./` that no live
// ReserveList holds (their session was killed): removed with their files
// when `remove`, else only listed. Safe while sessions run: a directory is
// touched only under its flock(), which its owner holds from creation.
// Returns the directories found stale.
Result<std::vector<std::string>> sweep_staging(store::Instance& instance, bool remove);

}  // namespace replimail::sync
