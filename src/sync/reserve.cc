#include "sync/reserve.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/fs.h"
#include "os/env.h"

namespace replimail::sync {

ReserveList::ReserveList(store::Instance& instance) : instance_(instance) {}

ReserveList::~ReserveList() { clear(); }

Result<uint16_t> ReserveList::stage_dir(const std::string& partition) {
  auto it = dirs_.find(partition);
  if (it != dirs_.end()) return it->second;
  auto ppath = instance_.partition_path(partition);
  if (!ppath.ok()) return ppath.status();
  std::string dir = fmt::format("{}/sync./{}", *ppath, ::getpid());
  Status s = fs::make_dirs(dir, 0750);
  if (!s) return s;
  auto index = static_cast<uint16_t>(dir_paths_.size());
  dir_paths_.push_back(std::move(dir));
  dirs_[partition] = index;
  return index;
}

std::string ReserveList::path_of(const Guid& g, uint16_t dir) const {
  return dir_paths_[dir] + "/" + g.hex();
}

Result<std::vector<std::string>> ReserveList::reserve(const std::string& partition,
                                                      const std::vector<std::string>& mboxnames,
                                                      const std::vector<std::string>& guids) {
  std::unordered_map<Guid, bool, GuidHash> wanted;
  for (const auto& g : guids) {
    auto guid = Guid::parse(g);
    if (guid && !files_.contains(*guid)) wanted[*guid] = true;
  }
  if (!wanted.empty()) {
    auto dir = stage_dir(partition);
    if (!dir.ok()) return dir.status();
    for (const auto& name : mboxnames) {
      if (wanted.empty()) break;
      auto mbox = instance_.open_mailbox(name);
      if (!mbox.ok()) continue;  // a folder of the batch the replica does not have
      std::vector<std::pair<Guid, uint32_t>> hits;
      Status s = (*mbox)->for_each_record(0, [&](const store::IndexRecord& r) {
        if (r.expunged()) return true;
        auto g = Guid::parse(r.guid);
        if (g && wanted.contains(*g)) hits.emplace_back(*g, r.uid);
        return true;
      });
      if (!s) return s;
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
        files_[guid] = *dir;
        wanted.erase(guid);
      }
    }
  }
  std::vector<std::string> missing;
  GuidSet listed;
  for (const auto& g : guids) {
    auto guid = Guid::parse(g);
    if (guid && files_.contains(*guid)) continue;
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
  auto g = Guid::parse(guid);
  if (g && !files_.contains(*g)) return UploadFile::create(path_of(*g, *dir));
  return UploadFile::create(fmt::format("{}/upload.{}", dir_paths_[*dir], scratch_++));
}

Status ReserveList::sync_uploads() {
  Status s;
  for (uint16_t dir : unsynced_) {
    s = sync_filesystem(dir_paths_[dir]);
    if (!s) break;
  }
  unsynced_.clear();
  if (!s) {
    // PostgreSQL's fsync lesson: after a failed flush nobody knows what of
    // these files reached the disk, and a later syncfs that succeeds does
    // not say. They are dropped, so that the master uploads them again.
    for (const Guid& g : unsynced_files_) {
      auto it = files_.find(g);
      if (it == files_.end()) continue;
      os::env().unlink(path_of(g, it->second));
      files_.erase(it);
    }
  }
  unsynced_files_.clear();
  return s;
}

Status ReserveList::finish_upload(const std::string& guid, std::unique_ptr<UploadFile> msg) {
  if (!msg->finished()) {
    Status s = msg->finish();
    if (!s) return s;
  }
  if (msg->guid() != guid)
    return Status(Code::kIoError,
                  fmt::format("uploaded message {} has SHA-1 {}", guid, msg->guid()));
  auto g = Guid::parse(guid);
  if (!g || files_.contains(*g)) return Status::ok();
  // begin_upload() named the file after its GUID in one of our directories.
  for (size_t i = 0; i < dir_paths_.size(); i++) {
    auto dir = static_cast<uint16_t>(i);
    if (msg->path() != path_of(*g, dir)) continue;
    msg->keep();
    files_[*g] = dir;
    unsynced_files_.push_back(*g);
    return Status::ok();
  }
  return Status(Code::kInternal, fmt::format("upload {} is not a staging file", msg->path()));
}

std::string ReserveList::find(const std::string& guid) const {
  auto g = Guid::parse(guid);
  if (!g) return std::string();
  auto it = files_.find(*g);
  return it == files_.end() ? std::string() : path_of(it->first, it->second);
}

void ReserveList::clear() {
  for (const auto& [guid, dir] : files_) os::env().unlink(path_of(guid, dir));
  files_.clear();
  unsynced_files_.clear();
  for (const auto& dir : dir_paths_) os::env().rmdir(dir);
  dirs_.clear();
  dir_paths_.clear();
  unsynced_.clear();
}

}  // namespace replimail::sync
