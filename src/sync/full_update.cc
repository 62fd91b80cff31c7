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
  return Status::success();
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

namespace {

// GET FULLMAILBOX: the replica's state of `name` with its whole record
// list; nullopt if the replica has no such mailbox.
Result<std::optional<MailboxState>> get_full_mailbox(ReplicaConnection& conn,
                                                     const std::string& name) {
  dlist::Value req = dlist::Value::atom(name);
  req.set_key("FULLMAILBOX");
  auto reply = conn.command("GET", req);
  if (!reply.ok()) {
    if (reply.status().code() == Code::kMailboxNonexistent) return std::optional<MailboxState>();
    return reply.status();
  }
  std::optional<MailboxState> remote;
  for (const auto& item : reply->items) {
    if (item.key() != "MAILBOX") continue;
    auto m = mailbox_from_dlist(item);
    if (!m.ok()) return m.status();
    remote = std::move(*m);
  }
  if (!remote || !remote->records) return Status(Code::kProtocolError, "no FULLMAILBOX reply");
  return remote;
}

// GET FETCH of every message the plan copies back, before the mailbox is
// locked (no network under the lock): replica UID -> the staged file.
Result<std::map<uint32_t, std::string>> fetch_copybacks(ReplicaConnection& conn,
                                                        const MailboxState& remote,
                                                        const std::vector<MergeAction>& actions) {
  std::map<uint32_t, std::string> fetched;
  for (const auto& a : actions) {
    if (a.kind != MergeAction::Kind::kCopyback) continue;
    dlist::Value f = dlist::Value::kvlist();
    f.add("MBOXNAME", dlist::Value::atom(remote.mboxname));
    f.add("PARTITION", dlist::Value::atom(remote.partition));
    f.add("UNIQUEID", dlist::Value::atom(remote.uniqueid));
    f.add("GUID", dlist::Value::guid(a.record.guid));
    f.add("UID", dlist::Value::num(a.uid));
    f.set_key("FETCH");
    auto got = conn.command("GET", f);
    if (!got.ok()) return got.status();
    for (const auto& item : got->items)
      if (item.file() != nullptr) fetched[a.uid] = item.file()->path;
    if (!fetched.contains(a.uid))
      return Status(Code::kIoError, fmt::format("replica sent no file for uid {}", a.uid));
  }
  return fetched;
}

// Carries out a full update's plan on the master's mailbox, in `txn`.
class MergeApplier {
 public:
  MergeApplier(const std::string& name, store::Mailbox& mbox, store::MailboxTxn& txn,
               const MailboxState& remote, std::map<uint32_t, std::string> fetched)
      : name_(name), mbox_(mbox), txn_(txn), fetched_(std::move(fetched)), now_(::time(nullptr)) {
    store::MailboxCounters c = txn.counters();
    master_last_uid_ = c.last_uid;
    // Never go backwards: the replica's higher counters become ours, so the
    // rewritten records get MODSEQs above the replica's.
    c.highestmodseq = std::max(c.highestmodseq, remote.highestmodseq);
    c.last_uid = std::max(c.last_uid, remote.last_uid);
    c.uidvalidity = std::max(c.uidvalidity, remote.uidvalidity);
    if (!(c == txn.counters())) txn.set_counters(c);
  }

  Status apply(const MergeAction& a) {
    switch (a.kind) {
      case MergeAction::Kind::kRewrite: {
        store::IndexRecord r = a.record;
        r.modseq = txn_.next_modseq();
        r.last_updated = now_;
        return txn_.put_record(r, "");
      }
      case MergeAction::Kind::kRenumber:
        return renumber(a.uid);
      case MergeAction::Kind::kCopyback:
        return copy_back(a);
      case MergeAction::Kind::kExpungeRemote:
        expunge_remote_.push_back(a.uid);
        return Status::success();
    }
    return Status::success();
  }

  // The replica's UIDs to expunge there once the master has committed.
  const std::vector<uint32_t>& expunge_remote() const { return expunge_remote_; }

