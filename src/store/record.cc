#include "store/record.h"

#include "common/ascii.h"

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
    if (iequals(n, name)) return f.bit;
  }
  return 0;
}

bool same_keyword(std::string_view a, std::string_view b) { return iequals(a, b); }

bool has_keyword(const std::vector<std::string>& keywords, std::string_view k) {
  for (const auto& x : keywords) {
    if (same_keyword(x, k)) return true;
  }
  return false;
}

bool same_keywords(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  for (const auto& x : a) {
    if (!has_keyword(b, x)) return false;
  }
  for (const auto& x : b) {
    if (!has_keyword(a, x)) return false;
  }
  return true;
}

std::vector<std::string> change_keywords(const std::vector<std::string>& have,
                                         const std::vector<std::string>& keywords,
                                         FlagChange op) {
  std::vector<std::string> out;
  auto put = [&](const std::string& k) {
    if (!has_keyword(out, k)) out.push_back(k);
  };
  switch (op) {
    case FlagChange::kReplace:
      for (const auto& k : have) {
        if (has_keyword(keywords, k)) put(k);
      }
      for (const auto& k : keywords) put(k);
      break;
    case FlagChange::kAdd:
      for (const auto& k : have) put(k);
      for (const auto& k : keywords) put(k);
      break;
    case FlagChange::kRemove:
      for (const auto& k : have) {
        if (!has_keyword(keywords, k)) put(k);
      }
      break;
  }
  return out;
}

}  // namespace replimail::store
