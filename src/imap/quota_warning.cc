#include "imap/quota_warning.h"

#include <fmt/format.h>

namespace replimail::imap {
namespace {

// One resource: `used` in units, `limit` in the quota's units of `unit`.
void check(const char* name, uint64_t used, int64_t limit, uint64_t unit, int64_t threshold,
           int64_t percent, std::vector<std::string>* out) {
  if (limit < 0) return;  // unlimited
  uint64_t cap = static_cast<uint64_t>(limit) * unit;
  bool near_end = threshold <= 0 || threshold >= limit ||
                  used > static_cast<uint64_t>(limit - threshold) * unit;
  if (!near_end) return;
  if (used > cap) {
    out->push_back(fmt::format("Mailbox is over {} quota", name));
    return;
  }
  if (cap == 0) return;
  auto pc = static_cast<int64_t>(static_cast<double>(used) * 100.0 / static_cast<double>(cap));
  if (pc > percent) out->push_back(fmt::format("Mailbox is at {}% of {} quota", pc, name));
}

}  // namespace

std::vector<std::string> quota_alerts(const store::QuotaRoot& root, const QuotaWarnOptions& o) {
  std::vector<std::string> out;
  check("STORAGE", root.storage_used, root.storage_limit_kib, 1024, o.storage_kib, o.percent, &out);
  check("MESSAGE", root.message_used, root.message_limit, 1, o.messages, o.percent, &out);
  return out;
}

bool QuotaAlertPacer::due(const std::string& root, std::chrono::steady_clock::time_point now) {
  auto it = next_.find(root);
  if (it != next_.end() && now < it->second) return false;
  next_[root] = now + std::chrono::minutes(10);
  return true;
}

}  // namespace replimail::imap