 private:
  // Split brain: our record moves to a fresh UID, the old one is expunged.
  Status renumber(uint32_t uid) {
    auto old = txn_.record(uid);
    if (!old.ok()) return old.status();
    store::IndexRecord moved = *old;
    moved.uid = txn_.counters().last_uid + 1;
    moved.modseq = txn_.next_modseq();
    moved.last_updated = now_;
    if (Status s = txn_.put_record(moved, mbox_.message_path(uid)); !s) return s;
    store::IndexRecord gone = *old;
    gone.system_flags |= store::kFlagExpunged;
    gone.modseq = txn_.next_modseq();
    gone.last_updated = now_;
    Status s = txn_.put_record(gone, "");
    spdlog::warn("{}: split brain: uid {} renumbered to {}", name_, uid, moved.uid);
    return s;
  }

  // A message only the replica has: appended here, under its UID if that
  // is above our old LAST_UID and free, else under a fresh one (and the
  // replica's copy is expunged).
  Status copy_back(const MergeAction& a) {
    store::IndexRecord r = a.record;
    bool keep_uid = r.uid > master_last_uid_ && !txn_.record(r.uid).ok();
    if (!keep_uid) {
      r.uid = txn_.counters().last_uid + 1;
      expunge_remote_.push_back(a.uid);
    }
    r.modseq = txn_.next_modseq();
    r.last_updated = now_;
    Status s = txn_.put_record(r, fetched_[a.uid]);
    spdlog::warn("{}: replica-only message uid {} copied back as uid {}", name_, a.uid, r.uid);
    return s;
  }

  const std::string& name_;
  store::Mailbox& mbox_;
  store::MailboxTxn& txn_;
  std::map<uint32_t, std::string> fetched_;
  const int64_t now_;
  uint32_t master_last_uid_ = 0;
  std::vector<uint32_t> expunge_remote_;
};

}  // namespace

Status SyncClient::full_update(const store::MailboxEntry& entry) {
  stats_.full_updates++;
  auto got = get_full_mailbox(conn_, entry.name);
  if (!got.ok()) return got.status();
  // Nothing there: the normal update creates it.
  if (!*got) return Status::success();
  const MailboxState& remote = **got;
  spdlog::warn(
      "channel={} mailbox={}: full update against the replica (HIGHESTMODSEQ {}, "
      "LAST_UID {})",
      opts_.channel.empty() ? "\"\"" : opts_.channel, entry.name, remote.highestmodseq,
      remote.last_uid);

  auto mbox = inst_.open_mailbox(entry.name);
  if (!mbox.ok()) return mbox.status();
  if ((*mbox)->entry().uniqueid != remote.uniqueid)
    return Status(Code::kMailboxMoved, "replica mailbox has another uniqueid");
  std::vector<store::IndexRecord> mine, theirs;
  Status s = (*mbox)->for_each_record(0, [&](const store::IndexRecord& r) {
    mine.push_back(r);
    return true;
  });
  if (!s) return s;
  for (const auto& item : *remote.records) theirs.push_back(item.record);
  auto actions = plan_full_update(mine, theirs, remote.highestmodseq, remote.last_uid);
  auto fetched = fetch_copybacks(conn_, remote, actions);
  if (!fetched.ok()) return fetched.status();

  auto txn = (*mbox)->begin();
  if (!txn.ok()) return txn.status();
  MergeApplier merge(entry.name, **mbox, **txn, remote, std::move(*fetched));
  for (const auto& a : actions) {
    if (s = merge.apply(a); !s) return s;
  }
  s = inst_.commit(**mbox, **txn);
  fetched_.clear();
  if (!s) return s;
  if (!merge.expunge_remote().empty()) {
    ExpungeRequest e{remote.mboxname, remote.uniqueid, merge.expunge_remote()};
    dlist::Value v = to_dlist(e);
    v.set_key("EXPUNGE");
    auto r = conn_.command("APPLY", v);
    if (!r.ok()) report(store::mboxname_owner(entry.name), entry.name, r.status());
  }
  return Status::success();
}

}  // namespace replimail::sync
