#include "sync/reserve.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/fs.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/fs.h"
#include "os/env.h"

namespace replimail::sync {
namespace {

constexpr std::string_view kStagingRoot = "/sync.";

// Creates a fresh staging directory under `root` and returns it with the
// descriptor holding its flock(). A sweep may remove a directory between its
// mkdtemp() and our flock(); the link count, 0 once removed, tells, and we
// try another name.
Result<std::pair<std::string, int>> make_locked_dir(const std::string& root) {
  for (int attempt = 0; attempt < 100; attempt++) {
    std::string path = fmt::format("{}/{}.XXXXXX", root, ::getpid());
    if (::mkdtemp(path.data()) == nullptr) return errno_status("mkdtemp " + path);
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) continue;
      return errno_status(path);
    }
    struct stat st {};
    if (::flock(fd, LOCK_EX) != 0 || ::fstat(fd, &st) != 0) {
      Status s = errno_status(path);
      ::close(fd);
      return s;
    }
    if (st.st_nlink > 0) return std::make_pair(std::move(path), fd);
    ::close(fd);
  }
  return Status(Code::kIoError, "no staging directory could be made in " + root);
}

// Calls fn(name) for each entry of the directory `fd` ("." and ".." left
// out) until it returns false, one name at a time.
template <typename Fn>
void for_each_entry(int fd, Fn fn) {
  // A descriptor of its own: readdir() moves the offset it shares.
  int own = ::openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (own < 0) return;
  DIR* d = ::fdopendir(own);
  if (d == nullptr) {
    ::close(own);
    return;
  }
  while (struct dirent* e = ::readdir(d)) {
    std::string_view n(e->d_name);
    if (n != "." && n != ".." && !fn(n)) break;
  }
  ::closedir(d);
}

bool has_entries(int fd) {
  bool any = false;
  for_each_entry(fd, [&any](std::string_view) { return !(any = true); });
  return any;
}

// True if the staging directory `name` ("<pid>.XXXXXX") belongs to a live
// process.
bool owner_alive(const std::string& name) {
  long pid = std::strtol(name.c_str(), nullptr, 10);
  return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
}

// Unlinks every entry of the directory `dir`, open as `fd` (files only:
// staging holds no subdirectories), as it reads them: never the list of
// names, which an initial sync of 100,000 messages made sync_server's
// largest allocation (9 MiB at the end of the session, issue 17). An entry
// removed while the directory is read may or may not be returned (POSIX),
// so it reads again until a pass finds nothing, or removes nothing.
void empty_dir(int fd, const std::string& dir) {
  for (;;) {
    size_t seen = 0, removed = 0;
    for_each_entry(fd, [&](std::string_view n) {
      seen++;
      if (os::env().unlink(fmt::format("{}/{}", dir, n)) == 0) removed++;
      return true;
    });
    if (seen == 0 || removed == 0) return;
  }
}

}  // namespace

ReserveList::ReserveList(store::Instance& instance) : instance_(instance) {}

ReserveList::~ReserveList() { clear(); }

Result<uint16_t> ReserveList::stage_dir(const std::string& partition) {
  auto it = dirs_.find(partition);
  if (it != dirs_.end()) return it->second;
  auto ppath = instance_.partition_path(partition);
  if (!ppath.ok()) return ppath.status();
  std::string root = *ppath + std::string(kStagingRoot);
  Status s = fs::make_dirs(root, 0750);
  if (!s) return s;
  // Each session's staging directory in a block group of its own choosing,
  // not the partition's: every message file is created here (the mailbox
  // only links it), and on ext4 without a journal creating an inode costs
  // one scan past every inode of the group freed within the last 12 hours
  // (ext4's recently_deleted(), ialloc.c). In the partition's group, where
  // mailboxes come and go, that made each creation 2-3 ms instead of
  // 0.1-0.4 ms (docs/PERFORMANCE.md, "Initial sync"). A hint only: where the
  // filesystem has no such flag, staging goes on as before.
  if (!spread_subdirectories(root)) spdlog::debug("staging: {} keeps its placement", root);
  auto dir = make_locked_dir(root);
  if (!dir.ok()) return dir.status();
  auto index = static_cast<uint16_t>(dir_paths_.size());
  dir_paths_.push_back(std::move(dir->first));
  dir_locks_.push_back(dir->second);
  dirs_[partition] = index;
  return index;
}

std::string ReserveList::path_of(const Guid& g, uint16_t dir) const {
  return dir_paths_[dir] + "/" + g.hex();
}

std::optional<uint16_t> ReserveList::held(const Guid& g) const {
  struct stat st {};
  for (size_t i = 0; i < dir_paths_.size(); i++) {
    auto dir = static_cast<uint16_t>(i);
    if (::stat(path_of(g, dir).c_str(), &st) == 0) return dir;
  }
  return std::nullopt;
}

