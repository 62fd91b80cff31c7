#include "store/record.h"

#include <strings.h>

namespace replimail::store {
namespace {

struct FlagName {
  uint32_t bit;
  const char* name;
};
// Cyrus's replication order.
constexpr FlagName kFlagNames[] = {
    {kFlagDeleted, "\\Deleted"}, {kFlagAnswered, "\\Answered"}, {kFlagFlagged, "\\Flagged"},
    {kFlagDraft, "\\Draft"},     {kFlagExpunged, "\\Expunged"}, {kFlagSeen, "\\Seen"},
};

}  // namespace

std::vector<std::string> system_flag_names(uint32_t flags) {
  std::vector<std::string> out;
  for (const auto& f : kFlagNames)
    if (flags & f.bit) out.emplace_back(f.name);
  return out;
}

uint32_t system_flag_bit(std::string_view name) {
  for (const auto& f : kFlagNames) {
    std::string_view n(f.name);
    if (n.size() == name.size() && strncasecmp(n.data(), name.data(), n.size()) == 0) return f.bit;
  }
  return 0;
}

}  // namespace replimail::store
