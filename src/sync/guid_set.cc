#include "sync/guid_set.h"

namespace replimail::sync {
namespace {

int nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<Guid> Guid::parse(std::string_view hex) {
  Guid g;
  if (hex.size() != 2 * g.bytes.size()) return std::nullopt;
  for (size_t i = 0; i < g.bytes.size(); i++) {
    int hi = nibble(hex[2 * i]);
    int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    g.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return g;
}

std::string Guid::hex() const {
  static const char* digits = "0123456789abcdef";
  std::string out(2 * bytes.size(), '0');
  for (size_t i = 0; i < bytes.size(); i++) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 15];
  }
  return out;
}

bool GuidSet::insert(std::string_view guid) {
  if (size() >= limit_ && !contains(guid)) clear();
  if (auto g = Guid::parse(guid)) return set_.insert(*g).second;
  return other_.emplace(guid).second;
}

bool GuidSet::contains(std::string_view guid) const {
  if (auto g = Guid::parse(guid)) return set_.contains(*g);
  return other_.find(guid) != other_.end();
}

void GuidSet::clear() {
  set_.clear();
  other_.clear();
}

}  // namespace replimail::sync
