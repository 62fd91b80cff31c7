#include "sync/replica.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "store/mboxname.h"
#include "store/sync_crc.h"
#include "store/user_delete.h"
#include "sync/state.h"

namespace replimail::sync {
namespace {

Status checksum(const std::string& name, const std::string& why) {
  return Status(Code::kSyncChecksum, fmt::format("{}: {}", name, why));
}

}  // namespace

Replica::Replica(store::Instance& instance, ReserveList& reserve)
    : inst_(instance), reserve_(reserve), sieve_(instance.config()) {}

Result<UserState> Replica::get_user(std::string_view userid, bool with_mailboxes) {
  Status s = store::validate_userid(userid);
  if (!s) return s;
  auto u = user_state(inst_, userid, with_mailboxes);
  if (!u.ok()) return u;
  auto scripts = sieve_.list(userid);
  if (!scripts.ok()) return scripts.status();
  u->sieve = std::move(*scripts);
  return u;
}

Result<std::vector<MailboxState>> Replica::get_mailboxes(const std::vector<std::string>& names) {
  std::vector<MailboxState> out;
  for (const auto& n : names) {
    auto e = inst_.mailboxes().lookup(n);
    if (!e.ok()) {
      if (e.status().code() == Code::kMailboxNonexistent) continue;
      return e.status();
    }
    if (e->is_tombstone()) continue;
    auto m = mailbox_state(inst_, *e, false);
    if (!m.ok()) return m.status();
    out.push_back(std::move(*m));
  }
  return out;
}

Result<std::vector<MailboxState>> Replica::get_uniqueids(
    const std::vector<std::string>& uniqueids) {
  std::vector<MailboxState> out;
  for (const auto& id : uniqueids) {
    auto e = inst_.mailboxes().lookup_uniqueid(id);
    if (!e.ok() || e->is_tombstone()) continue;
    auto m = mailbox_state(inst_, *e, false);
    if (!m.ok()) return m.status();
    out.push_back(std::move(*m));
  }
  return out;
}

Result<MailboxState> Replica::get_fullmailbox(std::string_view name) {
  auto e = inst_.mailboxes().lookup(name);
  if (!e.ok()) return e.status();
  if (e->is_tombstone()) return Status(Code::kMailboxNonexistent, std::string(name));
  return mailbox_state(inst_, *e, true);
}

Result<QuotaItem> Replica::get_quota(std::string_view root) { return quota_item(inst_, root); }

Result<std::vector<ServerAnnotation>> Replica::get_annotations(std::string_view name) {
  auto list = inst_.annotations().list(name);
  if (!list.ok()) return list.status();
  std::vector<ServerAnnotation> out;
  for (const auto& a : *list) out.push_back({a.mboxname, a.entry, a.userid, a.value});
  return out;
}

Status Replica::apply_placeholder(const MailboxState& m) {
  auto existing = inst_.mailboxes().lookup(m.mboxname);
  if (existing.ok() && existing->is_real()) {
    // The master turned a mailbox into an intermediate: the real one goes.
    Status s = inst_.delete_mailbox(m.mboxname);
    if (!s) return s;
  }
  store::MailboxEntry e;
  e.name = m.mboxname;
  e.uniqueid = m.uniqueid;
  e.mbtype = m.mbtype;
  e.partition = m.partition.empty() ? inst_.config().defaultpartition() : m.partition;
  e.acl = m.acl;
  e.uidvalidity = m.uidvalidity;
  e.createdmodseq = m.createdmodseq;
  e.foldermodseq = m.highestmodseq;
  // An unchanged entry keeps its mtime, so it is neither written nor logged.
  auto cur = inst_.mailboxes().lookup(m.mboxname);
  if (cur.ok()) e.mtime = cur->mtime;
  if (!cur.ok() || !(*cur == e)) e.mtime = ::time(nullptr);
  return inst_.put_replicated_entry(e, m.highestmodseq);
}

Status Replica::create_for(const MailboxState& m) {
  store::CreateOptions o;
  o.partition = m.partition;
  if (!inst_.partition_path(o.partition).ok()) o.partition = "";
  o.acl = m.acl;
  o.uniqueid = m.uniqueid;
  o.uidvalidity = m.uidvalidity;
  o.createdmodseq = m.createdmodseq;
  auto e = inst_.create_mailbox(m.mboxname, o);
  if (e.ok() || e.status().code() != Code::kMailboxExists) return e.status();
  // Another session applied the same mailbox meanwhile: that one is ours.
  auto now = inst_.lookup(m.mboxname);
  if (now.ok() && now->uniqueid == m.uniqueid) return Status::success();
  return e.status();
}

Status Replica::apply_mailbox(const MailboxState& m) {
  Status s = store::validate_mboxname(m.mboxname);
  if (!s) return s;
  if (m.uniqueid.empty())
    return Status(Code::kProtocolBadParameters, "APPLY MAILBOX without UNIQUEID");
  if (!m.mbtype.empty() && m.mbtype != "e" &&
      (m.intermediate() || m.mbtype.find('d') != std::string::npos))
    return apply_placeholder(m);
  if (!m.records && (m.mbtype.empty() || m.mbtype == "e"))
    return Status(Code::kProtocolBadParameters, "APPLY MAILBOX without RECORD");
  auto apply = begin_mailbox(m);
  if (!apply.ok()) return apply.status();
  for (const RecordItem& item : *m.records) {
    s = (*apply)->add(item);
    if (!s) return s;
  }
  return (*apply)->finish(m);
}

Result<std::unique_ptr<MailboxApply>> Replica::begin_mailbox(const MailboxState& head) {
  Status s = store::validate_mboxname(head.mboxname);
  if (!s) return s;
  if (head.uniqueid.empty())
    return Status(Code::kProtocolBadParameters, "APPLY MAILBOX without UNIQUEID");
  if (!head.mbtype.empty() && head.mbtype != "e")
    return Status(Code::kMailboxNotSupported,
                  fmt::format("{}: mailbox type {} is not supported", head.mboxname, head.mbtype));

  bool created = false;
  auto existing = inst_.lookup(head.mboxname);
  if (!existing.ok()) {
    if (existing.status().code() != Code::kMailboxNonexistent) return existing.status();
    s = create_for(head);
    if (!s) return s;
    created = true;
  } else if (existing->uniqueid != head.uniqueid) {
    auto mbox = inst_.open_mailbox(head.mboxname);
    if (!mbox.ok()) return mbox.status();
    auto c = (*mbox)->counters();
    if (!c.ok()) return c.status();
    if (!force_ && c->last_uid != 0)
      return Status(Code::kMailboxMoved,
                    fmt::format("{} has uniqueid {}, master has {}", head.mboxname,
                                existing->uniqueid, head.uniqueid));
    mbox->reset();
    s = inst_.delete_mailbox(head.mboxname);
    if (!s) return s;
    s = create_for(head);
    if (!s) return s;
    created = true;
  }
  std::unique_ptr<MailboxApply> apply(new MailboxApply(*this, head.mboxname, created));
  auto mbox = inst_.open_mailbox(head.mboxname);
  if (!mbox.ok()) return mbox.status();
  apply->mbox_ = std::move(*mbox);
  auto txn = apply->mbox_->begin();
  if (!txn.ok()) return txn.status();
  apply->txn_ = std::move(*txn);
  // The new records' files are linked on the instance's threads while the
  // records are parsed and written here (the replica's busiest step).
  apply->txn_->defer_links(inst_.workers());
  const store::MailboxCounters& local = apply->txn_->counters();
  apply->local_last_uid_ = local.last_uid;
  const std::string& name = head.mboxname;
  // A freshly created mailbox takes every record as new.
  uint64_t local_hms = created ? 0 : local.highestmodseq;

  if (!created && head.since_modseq) {
    if (*head.since_modseq != local.highestmodseq ||
        !store::crc_matches(head.since_crc, local.sync_crc) ||
        !store::crc_matches(head.since_crc_annot, local.sync_crc_annot))
      return Status(Code::kSyncChanged, fmt::format("{}: replica changed since modseq {} (now {})",
                                                    name, *head.since_modseq, local.highestmodseq));
  }
  if (!force_ && !created) {
    if (local_hms > head.highestmodseq)
      return checksum(name, fmt::format("replica HIGHESTMODSEQ {} above master's {}", local_hms,
                                        head.highestmodseq));
    if (local.uidvalidity > head.uidvalidity)
      return checksum(name, fmt::format("replica UIDVALIDITY {} above master's {}",
                                        local.uidvalidity, head.uidvalidity));
    if (local.last_uid > head.last_uid)
      return checksum(name, fmt::format("replica LAST_UID {} above master's {}", local.last_uid,
                                        head.last_uid));
  }
  return apply;
}

MailboxApply::MailboxApply(Replica& replica, std::string name, bool created)
    : replica_(replica), name_(std::move(name)), created_(created) {}

// The transaction goes before the mailbox it belongs to (rolled back if
// not committed).
MailboxApply::~MailboxApply() { txn_.reset(); }

Status MailboxApply::add(const RecordItem& item) {
  const store::IndexRecord& rec = item.record;
  const std::string& name = name_;
  const bool force = replica_.force_;
  store::MailboxTxn& txn = *txn_;
  if (rec.uid <= prev_uid_)
    return Status(Code::kProtocolBadParameters,
                  fmt::format("{}: records not in ascending UID order at {}", name, rec.uid));
  prev_uid_ = rec.uid;
  // A mailbox created by this APPLY has no record yet: no lookup needed.
  auto old = created_ ? Result<store::IndexRecord>(Status(Code::kNotFound, "new mailbox"))
                      : txn.record(rec.uid);
  if (old.ok()) {
    // Expunged on both sides: Cyrus leaves the replica's record as it is;
    // taking the master's (no file either way) keeps the two record for
    // record equal, so sync_verify's repair converges.
    if (old->expunged() && rec.expunged())
      return *old == rec ? Status::success() : txn.put_record(rec, "");
    if (old->guid != rec.guid)
      return checksum(
          name, fmt::format("uid {}: GUID {} here, {} on master", rec.uid, old->guid, rec.guid));
    if (!force && old->modseq > rec.modseq)
      return checksum(name, fmt::format("uid {}: replica MODSEQ {} above master's {}", rec.uid,
                                        old->modseq, rec.modseq));
    if (!force && old->expunged() && !rec.expunged())
      return checksum(name, fmt::format("uid {}: expunged here, not on master", rec.uid));
  } else if (old.status().code() != Code::kNotFound) {
    return old.status();
  } else if (rec.uid <= local_last_uid_) {
    if (rec.expunged()) return Status::success();
    return checksum(
        name, fmt::format("uid {}: missing here below LAST_UID {}", rec.uid, local_last_uid_));
  }
  if (old.ok() && *old == rec && item.annotations.empty()) return Status::success();
  std::string file;
  if (!old.ok() && !rec.expunged()) {
    file = replica_.reserve_.find(rec.guid);
    if (file.empty())
      return Status(Code::kIoError,
                    fmt::format("{}: uid {}: message {} was neither reserved nor uploaded", name,
                                rec.uid, rec.guid));
  }
  Status s = txn.put_record(rec, file, item.cache ? &*item.cache : nullptr);
  if (!s) return s;
  if (!rec.expunged() && !item.annotations.empty()) {
    // Per-message annotations: set, then restore the master's MODSEQ,
    // which set_annotation() bumps.
    for (const auto& a : item.annotations) {
      s = txn.set_annotation(rec.uid, a.entry, a.userid, a.value);
      if (!s) return s;
    }
    s = txn.put_record(rec, "");
    if (!s) return s;
  }
  return Status::success();
}

Status MailboxApply::finish(const MailboxState& m) {
  store::Instance& inst = replica_.inst_;
  store::MailboxTxn& txn = *txn_;
  store::MailboxCounters c = txn.counters();
  c.last_uid = std::max(c.last_uid, m.last_uid);
  c.highestmodseq = m.highestmodseq;
  c.recentuid = m.recentuid;
  c.recenttime = m.recenttime;
  c.last_appenddate = m.last_appenddate;
  c.pop3_last_login = m.pop3_last_login;
  c.pop3_show_after = m.pop3_show_after;
  c.uidvalidity = m.uidvalidity;
  c.options = m.options;
  if (!(c == txn.counters())) txn.set_counters(c);
  // The files uploaded for these records are on disk before any commits
  // (the flush of the last APPLY MESSAGE ran meanwhile); if it failed, they
  // were dropped and nothing of this mailbox changes.
  Status s = replica_.reserve_.wait_synced();
  if (!s) return s;
  s = inst.commit(*mbox_, txn);
  txn_.reset();
  if (!s) return s;

  // Mailbox-level state in mailboxes.db: ACL and folder modseq from the master.
  auto e = inst.mailboxes().lookup(m.mboxname);
  if (!e.ok()) return e.status();
  store::MailboxEntry n = *e;
  n.acl = m.acl;
  n.uidvalidity = m.uidvalidity;
  if (m.foldermodseq != 0) n.foldermodseq = m.foldermodseq;
  if (m.createdmodseq != 0) n.createdmodseq = m.createdmodseq;
  if (!(n == *e)) n.mtime = ::time(nullptr);
  s = inst.put_replicated_entry(n, m.highestmodseq);
  if (!s) return s;
  s = replica_.apply_mailbox_annotations(m);
  if (!s) return s;

  auto now = mbox_->counters();
  if (!now.ok()) return now.status();
  if (!store::crc_matches(m.sync_crc, now->sync_crc) ||
      (m.sync_crc_annot && !store::crc_matches(*m.sync_crc_annot, now->sync_crc_annot)))
    return checksum(m.mboxname,
                    fmt::format("CRC mismatch after apply: master {}/{} replica {}/{}", m.sync_crc,
                                m.sync_crc_annot.value_or(0), now->sync_crc, now->sync_crc_annot));
  return Status::success();
}

Status Replica::apply_mailbox_annotations(const MailboxState& m) {
  std::vector<store::Annotation> annots;
  for (const auto& x : m.annotations)
    annots.push_back(store::Annotation{m.mboxname, x.entry, x.userid, x.value, x.modseq});
  return inst_.put_replicated_annotations(m.mboxname, annots);
}

Status Replica::apply_unmailbox(std::string_view name) {
  if (!inst_.lookup(name).ok()) return inst_.delete_mailbox(name);
  return store::remove_mailbox(inst_, name);
}

Status Replica::apply_rename(const RenameRequest& r) {
  if (r.oldname == r.newname)
    return Status::success();  // partition moves: one partition per mailbox here
  return inst_.rename_mailbox(r.oldname, r.newname);
}

Status Replica::apply_expunge(const ExpungeRequest& e) {
  auto mbox = inst_.open_mailbox(e.mboxname);
  if (!mbox.ok()) return mbox.status();
  if ((*mbox)->entry().uniqueid != e.uniqueid)
    return Status(Code::kMailboxMoved, fmt::format("{} has uniqueid {}, not {}", e.mboxname,
                                                   (*mbox)->entry().uniqueid, e.uniqueid));
  auto txn = (*mbox)->begin();
  if (!txn.ok()) return txn.status();
  for (uint32_t uid : e.uids) {
    auto r = (*txn)->record(uid);
    if (!r.ok()) {
      if (r.status().code() == Code::kNotFound) continue;
      return r.status();
    }
    if (r->expunged()) continue;
    store::IndexRecord x = *r;
    x.system_flags |= store::kFlagExpunged;
    Status s = (*txn)->put_record(x, "");
    if (!s) return s;
  }
  return inst_.commit(**mbox, **txn);
}

Status Replica::apply_sub(const SubRequest& s, bool subscribe) {
  return inst_.set_subscribed(s.userid, s.mboxname, subscribe);
}

Status Replica::apply_seen(const SeenItem& s) { return inst_.set_seen(s.userid, s.seen); }

Status Replica::apply_quota(const QuotaItem& q) {
  return inst_.set_quota(q.root, q.storage_kib, q.messages, q.modseq);
}

Status Replica::apply_unquota(std::string_view root) { return inst_.remove_quota(root); }

Status Replica::apply_annotation(const ServerAnnotation& a) {
  return inst_.set_annotation(a.mboxname, a.entry, a.userid, a.value);
}

Status Replica::apply_sieve(const SieveRequest& r) {
  Status s = store::validate_userid(r.userid);
  if (!s) return s;
  return sieve_.put(r.userid, r.filename, r.last_update, r.content);
}

Status Replica::apply_unsieve(const SieveRequest& r) {
  Status s = store::validate_userid(r.userid);
  if (!s) return s;
  return sieve_.remove(r.userid, r.filename);
}

Status Replica::apply_activate_sieve(const SieveRequest& r) {
  Status s = store::validate_userid(r.userid);
  if (!s) return s;
  return sieve_.activate(r.userid, r.filename);
}

Status Replica::apply_unactivate_sieve(const SieveRequest& r) {
  Status s = store::validate_userid(r.userid);
  if (!s) return s;
  return sieve_.deactivate(r.userid);
}

Status Replica::apply_unuser(std::string_view userid) {
  if (userid.empty()) return Status::success();
  Status s = store::validate_userid(userid);
  if (!s) return s;
  auto entries = user_entries(inst_, userid);
  if (!entries.ok()) return entries.status();
  std::vector<store::MailboxEntry> list = std::move(*entries);
  // Children before parents: reverse name order puts "a.b" before "a".
  std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.name > b.name; });
  const bool delayed = inst_.config().get("delete_mode") == "delayed";
  const std::string kept = inst_.config().get("deletedprefix") + ".";
  for (const auto& e : list) {
    if (!e.is_real() || (delayed && e.name.starts_with(kept))) continue;
    s = store::remove_mailbox(inst_, e.name);
    if (!s && s.code() != Code::kMailboxNonexistent) return s;
  }
  std::string inbox = store::user_inbox(userid);
  auto roots = inst_.quota().list(inbox);
  if (!roots.ok()) return roots.status();
  for (const auto& q : *roots) {
    if (q.root != inbox && !store::mboxname_is_child(inbox, q.root)) continue;
    s = inst_.remove_quota(q.root);
    if (!s && s.code() != Code::kNotFound) return s;
  }
  s = sieve_.remove_user(userid);
  if (!s) return s;
  return inst_.delete_user_data(userid);
}

}  // namespace replimail::sync
