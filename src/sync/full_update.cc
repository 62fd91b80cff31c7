// The full update of one mailbox (reference §5.7), run on the master when
// the cheap delta path fails: fetch the replica's whole record list, merge
// it with ours (sync/reconcile.h), and rewrite the master so that the next
// normal update makes the replica equal. Split-brain messages are renumbered
// to fresh UIDs on both sides; no message is lost.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <ctime>
#include <map>

#include "store/mboxname.h"
#include "sync/client.h"
#include "sync/protocol.h"
#include "sync/reconcile.h"

namespace replimail::sync {

Status FetchSink::begin(const dlist::FileRef& ref) {
  auto msg = inst_.stage_message(inst_.partition_path(ref.partition).ok() ? ref.partition : "");
  if (!msg.ok()) return msg.status();
  msg_ = std::move(*msg);
  guid_ = ref.guid;
  return Status::ok();
}

Status FetchSink::write(std::string_view bytes) { return msg_->write(bytes); }

Result<std::string> FetchSink::finish() {
  Status s = msg_->finish();
  if (!s) return s;
  if (msg_->guid() != guid_)
    return Status(Code::kIoError,
                  fmt::format("fetched message {} has SHA-1 {}", guid_, msg_->guid()));
  std::string path = msg_->path();
  files_.push_back(std::move(msg_));
  return path;
}

void FetchSink::discard() { msg_.reset(); }

Status SyncClient::full_update(const store::MailboxEntry& entry) {
  stats_.full_updates++;
  dlist::Value req = dlist::Value::atom(entry.name);
  req.set_key("FULLMAILBOX");
  auto reply = conn_.command("GET", req);
  if (!reply.ok()) {
    // Nothing there: the normal update creates it.
    return reply.status().code() == Code::kMailboxNonexistent ? Status::ok() : reply.status();
  }
  std::optional<MailboxState> remote;
  for (const auto& item : reply->items) {
    if (item.key() != "MAILBOX") continue;
    auto m = mailbox_from_dlist(item);
    if (!m.ok()) return m.status();
    remote = std::move(*m);
  }
  if (!remote || !remote->records) return Status(Code::kProtocolError, "no FULLMAILBOX reply");
  spdlog::warn(
      "channel={} mailbox={}: full update against the replica (HIGHESTMODSEQ {}, "
      "LAST_UID {})",
      opts_.channel.empty() ? "\"\"" : opts_.channel, entry.name, remote->highestmodseq,
      remote->last_uid);

  auto mbox = inst_.open_mailbox(entry.name);
  if (!mbox.ok()) return mbox.status();
  if ((*mbox)->entry().uniqueid != remote->uniqueid)
    return Status(Code::kMailboxMoved, "replica mailbox has another uniqueid");
  std::vector<store::IndexRecord> mine, theirs;
  Status s = (*mbox)->for_each_record(0, [&](const store::IndexRecord& r) {
    mine.push_back(r);
    return true;
  });
  if (!s) return s;
  for (const auto& item : *remote->records) theirs.push_back(item.record);
  auto actions = plan_full_update(mine, theirs, remote->highestmodseq, remote->last_uid);

  // Fetch the replica's messages first: no network while the mailbox is locked.
  std::map<uint32_t, std::string> fetched;
  for (const auto& a : actions) {
    if (a.kind != MergeAction::Kind::kCopyback) continue;
    dlist::Value f = dlist::Value::kvlist();
    f.add("MBOXNAME", dlist::Value::atom(remote->mboxname));
    f.add("PARTITION", dlist::Value::atom(remote->partition));
    f.add("UNIQUEID", dlist::Value::atom(remote->uniqueid));
    f.add("GUID", dlist::Value::guid(a.record.guid));
    f.add("UID", dlist::Value::num(a.uid));
    f.set_key("FETCH");
    auto got = conn_.command("GET", f);
    if (!got.ok()) return got.status();
    for (const auto& item : got->items)
      if (item.file() != nullptr) fetched[a.uid] = item.file()->path;
    if (!fetched.contains(a.uid))
      return Status(Code::kIoError, fmt::format("replica sent no file for uid {}", a.uid));
  }

  auto txn_r = (*mbox)->begin();
  if (!txn_r.ok()) return txn_r.status();
  store::MailboxTxn& txn = **txn_r;
  store::MailboxCounters c = txn.counters();
  uint32_t master_last_uid = c.last_uid;
  // Never go backwards: the replica's higher counters become ours, so the
  // rewritten records get MODSEQs above the replica's.
  c.highestmodseq = std::max(c.highestmodseq, remote->highestmodseq);
  c.last_uid = std::max(c.last_uid, remote->last_uid);
  c.uidvalidity = std::max(c.uidvalidity, remote->uidvalidity);
  if (!(c == txn.counters())) txn.set_counters(c);
  int64_t now = ::time(nullptr);
  std::vector<uint32_t> expunge_remote;
  for (const auto& a : actions) {
    switch (a.kind) {
      case MergeAction::Kind::kRewrite: {
        store::IndexRecord r = a.record;
        r.modseq = txn.next_modseq();
        r.last_updated = now;
        s = txn.put_record(r, "");
        break;
      }
      case MergeAction::Kind::kRenumber: {
        auto old = txn.record(a.uid);
        if (!old.ok()) return old.status();
        store::IndexRecord moved = *old;
        moved.uid = txn.counters().last_uid + 1;
        moved.modseq = txn.next_modseq();
        moved.last_updated = now;
        s = txn.put_record(moved, (*mbox)->message_path(a.uid));
        if (!s) return s;
        store::IndexRecord gone = *old;
        gone.system_flags |= store::kFlagExpunged;
        gone.modseq = txn.next_modseq();
        gone.last_updated = now;
        s = txn.put_record(gone, "");
        spdlog::warn("{}: split brain: uid {} renumbered to {}", entry.name, a.uid, moved.uid);
        break;
      }
      case MergeAction::Kind::kCopyback: {
        store::IndexRecord r = a.record;
        bool keep_uid = r.uid > master_last_uid && !txn.record(r.uid).ok();
        if (!keep_uid) {
          r.uid = txn.counters().last_uid + 1;
          expunge_remote.push_back(a.uid);
        }
        r.modseq = txn.next_modseq();
        r.last_updated = now;
        s = txn.put_record(r, fetched[a.uid]);
        spdlog::warn("{}: replica-only message uid {} copied back as uid {}", entry.name, a.uid,
                     r.uid);
        break;
      }
      case MergeAction::Kind::kExpungeRemote:
        expunge_remote.push_back(a.uid);
        break;
    }
    if (!s) return s;
  }
  s = inst_.commit(**mbox, txn);
  fetched_.clear();
  if (!s) return s;
  if (!expunge_remote.empty()) {
    ExpungeRequest e{remote->mboxname, remote->uniqueid, expunge_remote};
    dlist::Value v = to_dlist(e);
    v.set_key("EXPUNGE");
    auto r = conn_.command("APPLY", v);
    if (!r.ok()) report(store::mboxname_owner(entry.name), entry.name, r.status());
  }
  return Status::ok();
}

}  // namespace replimail::sync
