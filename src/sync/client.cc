#include "sync/client.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "store/mboxname.h"
#include "store/staged_message.h"
#include "sync/protocol.h"
#include "sync/reconcile.h"
#include "sync/state.h"
#include "synclog/work.h"

namespace replimail::sync {
namespace {

using dlist::Value;

constexpr size_t kReserveChunk = 8192;
// An APPLY MESSAGE carries up to this many files or bytes: the replica
// makes each command durable with one syncfs (group commit).
constexpr size_t kUploadFiles = 1024;
constexpr uint64_t kUploadBytes = 64 << 20;
// A message file up to this size is read once into memory, checked and
// sent; a larger one is checked in a first read and streamed in a second
// (the buffer is what sync_client's memory grows by: issue 17).
constexpr uint64_t kUploadInMemory = 256 << 10;
constexpr int kMaxTries = 3;
// How many GUIDs each of the session's sets (reserved, uploaded, collected
// for RESERVE) remembers before it starts afresh (sync/guid_set.h): about
// 0.5 MB each, so that memory does not grow with the mailbox. Forgetting
// costs only a repeated upload or RESERVE of a message copied across
// mailboxes further apart than that.
constexpr size_t kRememberedGuids = 8192;

Value keyed(std::string key, Value v) {
  v.set_key(std::move(key));
  return v;
}

}  // namespace

SyncClient::SyncClient(store::Instance& instance, ReplicaConnection& conn, FetchSink& fetched,
                       ClientOptions options)
    : inst_(instance),
      conn_(conn),
      fetched_(fetched),
      opts_(std::move(options)),
      reserved_(kRememberedGuids),
      uploaded_(kRememberedGuids) {}

Status SyncClient::forget_uploads(Status why) {
  // The replica answers APPLY MESSAGE before its files are flushed; the
  // flush's failure comes with a later APPLY MESSAGE or APPLY MAILBOX, and
  // the replica has then dropped every upload not yet on its disk. Which
  // is not said: all are sent again when needed.
  uploaded_.clear();
  return why;
}

Status SyncClient::restart() {
  uploaded_.clear();
  reserved_.clear();
  fetched_.clear();
  return conn_.simple("RESTART");
}

Status SyncClient::fail(const std::string& user, const std::string& mailbox, Status s) {
  report(user, mailbox, s);
  return s;
}

void SyncClient::report(const std::string& user, const std::string& mailbox,
                        const Status& s) const {
  spdlog::error("SYNCERROR channel={} user={} mailbox={}: {}",
                opts_.channel.empty() ? "\"\"" : opts_.channel, user.empty() ? "-" : user,
                mailbox.empty() ? "-" : mailbox, s.to_string());
}

Result<UserState> SyncClient::get_user(const std::string& userid, bool meta_only) {
  auto reply = conn_.command("GET", keyed(meta_only ? "META" : "USER", Value::atom(userid)));
  UserState u;
  if (!reply.ok()) {
    // A replica without the user answers "no such mailbox": it is empty.
    if (reply.status().code() == Code::kMailboxNonexistent) return u;
    return reply.status();
  }
  for (const Value& item : reply->items) {
    if (item.key() == "MAILBOX") {
      auto m = mailbox_from_dlist(item);
      if (!m.ok()) return m.status();
      u.mailboxes.push_back(std::move(*m));
    } else if (item.key() == "QUOTA") {
      auto q = quota_from_dlist(item);
      if (!q.ok()) return q.status();
      u.quotas.push_back(std::move(*q));
    } else if (item.key() == "SEEN") {
      auto s = seen_from_dlist(item, false);
      if (!s.ok()) return s.status();
      u.seen.push_back(std::move(*s));
    } else if (item.key() == "LSUB") {
      auto l = atoms_from_dlist(item);
      if (!l.ok()) return l.status();
      u.lsub = std::move(*l);
    }
  }
  return u;
}

Result<std::optional<MailboxState>> SyncClient::fetch_remote(const std::string& name) {
  auto reply = conn_.command("GET", keyed("MAILBOXES", atom_list({name})));
  if (!reply.ok()) return reply.status();
  for (const Value& item : reply->items) {
    if (item.key() != "MAILBOX") continue;
    auto m = mailbox_from_dlist(item);
    if (!m.ok()) return m.status();
    if (m->mboxname == name) return std::optional<MailboxState>(std::move(*m));
  }
  return std::optional<MailboxState>();
}

Status SyncClient::sync_user(const std::string& userid) {
  Status s = store::validate_userid(userid);
  if (!s) return fail(userid, "", s);
  adopted_.clear();
  // Adopting folders and the renames that may follow each take a round.
  for (int attempt = 0;; attempt++) {
    auto remote = get_user(userid, false);
    if (!remote.ok()) return fail(userid, "", remote.status());
    // User deletion is driven by UNUSER only: no INBOX here, nothing to do.
    auto inbox = inst_.lookup(store::user_inbox(userid));
    if (!inbox.ok()) {
      if (inbox.status().code() == Code::kMailboxNonexistent) return Status::success();
      return fail(userid, "", inbox.status());
    }
    auto entries = user_entries(inst_, userid);
    if (!entries.ok()) return fail(userid, "", entries.status());
    std::vector<store::MailboxEntry> local;
    for (const auto& e : *entries)
      if (e.is_real()) local.push_back(e);
    s = do_folders(local, remote->mailboxes, true);
    if (s.code() == Code::kAgain) {
      if (attempt + 1 >= kMaxTries)
        return fail(userid, "", Status(Code::kSyncChanged, "folders kept changing"));
      continue;
    }
    if (!s) return s;
    if (!adopted_.empty()) {
      s = adopt_seen_and_subs(userid, *remote);
      if (!s) return fail(userid, "", s);
    }
    auto mine = user_state(inst_, userid, true);
    if (!mine.ok()) return fail(userid, "", mine.status());
    s = sync_quotas(mine->quotas, remote->quotas);
    if (!s) return s;
    s = sync_seen_and_subs(userid, *remote);
    if (!s) return s;
    return sync_readers_seen(userid, local);
  }
}

Status SyncClient::sync_meta(const std::string& userid) {
  auto remote = get_user(userid, true);
  if (!remote.ok()) return fail(userid, "", remote.status());
  return sync_seen_and_subs(userid, *remote);
}

Status SyncClient::sync_seen_and_subs(const std::string& userid, const UserState& remote) {
  auto mine = user_state(inst_, userid, false);
  if (!mine.ok()) return fail(userid, "", mine.status());
  std::set<std::string> theirs(remote.lsub.begin(), remote.lsub.end());
  std::set<std::string> ours(mine->lsub.begin(), mine->lsub.end());
  for (const auto& name : ours) {
    if (theirs.contains(name)) continue;
    auto r = conn_.command("APPLY", keyed("SUB", to_dlist(SubRequest{userid, name})));
    if (!r.ok()) return fail(userid, name, r.status());
  }
  for (const auto& name : theirs) {
    if (ours.contains(name)) continue;
    auto r = conn_.command("APPLY", keyed("UNSUB", to_dlist(SubRequest{userid, name})));
    if (!r.ok()) return fail(userid, name, r.status());
  }
  return push_seen(userid, mine->seen, remote.seen);
}

Status SyncClient::push_seen(const std::string& userid, const std::vector<SeenItem>& mine,
                             const std::vector<SeenItem>& theirs) {
  for (const auto& seen : mine) {
    bool same = false;
    for (const auto& r : theirs) same = same || r.seen == seen.seen;
    if (same) continue;
    SeenItem item{userid, seen.seen};
    auto r = conn_.command("APPLY", keyed("SEEN", to_dlist(item, true)));
    // Cyrus ignores a failed seen upload; here it fails the unit, so the
    // rolling client re-queues the line instead of losing the state.
    if (!r.ok()) return fail(userid, seen.seen.uniqueid, r.status());
  }
  return Status::success();
}

Status SyncClient::sync_readers_seen(const std::string& owner,
                                     const std::vector<store::MailboxEntry>& local) {
  std::map<std::string, std::vector<SeenItem>> by_reader;
  for (const auto& e : local) {
    auto all = inst_.userdata().seen_by_all(e.uniqueid);
    if (!all.ok()) return fail(owner, e.name, all.status());
    for (auto& [reader, rec] : *all)
      if (reader != owner) by_reader[reader].push_back(SeenItem{"", std::move(rec)});
  }
  for (const auto& [reader, mine] : by_reader) {
    auto remote = get_user(reader, true);
    if (!remote.ok()) return fail(reader, "", remote.status());
    Status s = push_seen(reader, mine, remote->seen);
    if (!s) return s;
  }
  return Status::success();
}

Status SyncClient::sync_quotas(const std::vector<QuotaItem>& local,
                               const std::vector<QuotaItem>& remote) {
  for (const auto& q : local) {
    bool same = false;
    for (const auto& r : remote)
      same =
          same || (r.root == q.root && r.storage_kib == q.storage_kib && r.messages == q.messages);
    if (same) continue;
    auto r = conn_.command("APPLY", keyed("QUOTA", to_dlist(q)));
    if (!r.ok()) return fail("", q.root, r.status());
  }
  for (const auto& r : remote) {
    bool kept = false;
    for (const auto& q : local) kept = kept || q.root == r.root;
    if (kept) continue;
    auto reply = conn_.command("APPLY", keyed("UNQUOTA", Value::atom(r.root)));
    if (!reply.ok()) return fail("", r.root, reply.status());
  }
  return Status::success();
}

Status SyncClient::sync_quota_root(const std::string& root) {
  std::vector<QuotaItem> local, remote;
  auto q = quota_item(inst_, root);
  if (q.ok()) local.push_back(*q);
  auto reply = conn_.command("GET", keyed("QUOTA", Value::atom(root)));
  if (!reply.ok()) return fail("", root, reply.status());
  for (const Value& item : reply->items) {
    auto r = quota_from_dlist(item);
    if (r.ok()) remote.push_back(*r);
  }
  return sync_quotas(local, remote);
}

Status SyncClient::sync_server_annotations() {
  auto mine = inst_.annotations().list("");
  if (!mine.ok()) return fail("", "", mine.status());
  auto reply = conn_.command("GET", keyed("ANNOTATION", Value::atom("")));
  if (!reply.ok()) return fail("", "", reply.status());
  std::vector<ServerAnnotation> theirs;
  for (const Value& item : reply->items) {
    auto a = annotation_from_dlist(item, true);
    if (!a.ok()) return fail("", "", a.status());
    theirs.push_back(std::move(*a));
  }
  for (const auto& a : *mine) {
    ServerAnnotation ours{"", a.entry, a.userid, a.value};
    if (std::find(theirs.begin(), theirs.end(), ours) != theirs.end()) continue;
    auto r = conn_.command("APPLY", keyed("ANNOTATION", to_dlist(ours, true)));
    if (!r.ok()) return fail("", "", r.status());
  }
  for (const auto& t : theirs) {
    bool kept = std::any_of(mine->begin(), mine->end(), [&](const store::Annotation& a) {
      return a.entry == t.entry && a.userid == t.userid;
    });
    if (kept) continue;
    auto r = conn_.command("APPLY", keyed("UNANNOTATION", to_dlist(t, false)));
    if (!r.ok()) return fail("", "", r.status());
  }
  return Status::success();
}

Status SyncClient::sync_mailboxes(const std::vector<std::string>& names) {
  for (int attempt = 0;; attempt++) {
    std::vector<store::MailboxEntry> local;
    std::vector<std::string> ask;
    std::set<std::string> seen_names;
    auto want = [&](const std::string& n) {
      if (seen_names.insert(n).second) ask.push_back(n);
    };
    for (const auto& n : names) {
      want(n);
      auto e = inst_.mailboxes().lookup(n);
      if (!e.ok() || e->is_tombstone() || e->is_intermediate()) continue;
      local.push_back(*e);
      // Former names of the same uniqueid, so that a rename is recognised.
      auto hist = inst_.mailboxes().history(e->uniqueid);
      if (hist.ok())
        for (const auto& h : *hist) want(h.name);
    }
    const std::string first = names.empty() ? "" : names[0];
    auto reply = conn_.command("GET", keyed("MAILBOXES", atom_list(ask)));
    if (!reply.ok()) return fail(store::mboxname_owner(first), first, reply.status());
    std::vector<MailboxState> remote;
    for (const Value& item : reply->items) {
      auto m = mailbox_from_dlist(item);
      if (!m.ok()) return fail(store::mboxname_owner(first), first, m.status());
      remote.push_back(std::move(*m));
    }
    Status s = do_folders(local, remote, false);
    if (s.code() != Code::kAgain) return s;
    if (attempt + 1 >= kMaxTries)
      return fail(store::mboxname_owner(first), first,
                  Status(Code::kSyncChanged, "folders kept changing"));
  }
}

Status SyncClient::reserve(const std::vector<MailboxState>& local,
                           const std::map<std::string, std::optional<MailboxState>>& remote) {
  auto partition_of = [&](const MailboxState& m) {
    return opts_.partition.empty() ? m.partition : opts_.partition;
  };
  // partition -> the replica's folders there (where it may hold copies).
  std::map<std::string, std::vector<std::string>> folders;
  for (const auto& m : local) {
    auto& f = folders[partition_of(m)];
    auto it = remote.find(m.mboxname);
    if (it != remote.end() && it->second.has_value()) f.push_back(it->second->mboxname);
  }
  // GUIDs of the next APPLY RESERVE, per partition; sent every kReserveChunk.
  std::map<std::string, std::vector<std::string>> pending;
  auto send = [&](const std::string& partition) -> Status {
    std::vector<std::string>& guids = pending[partition];
    if (guids.empty()) return Status::success();
    ReserveRequest req{partition, folders[partition], std::move(guids)};
    guids.clear();
    auto reply = conn_.command("APPLY", keyed("RESERVE", to_dlist(req)));
    if (!reply.ok()) return reply.status();
    GuidSet missing;
    for (const Value& item : reply->items) {
      if (item.key() != "MISSING") continue;
      auto list = atoms_from_dlist(item);
      if (!list.ok()) return list.status();
      for (const auto& g : *list) missing.insert(g);
    }
    for (const auto& g : req.guids)
      if (!missing.contains(g)) reserved_.insert(g);
    return Status::success();
  };
  GuidSet collected(kRememberedGuids);
  for (const auto& m : local) {
    const std::string partition = partition_of(m);
    // Without any of these folders the replica has none of the messages.
    if (folders[partition].empty()) continue;
    auto it = remote.find(m.mboxname);
    const bool known = it != remote.end() && it->second.has_value();
    uint32_t from_uid = known ? it->second->last_uid : 0;
    // Only what update_once() would upload: records above the replica's
    // highest modseq (all of them with -A's push_all), not the whole
    // mailbox for every message rolled.
    uint64_t from = known && !opts_.push_all ? it->second->highestmodseq : 0;
    auto mbox = inst_.open_mailbox(m.mboxname);
    if (!mbox.ok()) continue;  // vanished meanwhile: its delete is replicated separately
    Status sent;
    Status s = (*mbox)->for_each_record(from, [&](const store::IndexRecord& rec) {
      if (rec.uid <= from_uid || rec.expunged() || uploaded_.contains(rec.guid) ||
          !collected.insert(rec.guid))
        return true;
      pending[partition].push_back(rec.guid);
      if (pending[partition].size() >= kReserveChunk) sent = send(partition);
      return static_cast<bool>(sent);
    });
    if (s) s = sent;
    if (!s) return fail("", m.mboxname, s);
  }
  for (const auto& [partition, f] : folders) {
    Status s = send(partition);
    if (!s) return fail("", f.empty() ? "" : f.front(), s);
  }
  return Status::success();
}

Status SyncClient::do_folders(const std::vector<store::MailboxEntry>& local,
                              const std::vector<MailboxState>& remote, bool delete_remote) {
  std::vector<MailboxState> mine;
  for (const auto& e : local) {
    auto m = mailbox_state(inst_, e, false);
    if (!m.ok()) {
      if (m.status().code() == Code::kMailboxNonexistent) continue;
      return fail(store::mboxname_owner(e.name), e.name, m.status());
    }
    mine.push_back(std::move(*m));
  }
  auto plan = plan_folders(mine, remote, delete_remote,
                           [&](const MailboxState& r) { return deleted_here(r.uniqueid); });
  if (!plan.ok()) return fail("", "", plan.status());
  bool adopted = false;
  for (const auto& name : plan->orphans) {
    if (!delete_remote) continue;
    auto theirs = std::find_if(remote.begin(), remote.end(),
                               [&](const MailboxState& r) { return r.mboxname == name; });
    auto made = adopt_folder(*theirs);
    if (!made.ok()) return fail(store::mboxname_owner(name), name, made.status());
    adopted = adopted || *made;
    if (!*made)
      spdlog::warn("channel={} mailbox={}: on the replica only and no tombstone here; left alone",
                   opts_.channel.empty() ? "\"\"" : opts_.channel, name);
  }
  if (adopted) return Status(Code::kAgain, "adopted replica-only folders");
  Status s = reserve(mine, plan->updates);
  if (!s) return s;
  for (const auto& name : plan->unmailbox) {
    auto r = conn_.command("APPLY", keyed(verb("UNMAILBOX"), Value::atom(name)));
    if (!r.ok() && r.status().code() != Code::kMailboxNonexistent)
      return fail(store::mboxname_owner(name), name, r.status());
  }
  if (!plan->renames.empty()) {
    for (RenameRequest r : plan->renames) {
      if (!opts_.partition.empty()) r.partition = opts_.partition;
      auto reply = conn_.command("APPLY", keyed(verb("RENAME"), to_dlist(r)));
      if (!reply.ok()) return fail(store::mboxname_owner(r.oldname), r.oldname, reply.status());
    }
    return Status(Code::kAgain, "renamed folders");
  }
  Status result;
  for (const auto& e : local) {
    auto it = plan->updates.find(e.name);
    if (it == plan->updates.end()) continue;
    s = update_mailbox(e, it->second);
    if (!s && result) result = s;
  }
  return result;
}

Result<bool> SyncClient::adopt_folder(const MailboxState& theirs) {
  std::string deleted = inst_.config().get("deletedprefix");
  if (deleted.empty()) deleted = "DELETED";
  if (opts_.no_copyback || theirs.intermediate() || theirs.uniqueid.empty() ||
      theirs.mboxname.starts_with(deleted + "."))
    return false;
  // Known here under another name, or deleted here: not ours to adopt.
  if (inst_.mailboxes().lookup_uniqueid(theirs.uniqueid).ok()) return false;
  std::string name = theirs.mboxname;
  auto taken = [&](const std::string& n) {
    auto e = inst_.mailboxes().lookup(n);
    return e.ok() && !e->is_tombstone();
  };
  if (taken(name)) name += "-" + theirs.uniqueid.substr(0, 8);
  if (taken(name) || !store::validate_mboxname(name)) return false;
  store::CreateOptions o;
  o.partition = inst_.partition_path(theirs.partition).ok() ? theirs.partition : "";
  o.acl = theirs.acl;
  o.uniqueid = theirs.uniqueid;
  o.uidvalidity = theirs.uidvalidity;
  o.createdmodseq = theirs.createdmodseq;
  auto e = inst_.create_mailbox(name, o);
  if (!e.ok()) return e.status();
  adopted_[theirs.uniqueid] = {theirs.mboxname, name};
  spdlog::warn(
      "channel={} mailbox={}: on the replica only (uniqueid {}, no tombstone here): created "
      "here as {}, its messages are copied back",
      opts_.channel.empty() ? "\"\"" : opts_.channel, theirs.mboxname, theirs.uniqueid, name);
  return true;
}

Status SyncClient::adopt_seen_and_subs(const std::string& userid, const UserState& remote) {
  auto subs = inst_.userdata().subscriptions(userid);
  if (!subs.ok()) return subs.status();
  for (const auto& [uniqueid, names] : adopted_) {
    const auto& [theirs, ours] = names;
    bool subscribed =
        std::find(remote.lsub.begin(), remote.lsub.end(), theirs) != remote.lsub.end();
    if (subscribed && std::find(subs->begin(), subs->end(), ours) == subs->end()) {
      Status s = inst_.set_subscribed(userid, ours, true);
      if (!s) return s;
    }
    for (const auto& seen : remote.seen) {
      if (seen.seen.uniqueid != uniqueid) continue;
      Status s = inst_.set_seen(userid, seen.seen);
      if (!s) return s;
    }
  }
  adopted_.clear();
  return Status::success();
}

Status SyncClient::update_mailbox(const store::MailboxEntry& entry,
                                  const std::optional<MailboxState>& remote) {
  const std::string user = store::mboxname_owner(entry.name);
  Status s = update_once(entry, remote, true);
  if (s.code() == Code::kSyncChecksum || s.code() == Code::kSyncChanged) {
    spdlog::info("{}: {}; recalculating and trying again", entry.name, s.to_string());
    auto fresh = fetch_remote(entry.name);
    if (!fresh.ok()) return fail(user, entry.name, fresh.status());
    s = update_once(entry, *fresh, false);
  }
  if (opts_.no_copyback) return s ? s : fail(user, entry.name, s);
  if (s.code() == Code::kAgain || s.code() == Code::kSyncChecksum) {
    Status f = full_update(entry);
    if (!f) return fail(user, entry.name, f);
    auto fresh = fetch_remote(entry.name);
    if (!fresh.ok()) return fail(user, entry.name, fresh.status());
    s = update_once(entry, *fresh, false);
  }
  return s ? s : fail(user, entry.name, s);
}

Status SyncClient::update_once(const store::MailboxEntry& entry,
                               const std::optional<MailboxState>& remote, bool since) {
  auto mbox = inst_.open_mailbox(entry.name);
  if (!mbox.ok()) {
    // Deleted meanwhile: the delete is replicated on its own.
    return mbox.status().code() == Code::kMailboxNonexistent ? Status::success() : mbox.status();
  }
  store::Mailbox& mb = **mbox;
  // Counters, uploads and RECORD list from one snapshot of the index, so
  // that every record sent has its message uploaded or reserved.
  Status s = mb.begin_read();
  if (!s) return s;
  auto state = mailbox_state(inst_, mb);
  if (!state.ok()) return state.status();
  MailboxState m = std::move(*state);
  if (remote && m.uniqueid != remote->uniqueid) return Status(Code::kMailboxMoved, entry.name);
  if (remote && !opts_.push_all && mailbox_unchanged(m, *remote)) return Status::success();
  if (!opts_.partition.empty()) m.partition = opts_.partition;
  uint64_t from = remote && !opts_.push_all ? remote->highestmodseq : 0;
  uint32_t from_uid = remote ? remote->last_uid : 0;
  if (remote && (since || opts_.push_all) && remote->highestmodseq != 0) {
    m.since_modseq = remote->highestmodseq;
    m.since_crc = remote->sync_crc;
    m.since_crc_annot = remote->sync_crc_annot.value_or(0);
  }

  s = upload_missing(mb, m.partition, from, from_uid);
  if (!s) return s;

  // APPLY MAILBOX, its RECORD list read from the index as it is sent. A
  // record new to a replimail replica carries our message cache of its file
  // when we have one, so that the replica need not parse the file again.
  const auto& caps = conn_.capabilities();
  const bool send_cache = std::find(caps.begin(), caps.end(), kCacheCapability) != caps.end();
  Value head = to_dlist(m);
  head.set_key(verb("MAILBOX"));
  auto reply =
      conn_.command_streamed("APPLY", head, "RECORD", [&](const ReplicaConnection::Emit& emit) {
        Status result;
        Status st = mb.for_each_record(from, [&](const store::IndexRecord& r) {
          auto item = record_item(mb, r);
          if (item.ok() && send_cache && r.uid > from_uid && !r.expunged()) {
            auto cache = mb.stored_cache(r.uid, r.guid);
            if (!cache.ok()) {
              result = cache.status();
              return false;
            }
            item->cache = std::move(*cache);
          }
          result = item.ok() ? emit(to_dlist(*item)) : item.status();
          return static_cast<bool>(result);
        });
        return st ? result : st;
      });
  mb.end_read();
  if (!reply.ok()) return forget_uploads(reply.status());
  stats_.mailboxes_applied++;
  return Status::success();
}

Status SyncClient::upload_missing(store::Mailbox& mb, const std::string& partition,
                                  uint64_t from, uint32_t from_uid) {
  // The reply to a batch is read after the next one is sent (upload()), so
  // uploaded_ does not have its GUIDs yet while the next is made: those are
  // skipped through the batch's own set, kept until then.
  std::vector<dlist::FileRef> batch;
  GuidSet in_batch, in_batch_before;
  uint64_t batch_bytes = 0;
  Status sent;
  Status s = mb.for_each_record(from, [&](const store::IndexRecord& r) {
    if (r.uid <= from_uid || r.expunged() || reserved_.contains(r.guid) ||
        uploaded_.contains(r.guid) || in_batch_before.contains(r.guid) ||
        !in_batch.insert(r.guid))
      return true;
    batch.push_back(dlist::FileRef{partition, r.guid, r.size, mb.message_path(r.uid)});
    batch_bytes += r.size;
    if (batch.size() < kUploadFiles && batch_bytes < kUploadBytes) return true;
    sent = upload(std::move(batch));
    batch.clear();
    std::swap(in_batch_before, in_batch);
    in_batch.clear();
    batch_bytes = 0;
    return static_cast<bool>(sent);
  });
  if (s) s = sent;
  if (s) s = upload(std::move(batch));
  Status last = finish_uploads();  // on every path: no reply may stay unread
  return s ? last : s;
}

Status SyncClient::upload(std::vector<dlist::FileRef> files) {
  if (files.empty()) return Status::success();
  std::vector<dlist::FileRef> sent;  // the files sent (not NIL)
  Status w = conn_.send_list_streamed("APPLY", "MESSAGE", [&](dlist::StreamedItem& item) {
    for (dlist::FileRef& f : files) {
      // Each file is checked against its record before it is sent, as
      // Cyrus does: a damaged file must not reach the replica. One read
      // serves the check and the sending, and the replica writes the
      // previous files meanwhile.
      Status s = store::read_checked(f.path, f.guid, f.size, kUploadInMemory, &upload_buf_);
      bool whole = s.code() != Code::kMessageTooLarge;
      if (!whole) {
        auto d = store::digest_file(f.path);
        s = !d.ok() ? d.status()
            : d->guid != f.guid || d->size != f.size
                ? Status(Code::kSyncChecksum, f.path + " differs from its record")
                : Status::success();
      }
      if (!s) {
        spdlog::error("message file {} does not match GUID {}; not sent: {}", f.path, f.guid,
                      s.message());
        if (Status e = item.add(dlist::Value::nil()); !e) return e;
        continue;
      }
      Status e = whole ? item.add_file(f, upload_buf_) : item.add(dlist::Value::file(f));
      if (!e) return e;
      sent.push_back(std::move(f));
    }
    return Status::success();
  });
  if (upload_buf_.capacity() > kUploadInMemory / 4)
    std::string().swap(upload_buf_);  // after a large file
  if (!w) {
    // The connection is cut off: no reply can be read on it any more.
    pending_upload_.reset();
    return forget_uploads(w);
  }
  // The reply to the batch before, read only now: the replica received its
  // tail while this one was read, checked and sent.
  Status before = finish_uploads();
  pending_upload_ = std::move(sent);
  return before;
}

Status SyncClient::finish_uploads() {
  if (!pending_upload_) return Status::success();
  std::vector<dlist::FileRef> sent = std::move(*pending_upload_);
  pending_upload_.reset();
  auto reply = conn_.read_reply();
  if (!reply.ok()) return forget_uploads(reply.status());
  for (const dlist::FileRef& f : sent) {
    uploaded_.insert(f.guid);
    stats_.messages_uploaded++;
    stats_.bytes_uploaded += f.size;
  }
  return Status::success();
}

Status SyncClient::sync_sub(const std::string& userid, const std::string& mboxname) {
  auto subs = inst_.userdata().subscriptions(userid);
  if (!subs.ok()) return fail(userid, mboxname, subs.status());
  bool on = std::find(subs->begin(), subs->end(), mboxname) != subs->end();
  auto r =
      conn_.command("APPLY", keyed(on ? "SUB" : "UNSUB", to_dlist(SubRequest{userid, mboxname})));
  if (!r.ok()) return fail(userid, mboxname, r.status());
  return Status::success();
}

bool SyncClient::deleted_here(const std::string& uniqueid) {
  auto e = inst_.mailboxes().lookup_uniqueid(uniqueid);
  return e.ok() && e->is_tombstone();
}

Status SyncClient::sync_unmailbox(const std::string& name) {
  auto e = inst_.mailboxes().lookup(name);
  if (e.ok() && !e->is_tombstone()) return Status::success();  // exists again
  if (!e.ok()) {
    spdlog::info("attempt to UNMAILBOX {} without a tombstone", name);
    return Status::success();
  }
  // A delete replayed late must not remove another mailbox that took the
  // name since: only the uniqueid this master deleted goes.
  auto remote = fetch_remote(name);
  if (!remote.ok()) return fail(store::mboxname_owner(name), name, remote.status());
  if (!remote->has_value()) return Status::success();
  if (!deleted_here((*remote)->uniqueid)) {
    spdlog::warn(
        "channel={} mailbox={}: replica's uniqueid {} is not the one deleted here ({}); "
        "left alone",
        opts_.channel.empty() ? "\"\"" : opts_.channel, name, (*remote)->uniqueid, e->uniqueid);
    return Status::success();
  }
  auto r = conn_.command("APPLY", keyed(verb("UNMAILBOX"), Value::atom(name)));
  if (!r.ok() && r.status().code() != Code::kMailboxNonexistent)
    return fail(store::mboxname_owner(name), name, r.status());
  return Status::success();
}

Status SyncClient::sync_unuser(const std::string& userid) {
  auto inbox = inst_.lookup(store::user_inbox(userid));
  if (inbox.ok()) return Status::success();  // the user exists here: not deleted
  auto r = conn_.command("APPLY", keyed("UNUSER", Value::atom(userid)));
  if (!r.ok()) return fail(userid, "", r.status());
  return Status::success();
}

Status SyncClient::sync_lines(const std::vector<synclog::Line>& lines) {
  synclog::SyncWork work = synclog::build_work(lines, inst_.config().get("deletedprefix"));
  Status result;
  auto keep = [&](const Status& s) {
    if (!s && result) result = s;
  };
  for (const auto& [user, names] : work.mailbox_groups) {
    keep(sync_mailboxes(names));
    Status s = restart();
    if (!s) return fail(user, "", s);
  }
  for (const auto& root : work.quota) keep(sync_quota_root(root));
  for (const auto& [user, uniqueid] : work.seen) keep(sync_meta(user));
  for (const auto& [user, name] : work.sub) keep(sync_sub(user, name));
  for (const auto& name : work.unmailbox) keep(sync_unmailbox(name));
  for (const auto& user : work.meta) keep(sync_meta(user));
  for (const auto& user : work.user) {
    keep(sync_user(user));
    Status s = restart();
    if (!s) return fail(user, "", s);
  }
  for (const auto& user : work.unuser) keep(sync_unuser(user));
  for (const auto& name : work.annotation) {
    // Mailbox annotations travel with their mailbox (MAILBOX lines); an
    // ANNOTATION line names the server's, "".
    if (name.empty()) keep(sync_server_annotations());
  }
  return result;
}

}  // namespace replimail::sync
