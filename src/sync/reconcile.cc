#include "sync/reconcile.h"

#include <fmt/format.h>

#include <set>

#include "store/sync_crc.h"

namespace replimail::sync {

Result<std::vector<RenameRequest>> order_renames(std::vector<RenameRequest> renames) {
  std::vector<RenameRequest> out;
  while (!renames.empty()) {
    bool progress = false;
    for (size_t i = 0; i < renames.size(); i++) {
      const std::string& target = renames[i].newname;
      bool blocked = false;
      for (size_t j = 0; j < renames.size(); j++)
        if (j != i && renames[j].oldname == target) blocked = true;
      if (blocked) continue;
      out.push_back(renames[i]);
      renames.erase(renames.begin() + static_cast<std::ptrdiff_t>(i));
      progress = true;
      break;
    }
    if (!progress)
      return Status(Code::kAgain, fmt::format("failed to order folders: rename cycle through {}",
                                              renames.front().oldname));
  }
  return out;
}

Result<FolderPlan> plan_folders(const std::vector<MailboxState>& master,
                                const std::vector<MailboxState>& replica, bool delete_remote,
                                const std::function<bool(const MailboxState&)>& deleted_here) {
  FolderPlan plan;
  std::map<std::string, const MailboxState*> by_uniqueid;
  for (const auto& r : replica) by_uniqueid[r.uniqueid] = &r;
  std::set<std::string> matched;
  std::vector<RenameRequest> renames;
  for (const auto& m : master) {
    auto it = by_uniqueid.find(m.uniqueid);
    if (it == by_uniqueid.end()) {
      plan.updates[m.mboxname] = std::nullopt;
      continue;
    }
    const MailboxState& r = *it->second;
    matched.insert(r.uniqueid);
    if (r.mboxname != m.mboxname)
      renames.push_back(RenameRequest{r.mboxname, m.mboxname, m.partition, m.uidvalidity});
    MailboxState moved = r;
    moved.mboxname = m.mboxname;
    plan.updates[m.mboxname] = std::move(moved);
  }
  for (const auto& r : replica) {
    if (matched.contains(r.uniqueid)) continue;
    if (delete_remote && deleted_here(r))
      plan.unmailbox.push_back(r.mboxname);
    else
      plan.orphans.push_back(r.mboxname);
  }
  auto ordered = order_renames(std::move(renames));
  if (!ordered.ok()) return ordered.status();
  plan.renames = std::move(*ordered);
  return plan;
}

namespace {

bool same_annotations(const std::vector<AnnotationItem>& a, const std::vector<AnnotationItem>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++)
    if (a[i].entry != b[i].entry || a[i].userid != b[i].userid || a[i].value != b[i].value)
      return false;
  return true;
}

// The fields a full update compares (§5.7), user flags included.
bool same_record(const store::IndexRecord& a, const store::IndexRecord& b) {
  return a.modseq == b.modseq && a.last_updated == b.last_updated &&
         a.internaldate == b.internaldate && a.system_flags == b.system_flags &&
         store::same_keywords(a.user_flags, b.user_flags) && a.savedate == b.savedate &&
         a.createdmodseq == b.createdmodseq;
}

}  // namespace

bool mailbox_unchanged(const MailboxState& m, const MailboxState& r) {
  if (m.mbtype != r.mbtype || m.last_uid != r.last_uid || m.highestmodseq != r.highestmodseq ||
      m.uidvalidity != r.uidvalidity || m.recentuid != r.recentuid ||
      m.recenttime != r.recenttime || m.pop3_last_login != r.pop3_last_login ||
      m.pop3_show_after != r.pop3_show_after || m.options != r.options || m.acl != r.acl)
    return false;
  if (r.foldermodseq != 0 && m.foldermodseq != r.foldermodseq) return false;
  if (!same_annotations(m.annotations, r.annotations)) return false;
  if (!store::crc_matches(m.sync_crc, r.sync_crc)) return false;
  return store::crc_matches(m.sync_crc_annot.value_or(0), r.sync_crc_annot.value_or(0));
}

std::vector<MergeAction> plan_full_update(const std::vector<store::IndexRecord>& master,
                                          const std::vector<store::IndexRecord>& replica,
                                          uint64_t replica_hms, uint32_t replica_last_uid) {
  using K = MergeAction::Kind;
  std::vector<MergeAction> out;
  size_t i = 0, j = 0;
  while (i < master.size() || j < replica.size()) {
    const store::IndexRecord* mr = i < master.size() ? &master[i] : nullptr;
    const store::IndexRecord* rr = j < replica.size() ? &replica[j] : nullptr;
    if (mr && rr && mr->uid == rr->uid) {
      i++, j++;
      if (mr->expunged() && rr->expunged()) continue;
      if (mr->guid != rr->guid) {
        // Split brain: the same UID holds different messages. Both survive,
        // each at a new UID.
        if (!mr->expunged()) out.push_back({K::kRenumber, mr->uid, {}});
        if (!rr->expunged()) out.push_back({K::kCopyback, rr->uid, *rr});
        continue;
      }
      if (same_record(*mr, *rr)) continue;
      store::IndexRecord agreed = *mr;
      if (!mr->expunged() && rr->expunged()) {
        agreed.system_flags |= store::kFlagExpunged;
      } else if (!mr->expunged() && rr->modseq > mr->modseq &&
                 rr->last_updated >= mr->last_updated) {
        agreed.system_flags = rr->system_flags;
        agreed.user_flags = rr->user_flags;
      }
      out.push_back({K::kRewrite, mr->uid, agreed});
    } else if (mr && (!rr || mr->uid < rr->uid)) {
      i++;
      if (mr->expunged()) continue;
      if (mr->uid <= replica_last_uid)
        out.push_back({K::kRenumber, mr->uid, {}});
      else if (mr->modseq <= replica_hms)
        out.push_back({K::kRewrite, mr->uid, *mr});
    } else {
      j++;
      if (rr->expunged()) continue;
      out.push_back({K::kCopyback, rr->uid, *rr});
    }
  }
  return out;
}

}  // namespace replimail::sync
