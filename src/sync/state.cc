#include "sync/state.h"

#include <fmt/format.h>

#include <set>

#include "store/mboxname.h"

namespace replimail::sync {

Result<std::vector<RecordItem>> record_items(store::Mailbox& mbox, uint64_t since_modseq) {
  std::vector<store::IndexRecord> recs;
  Status s = mbox.for_each_record(since_modseq, [&](const store::IndexRecord& r) {
    recs.push_back(r);
    return true;
  });
  if (!s) return s;
  std::vector<RecordItem> out;
  out.reserve(recs.size());
  for (const auto& r : recs) {
    auto item = record_item(mbox, r);
    if (!item.ok()) return item.status();
    out.push_back(std::move(*item));
  }
  return out;
}

Result<RecordItem> record_item(store::Mailbox& mbox, const store::IndexRecord& r) {
  RecordItem item{r, {}, {}};
  if (r.expunged()) return item;
  auto annots = mbox.annotations(r.uid);
  if (!annots.ok()) return annots.status();
  for (const auto& a : *annots)
    item.annotations.push_back(AnnotationItem{a.entry, a.userid, a.modseq, a.value});
  return item;
}

namespace {

MailboxState entry_fields(const store::MailboxEntry& entry) {
  MailboxState m;
  m.uniqueid = entry.uniqueid;
  m.mboxname = entry.name;
  m.mbtype = entry.mbtype == "e" ? "" : entry.mbtype;
  m.uidvalidity = entry.uidvalidity;
  m.partition = entry.partition;
  m.acl = entry.acl;
  m.createdmodseq = entry.createdmodseq;
  m.foldermodseq = entry.foldermodseq;
  return m;
}

}  // namespace

Result<MailboxState> mailbox_state(store::Instance& inst, store::Mailbox& mbox) {
  MailboxState m = entry_fields(mbox.entry());
  auto c = mbox.counters();
  if (!c.ok()) return c.status();
  m.sync_crc = c->sync_crc;
  m.sync_crc_annot = c->sync_crc_annot;
  m.last_uid = c->last_uid;
  m.highestmodseq = c->highestmodseq;
  m.recentuid = c->recentuid;
  m.recenttime = c->recenttime;
  m.last_appenddate = c->last_appenddate;
  m.pop3_last_login = c->pop3_last_login;
  m.pop3_show_after = c->pop3_show_after;
  m.uidvalidity = c->uidvalidity;
  m.options = c->options;
  auto root = inst.quota().find_root(m.mboxname);
  if (root.ok() && root->has_value()) m.quotaroot = (*root)->root;
  auto annots = inst.annotations().list(m.mboxname);
  if (!annots.ok()) return annots.status();
  for (const auto& a : *annots)
    m.annotations.push_back(AnnotationItem{a.entry, a.userid, a.modseq, a.value});
  return m;
}

Result<MailboxState> mailbox_state(store::Instance& inst, const store::MailboxEntry& entry,
                                   bool with_records, uint64_t since_modseq) {
  if (entry.is_intermediate()) {
    MailboxState m = entry_fields(entry);
    m.highestmodseq = entry.foldermodseq;
    return m;
  }
  auto mbox = inst.open_mailbox(entry.name);
  if (!mbox.ok()) return mbox.status();
  auto m = mailbox_state(inst, **mbox);
  if (!m.ok() || !with_records) return m;
  auto recs = record_items(**mbox, since_modseq);
  if (!recs.ok()) return recs.status();
  m->records = std::move(*recs);
  return m;
}

Result<std::vector<store::MailboxEntry>> user_entries(store::Instance& inst,
                                                      std::string_view userid) {
  std::vector<store::MailboxEntry> out;
  std::string inbox = store::user_inbox(userid);
  std::string deleted = inst.config().get("deletedprefix");
  if (deleted.empty()) deleted = "DELETED";
  auto collect = [&](const store::MailboxEntry& e) {
    if (e.name == inbox || store::mboxname_is_child(inbox, e.name) ||
        e.name.starts_with(deleted + "." + inbox + "."))
      out.push_back(e);
    return true;
  };
  Status s = inst.mailboxes().list(inbox, false, collect);
  if (!s) return s;
  s = inst.mailboxes().list(deleted + "." + inbox + ".", false, collect);
  if (!s) return s;
  return out;
}

Result<QuotaItem> quota_item(store::Instance& inst, std::string_view root) {
  auto q = inst.quota().get(root);
  if (!q.ok()) return q.status();
  return QuotaItem{q->root, q->storage_limit_kib, q->message_limit, q->modseq};
}

Result<UserState> user_state(store::Instance& inst, std::string_view userid, bool with_mailboxes) {
  UserState u;
  auto entries = user_entries(inst, userid);
  if (!entries.ok()) return entries.status();
  bool has_real = false;
  std::set<std::string> roots;
  for (const auto& e : *entries) {
    if (e.is_real()) has_real = true;
    if (with_mailboxes) {
      auto m = mailbox_state(inst, e, false);
      if (!m.ok()) return m.status();
      if (!m->quotaroot.empty()) roots.insert(m->quotaroot);
      u.mailboxes.push_back(std::move(*m));
    }
  }
  if (with_mailboxes) {
    // Roots at or below the INBOX count too, even if no mailbox uses them.
    auto all = inst.quota().list(store::user_inbox(userid));
    if (!all.ok()) return all.status();
    std::string inbox = store::user_inbox(userid);
    for (const auto& q : *all)
      if (q.root == inbox || store::mboxname_is_child(inbox, q.root)) roots.insert(q.root);
    for (const auto& r : roots) {
      auto q = quota_item(inst, r);
      if (q.ok()) u.quotas.push_back(*q);
    }
  }
  // GET USER answers seen state only for a user with a mailbox, as Cyrus
  // does; GET META always: a user without mailboxes (an administrator) has
  // seen state on the mailboxes of others.
  if (has_real || !with_mailboxes) {
    auto seen = inst.userdata().all_seen(userid);
    if (!seen.ok()) return seen.status();
    for (auto& s : *seen) u.seen.push_back(SeenItem{"", s});
  }
  auto subs = inst.userdata().subscriptions(userid);
  if (!subs.ok()) return subs.status();
  u.lsub = std::move(*subs);
  return u;
}

}  // namespace replimail::sync
