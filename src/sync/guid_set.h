// GUIDs (SHA-1 of a message file; 40 hex digits on the wire) held as their
// 20 bytes: one costs about 50 bytes with the hash table's own overhead
// instead of about 120 as a std::string in a std::set.
//
// Plain values; not thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>

namespace replimail::sync {

struct Guid {
  std::array<uint8_t, 20> bytes{};

  // nullopt unless `hex` is exactly 40 hex digits (either case).
  static std::optional<Guid> parse(std::string_view hex);
  // 40 lower-case hex digits.
  std::string hex() const;
  bool operator==(const Guid&) const = default;
};

struct GuidHash {
  size_t operator()(const Guid& g) const {
    size_t h;
    std::memcpy(&h, g.bytes.data(), sizeof h);  // SHA-1 bytes are already uniform
    return h;
  }
};

// A set of GUIDs given as text. Strings that are not 40 hex digits are kept
// too (as text, apart), so the set answers exactly for any string.
//
// With a `limit`, the set forgets everything it holds when an insert would
// take it past `limit` entries: memory stays bounded whatever the number of
// messages. Use a limit only where a forgotten GUID costs work and not
// correctness (sync_client's "already uploaded" memory: a forgotten GUID is
// uploaded again, and the replica keeps the copy it holds).
class GuidSet {
 public:
  explicit GuidSet(size_t limit = SIZE_MAX) : limit_(limit) {}

  // True if `guid` was not in the set.
  bool insert(std::string_view guid);
  bool contains(std::string_view guid) const;
  size_t size() const { return set_.size() + other_.size(); }
  void clear();

 private:
  std::unordered_set<Guid, GuidHash> set_;
  std::set<std::string, std::less<>> other_;
  size_t limit_;
};

}  // namespace replimail::sync