Result<std::vector<std::string>> ReserveList::reserve(const std::string& partition,
                                                      const std::vector<std::string>& mboxnames,
                                                      const std::vector<std::string>& guids) {
  // Every GUID that parses and is not staged yet, once: after the search
  // below, what is left in it (and what does not parse) is missing.
  std::unordered_map<Guid, bool, GuidHash> wanted;
  for (const auto& g : guids) {
    auto guid = Guid::parse(g);
    if (guid && !wanted.contains(*guid) && !held(*guid)) wanted[*guid] = true;
  }
  if (!wanted.empty()) {
    auto dir = stage_dir(partition);
    if (!dir.ok()) return dir.status();
    for (const auto& name : mboxnames) {
      if (wanted.empty()) break;
      auto mbox = instance_.open_mailbox(name);
      if (!mbox.ok()) continue;  // a folder of the batch the replica does not have
      // One lookup per GUID still wanted (the index on guid), not a read of
      // every record: a rolling sync of one message into a large folder
      // asks for one GUID.
      std::vector<std::string> asked;
      asked.reserve(wanted.size());
      for (const auto& [guid, unused] : wanted) asked.push_back(guid.hex());
      auto found = (*mbox)->uids_of_guids(asked);
      if (!found.ok()) return found.status();
      std::vector<std::pair<Guid, uint32_t>> hits;
      for (const auto& [hex, uid] : *found) {
        if (auto g = Guid::parse(hex)) hits.emplace_back(*g, uid);
      }
      for (const auto& [guid, uid] : hits) {
        if (!wanted.contains(guid)) continue;
        std::string src = (*mbox)->message_path(uid);
        // Trust a file only if it still hashes to its GUID.
        auto d = store::digest_file(src);
        if (!d.ok() || d->guid != guid.hex()) {
          spdlog::warn("reserve: {} uid {}: file does not match GUID {}", name, uid, guid.hex());
          continue;
        }
        std::string dst = path_of(guid, *dir);
        os::env().unlink(dst);
        if (os::env().link(src, dst) != 0) {
          spdlog::warn("reserve: link {} to {}: {}", src, dst, std::strerror(errno));
          continue;
        }
        wanted.erase(guid);
      }
    }
  }
  std::vector<std::string> missing;
  GuidSet listed;
  for (const auto& g : guids) {
    auto guid = Guid::parse(g);
    if (guid && !wanted.contains(*guid)) continue;  // staged before, or linked above
    if (listed.insert(g)) missing.push_back(g);
  }
  return missing;
}

Result<std::unique_ptr<UploadFile>> ReserveList::begin_upload(const std::string& partition,
                                                              const std::string& guid) {
  auto dir = stage_dir(partition);
  if (!dir.ok()) {
    // The master's partition is not configured here: stage on the default
    // one; APPLY MAILBOX falls back to it the same way.
    dir = stage_dir(instance_.config().defaultpartition());
    if (!dir.ok()) return dir.status();
  }
  unsynced_.insert(*dir);
  // Named after its GUID unless this directory holds that GUID already
  // (O_EXCL: no stat first, one path lookup per upload). Another
  // partition's directory may then hold the same GUID too, which is
  // harmless: both files have the bytes the GUID names.
  if (auto g = Guid::parse(guid)) {
    auto f = UploadFile::create_new(path_of(*g, *dir));
    if (!f.ok() || *f != nullptr) return f;
  }
  return UploadFile::create(fmt::format("{}/upload.{}", dir_paths_[*dir], scratch_++));
}

Status ReserveList::start_sync() {
  Status s = wait_synced();
  if (!s) return s;
  Flush f;
  f.files.swap(unsynced_files_);
  std::vector<std::string> paths;
  bool each = f.files.size() <= kFsyncEachUpTo;
  if (each) {
    // A few files (rolling replication's usual command): an fsync of each
    // costs less than a syncfs, which also flushes whatever every other
    // process has dirtied on the filesystem. The staging directory entries
    // need no flush: APPLY MAILBOX links the file into the mailbox's
    // directory and flushes that before it commits; a staged name lost in
    // a crash only makes the master upload the message again.
    for (const auto& [g, dir] : f.files) paths.push_back(path_of(g, dir));
  } else {
    for (uint16_t dir : unsynced_) paths.push_back(dir_paths_[dir]);
  }
  unsynced_.clear();
  if (f.files.empty()) return Status::success();
  f.done = flusher_.run([each, paths = std::move(paths)]() -> Status {
    for (const auto& path : paths) {
      Status st;
      if (each) {
        int fd = os::env().open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) return errno_status("open", path);
        st = fs::fsync_fd(fd, path);
        os::env().close(fd);
      } else {
        st = sync_filesystem(path);
      }
      if (!st) return st;
    }
    return Status::success();
  });
  flushing_ = std::move(f);
  return Status::success();
}

