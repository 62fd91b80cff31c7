#include "sync/verify_diff.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "common/ascii.h"
#include "store/record.h"

namespace replimail::sync {

namespace {

std::string annotations_text(const std::vector<AnnotationItem>& list) {
  std::string out = "(";
  for (const auto& a : list) {
    if (out.size() > 1) out += ' ';
    out += fmt::format("{}[{}]={:?}", a.entry, a.userid, a.value);
  }
  return out + ")";
}

// Annotations compared as cyr_digest does: entry, userid and value.
bool same_annotations(std::vector<AnnotationItem> a, std::vector<AnnotationItem> b) {
  if (a.size() != b.size()) return false;
  auto key = [](const AnnotationItem& x) { return std::tie(x.entry, x.userid, x.value); };
  auto less = [&](const AnnotationItem& x, const AnnotationItem& y) { return key(x) < key(y); };
  std::sort(a.begin(), a.end(), less);
  std::sort(b.begin(), b.end(), less);
  for (size_t i = 0; i < a.size(); i++)
    if (key(a[i]) != key(b[i])) return false;
  return true;
}

// Appends "name primary X replica Y" to `out` when the values differ.
template <typename T>
void field(std::vector<std::string>& out, const char* name, const T& p, const T& r) {
  if (p != r) out.push_back(fmt::format("{} primary {} replica {}", name, p, r));
}

std::string joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

}  // namespace

std::string flags_text(const store::IndexRecord& rec) {
  std::vector<std::string> names = store::system_flag_names(rec.system_flags);
  std::vector<std::string> user = rec.user_flags;
  std::sort(user.begin(), user.end(),
            [](const std::string& a, const std::string& b) { return to_lower(a) < to_lower(b); });
  names.insert(names.end(), user.begin(), user.end());
  std::string out = "(";
  for (const auto& n : names) out += (out.size() > 1 ? " " : "") + n;
  return out + ")";
}

std::vector<Difference> mailbox_differences(const MailboxState& p, const MailboxState& r) {
  if (p.uniqueid != r.uniqueid)
    return {Difference{0,
                       fmt::format("another mailbox of this name: uniqueid primary {} replica {}",
                                   p.uniqueid, r.uniqueid),
                       false}};
  std::vector<std::string> parts;
  field(parts, "mbtype", p.mbtype, r.mbtype);
  field(parts, "last_uid", p.last_uid, r.last_uid);
  field(parts, "highestmodseq", p.highestmodseq, r.highestmodseq);
  field(parts, "uidvalidity", p.uidvalidity, r.uidvalidity);
  field(parts, "recentuid", p.recentuid, r.recentuid);
  field(parts, "recenttime", p.recenttime, r.recenttime);
  field(parts, "pop3_last_login", p.pop3_last_login, r.pop3_last_login);
  field(parts, "pop3_show_after", p.pop3_show_after, r.pop3_show_after);
  field(parts, "sync_crc", p.sync_crc, r.sync_crc);
  field(parts, "sync_crc_annot", p.sync_crc_annot.value_or(0), r.sync_crc_annot.value_or(0));
  field(parts, "foldermodseq", p.foldermodseq, r.foldermodseq);
  if (p.acl != r.acl) parts.push_back(fmt::format("acl primary {:?} replica {:?}", p.acl, r.acl));
  if (p.options != r.options)
    parts.push_back(fmt::format("options primary {:?} replica {:?}", p.options, r.options));
  if (!same_annotations(p.annotations, r.annotations))
    parts.push_back(fmt::format("annotations primary {} replica {}",
                                annotations_text(p.annotations), annotations_text(r.annotations)));
  if (parts.empty()) return {};
  // APPLY MAILBOX never lowers LAST_UID, nor changes a mailbox's type.
  bool repairable = r.last_uid <= p.last_uid && p.mbtype == r.mbtype;
  return {Difference{0, joined(parts), repairable}};
}

bool records_may_differ(const MailboxState& p, const MailboxState& r) {
  return p.sync_crc != r.sync_crc || p.sync_crc_annot.value_or(0) != r.sync_crc_annot.value_or(0) ||
         p.last_uid != r.last_uid || p.highestmodseq != r.highestmodseq;
}

std::optional<Difference> record_difference(const RecordItem* p, const RecordItem* r,
                                            uint32_t replica_last_uid) {
  if (p == nullptr && r == nullptr) return std::nullopt;
  if (r == nullptr) {
    const store::IndexRecord& pr = p->record;
    if (pr.uid > replica_last_uid)
      return Difference{pr.uid,
                        pr.expunged() ? "not on the replica yet (expunged on the primary)"
                                      : "not on the replica yet",
                        true};
    if (pr.expunged()) return std::nullopt;  // never sent: it was expunged first
    return Difference{pr.uid,
                      fmt::format("lost by the replica (below its LAST_UID {})", replica_last_uid),
                      false};
  }
  if (p == nullptr) {
    const store::IndexRecord& rr = r->record;
    // Expunged there and gone here (cyr_expire -X on the primary): Cyrus's
    // full update leaves such a record alone until the replica's own
    // cyr_expire; so does the verifier.
    if (rr.expunged()) return std::nullopt;
    return Difference{rr.uid, fmt::format("only on the replica (GUID {})", rr.guid), false};
  }
  const store::IndexRecord& a = p->record;
  const store::IndexRecord& b = r->record;
  if (a.guid != b.guid)
    return Difference{a.uid, fmt::format("split brain: GUID primary {} replica {}", a.guid, b.guid),
                      false};
  std::vector<std::string> parts;
  if (a.system_flags != b.system_flags || !store::same_keywords(a.user_flags, b.user_flags))
    parts.push_back(fmt::format("flags primary {} replica {}", flags_text(a), flags_text(b)));
  field(parts, "modseq", a.modseq, b.modseq);
  field(parts, "last_updated", a.last_updated, b.last_updated);
  field(parts, "internaldate", a.internaldate, b.internaldate);
  field(parts, "size", a.size, b.size);
  field(parts, "savedate", a.savedate, b.savedate);
  field(parts, "createdmodseq", a.createdmodseq, b.createdmodseq);
  if (!same_annotations(p->annotations, r->annotations))
    parts.push_back(fmt::format("annotations primary {} replica {}",
                                annotations_text(p->annotations),
                                annotations_text(r->annotations)));
  if (parts.empty()) return std::nullopt;
  // The replica takes the master's record over its own (one expunged on
  // both sides too), except that a record expunged there cannot live again
  // (its file is gone).
  bool repairable = !b.expunged() || a.expunged();
  return Difference{a.uid, joined(parts), repairable};
}

std::vector<Difference> record_differences(const std::vector<RecordItem>& p,
                                           const std::vector<RecordItem>& r,
                                           uint32_t replica_last_uid) {
  std::vector<Difference> out;
  size_t i = 0, j = 0;
  while (i < p.size() || j < r.size()) {
    const RecordItem* a = i < p.size() ? &p[i] : nullptr;
    const RecordItem* b = j < r.size() ? &r[j] : nullptr;
    if (a && b && a->record.uid == b->record.uid) {
      i++, j++;
    } else if (a && (!b || a->record.uid < b->record.uid)) {
      i++, b = nullptr;
    } else {
      j++, a = nullptr;
    }
    if (auto d = record_difference(a, b, replica_last_uid)) out.push_back(std::move(*d));
  }
  return out;
}

}  // namespace replimail::sync
