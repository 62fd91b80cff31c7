#include "store/channels.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "common/fs.h"
#include "store/mboxlist.h"
#include "synclog/synclog.h"

namespace replimail::store {

std::vector<std::string> logged_channels(const Config& cfg) {
  if (!cfg.get_bool("sync_log")) return {};
  return synclog::SyncLog(cfg).configured_channels();
}

Result<std::vector<std::string>> record_channels(const Config& cfg) {
  if (!cfg.get_bool("sync_log")) return std::vector<std::string>{};
  const std::string confdir = cfg.configdirectory();
  if (confdir.empty()) return Status(Code::kConfigError, "configdirectory is not set");
  if (Status s = fs::make_dirs(confdir, 0750); !s) return s;
  auto mbl = MailboxList::open(confdir + "/mailboxes.db");
  if (!mbl.ok()) return mbl.status();
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  auto added = (*mbl)->note_new_channels(logged_channels(cfg), now);
  if (!added.ok()) return added.status();
  for (const auto& c : *added)
    spdlog::info("channel {}: new; its replica will be bootstrapped", c.empty() ? "\"\"" : c);
  return added;
}

}  // namespace replimail::store