Status ReserveList::wait_synced() {
  if (!flushing_) return Status::success();
  Status s = flushing_->done.get();
  std::vector<std::pair<Guid, uint16_t>> files = std::move(flushing_->files);
  flushing_.reset();
  if (!s) {
    // PostgreSQL's fsync lesson: after a failed flush nobody knows what of
    // these files reached the disk, nor of those written while it ran (a
    // syncfs may have written them and taken the error), and a later
    // flush that succeeds does not say. All go, so that the master uploads
    // them again.
    drop(files);
    drop(unsynced_files_);
    unsynced_files_.clear();
    unsynced_.clear();
  }
  return s;
}

Status ReserveList::sync_uploads() {
  Status s = start_sync();
  return s ? wait_synced() : s;
}

void ReserveList::drop(const std::vector<std::pair<Guid, uint16_t>>& files) {
  for (const auto& [g, dir] : files) os::env().unlink(path_of(g, dir));
}

Result<std::string> ReserveList::finish_upload(const std::string& guid,
                                               std::unique_ptr<UploadFile> msg) {
  if (!msg->finished()) {
    Status s = msg->finish();
    if (!s) return s;
  }
  if (msg->guid() != guid)
    return Status(Code::kIoError,
                  fmt::format("uploaded message {} has SHA-1 {}", guid, msg->guid()));
  auto g = Guid::parse(guid);
  if (!g) return std::string();
  // begin_upload() named the file after its GUID in one of our directories
  // unless that GUID was held already (a scratch file, which now goes).
  for (size_t i = 0; i < dir_paths_.size(); i++) {
    auto dir = static_cast<uint16_t>(i);
    if (msg->path() != path_of(*g, dir)) continue;
    msg->keep();
    unsynced_files_.emplace_back(*g, dir);
    return msg->path();
  }
  if (auto dir = held(*g)) return path_of(*g, *dir);
  return Status(Code::kInternal, fmt::format("upload {} is not a staging file", msg->path()));
}

std::string ReserveList::find(const std::string& guid) const {
  auto g = Guid::parse(guid);
  if (!g) return std::string();
  auto dir = held(*g);
  return dir ? path_of(*g, *dir) : std::string();
}

void ReserveList::restart() {
  // The files of a flush under way go with the rest, whatever it says.
  static_cast<void>(wait_synced());
  unsynced_files_.clear();
  unsynced_.clear();
  for (size_t i = 0; i < dir_paths_.size(); i++) {
    empty_dir(dir_locks_[i], dir_paths_[i]);
    if (has_entries(dir_locks_[i])) {
      // A file that cannot go must not be found by the next commands:
      // every directory is given up, as at the end of the session.
      clear();
      return;
    }
  }
}

void ReserveList::clear() {
  static_cast<void>(wait_synced());  // its files go with the rest
  unsynced_files_.clear();
  // Every staged file goes with its directory. The lock goes last, so no
  // sweep sees a half-removed dir.
  for (size_t i = 0; i < dir_paths_.size(); i++) {
    empty_dir(dir_locks_[i], dir_paths_[i]);
    os::env().rmdir(dir_paths_[i]);
    ::close(dir_locks_[i]);
  }
  dirs_.clear();
  dir_paths_.clear();
  dir_locks_.clear();
  unsynced_.clear();
}

Result<std::vector<std::string>> sweep_staging(store::Instance& instance, bool remove) {
  std::vector<std::string> stale;
  for (const auto& p : instance.config().partitions()) {
    auto path = instance.partition_path(p);
    if (!path.ok()) continue;
    std::string root = *path + std::string(kStagingRoot);
    DIR* d = ::opendir(root.c_str());
    if (d == nullptr) {
      if (errno == ENOENT) continue;
      return errno_status(root);
    }
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string_view n(e->d_name);
      if (n != "." && n != "..") names.emplace_back(n);
    }
    ::closedir(d);
    for (const auto& n : names) {
      std::string dir = fmt::format("{}/{}", root, n);
      int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) {
        // Not a directory (nothing of ours) or removed meanwhile by its owner.
        if (errno == ENOTDIR || errno == ELOOP) {
          stale.push_back(dir);
          if (remove) os::env().unlink(dir);
        }
        continue;
      }
      if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        ::close(fd);  // a live session's
        continue;
      }
      // An empty directory of a live process may be one just made and not
      // yet locked (make_locked_dir()); it is left for a later sweep.
      struct stat st {};
      bool fresh = owner_alive(n) && !has_entries(fd);
      if (!fresh && ::fstat(fd, &st) == 0 && st.st_nlink > 0) {
        stale.push_back(dir);
        if (remove) {
          empty_dir(fd, dir);
          if (os::env().rmdir(dir) != 0)
            spdlog::warn("staging sweep: rmdir {}: {}", dir, std::strerror(errno));
        }
      }
      ::close(fd);
    }
  }
  return stale;
}

bool spread_subdirectories(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  // FS_IOC_GETFLAGS/SETFLAGS take an int, whatever their declared type.
  int flags = 0;
  bool ok = ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
  if (ok && (flags & FS_TOPDIR_FL) == 0) {
    flags |= FS_TOPDIR_FL;
    ok = ::ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
  }
  ::close(fd);
  return ok;
}

}  // namespace replimail::sync
