#include "sync/reserve.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "common/fs.h"

namespace replimail::sync {

ReserveList::ReserveList(store::Instance& instance) : instance_(instance) {}

ReserveList::~ReserveList() { clear(); }

Result<std::string> ReserveList::stage_dir(const std::string& partition) {
  auto it = dirs_.find(partition);
  if (it != dirs_.end()) return it->second;
  auto ppath = instance_.partition_path(partition);
  if (!ppath.ok()) return ppath.status();
  std::string dir = fmt::format("{}/sync./{}", *ppath, ::getpid());
  Status s = fs::make_dirs(dir, 0750);
  if (!s) return s;
  dirs_[partition] = dir;
  return dir;
}

Result<std::vector<std::string>> ReserveList::reserve(const std::string& partition,
                                                      const std::vector<std::string>& mboxnames,
                                                      const std::vector<std::string>& guids) {
  std::set<std::string> wanted;
  for (const auto& g : guids)
    if (!files_.contains(g)) wanted.insert(g);
  if (!wanted.empty()) {
    auto dir = stage_dir(partition);
    if (!dir.ok()) return dir.status();
    for (const auto& name : mboxnames) {
      if (wanted.empty()) break;
      auto mbox = instance_.open_mailbox(name);
      if (!mbox.ok()) continue;  // a folder of the batch the replica does not have
      std::vector<std::pair<std::string, uint32_t>> hits;
      Status s = (*mbox)->for_each_record(0, [&](const store::IndexRecord& r) {
        if (!r.expunged() && wanted.contains(r.guid)) hits.emplace_back(r.guid, r.uid);
        return true;
      });
      if (!s) return s;
      for (const auto& [guid, uid] : hits) {
        if (!wanted.contains(guid)) continue;
        std::string src = (*mbox)->message_path(uid);
        // Trust a file only if it still hashes to its GUID.
        auto d = store::digest_file(src);
        if (!d.ok() || d->guid != guid) {
          spdlog::warn("reserve: {} uid {}: file does not match GUID {}", name, uid, guid);
          continue;
        }
        std::string dst = *dir + "/" + guid;
        ::unlink(dst.c_str());
        if (::link(src.c_str(), dst.c_str()) != 0) {
          spdlog::warn("reserve: link {} to {}: {}", src, dst, std::strerror(errno));
          continue;
        }
        files_[guid] = Entry{dst, nullptr};
        wanted.erase(guid);
      }
    }
  }
  std::vector<std::string> missing;
  for (const auto& g : guids)
    if (!files_.contains(g) && std::find(missing.begin(), missing.end(), g) == missing.end())
      missing.push_back(g);
  return missing;
}

Result<std::unique_ptr<UploadFile>> ReserveList::begin_upload(const std::string& partition) {
  auto dir = stage_dir(partition);
  if (!dir.ok()) {
    // The master's partition is not configured here: stage on the default
    // one; APPLY MAILBOX falls back to it the same way.
    dir = stage_dir(instance_.config().defaultpartition());
    if (!dir.ok()) return dir.status();
  }
  unsynced_.insert(*dir);
  return UploadFile::create(*dir);
}

Status ReserveList::sync_uploads() {
  for (const auto& dir : unsynced_) {
    Status s = sync_filesystem(dir);
    if (!s) return s;
  }
  unsynced_.clear();
  return Status::ok();
}

Status ReserveList::finish_upload(const std::string& guid, std::unique_ptr<UploadFile> msg) {
  if (!msg->finished()) {
    Status s = msg->finish();
    if (!s) return s;
  }
  if (msg->guid() != guid)
    return Status(Code::kIoError,
                  fmt::format("uploaded message {} has SHA-1 {}", guid, msg->guid()));
  if (files_.contains(guid)) return Status::ok();
  std::string path = msg->path();
  files_[guid] = Entry{path, std::move(msg)};
  return Status::ok();
}

std::string ReserveList::find(const std::string& guid) const {
  auto it = files_.find(guid);
  return it == files_.end() ? std::string() : it->second.path;
}

void ReserveList::clear() {
  for (auto& [guid, e] : files_)
    if (!e.upload) ::unlink(e.path.c_str());
  files_.clear();  // uploads unlink their own files
  for (const auto& [partition, dir] : dirs_) ::rmdir(dir.c_str());
  dirs_.clear();
  unsynced_.clear();
}

}  // namespace replimail::sync
