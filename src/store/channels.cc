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
  const bool logging = cfg.get_bool("sync_log");
  const std::string confdir = cfg.configdirectory();
  if (confdir.empty()) {
    if (!logging) return std::vector<std::string>{};
    return Status(Code::kConfigError, "configdirectory is not set");
  }
  const std::string db = confdir + "/mailboxes.db";
  // With sync_log off nothing is logged from now on: every channel record
  // goes, so that each channel turned on again bootstraps (its replica
  // missed what changed meanwhile). No database is made for that.
  if (!logging && !fs::exists(db)) return std::vector<std::string>{};
  if (Status s = fs::make_dirs(confdir, 0750); !s) return s;
  auto mbl = MailboxList::open(db);
  if (!mbl.ok()) return mbl.status();
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  if (!logging) {
    auto before = (*mbl)->channel_states();
    if (!before.ok()) return before.status();
    if (before->empty()) return std::vector<std::string>{};
    auto none = (*mbl)->note_new_channels({}, now);
    if (!none.ok()) return none.status();
    for (const auto& c : *before) {
      spdlog::info("channel {}: forgotten (sync_log is off); it bootstraps when logged to again",
                   c.channel.empty() ? "\"\"" : c.channel);
    }
    return std::vector<std::string>{};
  }
  auto added = (*mbl)->note_new_channels(logged_channels(cfg), now);
  if (!added.ok()) return added.status();
  for (const auto& c : *added)
    spdlog::info("channel {}: new; its replica will be bootstrapped", c.empty() ? "\"\"" : c);
  return added;
}

}  // namespace replimail::store
