#include "store/sync_crc.h"

#include <fmt/format.h>
#include <zlib.h>

namespace replimail::store {
namespace {

uint32_t lower_crc(std::string_view s) {
  std::string l(s);
  for (char& c : l)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return crc32_of(l);
}

}  // namespace

uint32_t crc32_of(std::string_view s) {
  uLong c = crc32(0L, Z_NULL, 0);
  c = crc32(c, reinterpret_cast<const Bytef*>(s.data()), static_cast<uInt>(s.size()));
  return static_cast<uint32_t>(c);
}

uint32_t flags_crc(uint32_t system_flags, const std::vector<std::string>& user_flags) {
  static constexpr struct {
    uint32_t bit;
    std::string_view name;
  } kSystem[] = {{kFlagDeleted, "\\deleted"},
                 {kFlagAnswered, "\\answered"},
                 {kFlagFlagged, "\\flagged"},
                 {kFlagDraft, "\\draft"},
                 {kFlagSeen, "\\seen"}};
  uint32_t crc = 0;
  for (const auto& f : kSystem)
    if (system_flags & f.bit) crc ^= crc32_of(f.name);
  for (const auto& u : user_flags) crc ^= lower_crc(u);
  return crc;
}

uint32_t record_crc(const IndexRecord& r) {
  if (r.expunged()) return 0;
  return crc32_of(fmt::format("{} {} {} ({}) {} {}", r.uid, r.modseq, r.last_updated,
                              flags_crc(r.system_flags, r.user_flags), r.internaldate, r.guid));
}

uint32_t record_annot_crc(const IndexRecord& r, const std::vector<MessageAnnotation>& annots) {
  if (r.expunged()) return 0;
  uint32_t crc = 0;
  for (const auto& a : annots) {
    if (a.value.empty()) continue;
    crc ^= crc32_of(fmt::format("{} {} {} ", r.uid, a.entry, a.userid) + a.value);
  }
  if (r.savedate != 0)
    crc ^= crc32_of(fmt::format("{} /vendor/cmu/cyrus-imapd/savedate  {}", r.uid, r.savedate));
  if (r.createdmodseq != 0)
    crc ^= crc32_of(
        fmt::format("{} /vendor/cmu/cyrus-imapd/createdmodseq  {}", r.uid, r.createdmodseq));
  return crc;
}

}  // namespace replimail::store
