// The selected state: SELECT/EXAMINE, CLOSE, UNSELECT, EXPUNGE, STORE,
// COPY, MOVE.
#include <unistd.h>

#include <algorithm>
#include <map>

#include "imap/format.h"
#include "imap/session.h"
#include "store/mboxname.h"
#include "store/staged_message.h"

namespace replimail::imap {
namespace {
Status denied() { return Status(Code::kPermissionDenied, "permission denied"); }

using StoreOp = StoreRequest::Op;

// STORE's flags as system flag bits and keywords (each once).
void split_flags(const std::vector<std::string>& flags, uint32_t* bits,
                 std::vector<std::string>* keywords) {
  for (const auto& f : flags) {
    if (f[0] == '\\') {
      *bits |= store::system_flag_bit(f);
    } else if (!store::has_keyword(*keywords, f)) {
      keywords->push_back(f);
    }
  }
}

// RFC 4314: \Seen needs the s right, \Deleted t, any other flag or a
// keyword w.
bool may_store(const std::string& rights, uint32_t bits, bool keywords) {
  auto has = [&](char r) { return rights.find(r) != std::string::npos; };
  return !((bits & store::kFlagSeen) && !has('s')) &&
         !((bits & store::kFlagDeleted) && !has('t')) &&
         !(((bits & ~(store::kFlagSeen | store::kFlagDeleted)) || keywords) && !has('w'));
}

// The system flags `sys` becomes; only the bits of `mask` change.
uint32_t stored_flags(uint32_t sys, uint32_t bits, uint32_t mask, StoreOp op) {
  switch (op) {
    case StoreOp::kReplace:
      return (sys & ~mask) | (bits & mask);
    case StoreOp::kAdd:
      return sys | (bits & mask);
    case StoreOp::kRemove:
      return sys & ~(bits & mask);
  }
  return sys;
}

store::FlagChange keyword_change(StoreOp op) {
  return op == StoreOp::kAdd      ? store::FlagChange::kAdd
         : op == StoreOp::kRemove ? store::FlagChange::kRemove
                                  : store::FlagChange::kReplace;
}

bool listed(const std::vector<uint32_t>& v, uint32_t n) {
  return std::find(v.begin(), v.end(), n) != v.end();
}

// STORE's "* <seq> FETCH (FLAGS ...)" answer for `m`.
std::string flags_fetch(uint32_t seq, const MessageView& m, bool with_uid, bool with_modseq) {
  std::string line = "* " + std::to_string(seq) + " FETCH (";
  line += "FLAGS " + flag_list(m.system_flags, m.recent, m.keywords);
  if (with_uid) line += " UID " + std::to_string(m.uid);
  if (with_modseq) line += " MODSEQ (" + std::to_string(m.modseq) + ")";
  return line + ")";
}

// Whether \Seen is set after the STORE, for a reader whose \Seen is kept
// apart from the record (not the mailbox's owner).
bool seen_after(bool was, uint32_t bits, StoreOp op) {
  bool seen = (bits & store::kFlagSeen) != 0;
  return op == StoreOp::kRemove ? (was && !seen) : op == StoreOp::kAdd ? (was || seen) : seen;
}

// SELECT's untagged answers about the mailbox just opened (RFC 3501 §6.3.1,
// RFC 7162, RFC 8474).
std::vector<std::string> select_responses(SelectedMailbox& sel) {
  std::vector<std::string> lines;
  lines.push_back("* " + std::to_string(sel.exists()) + " EXISTS");
  lines.push_back("* " + std::to_string(sel.recent_count()) + " RECENT");
  for (uint32_t seq = 1; seq <= sel.exists(); ++seq) {
    if (!(sel.at(seq).system_flags & store::kFlagSeen)) {
      lines.push_back("* OK [UNSEEN " + std::to_string(seq) + "] Ok");
      break;
    }
  }
  lines.push_back("* OK [UIDVALIDITY " + std::to_string(sel.uidvalidity()) + "] Ok");
  lines.push_back("* OK [UIDNEXT " + std::to_string(sel.uidnext()) + "] Ok");
  lines.push_back("* OK [HIGHESTMODSEQ " + std::to_string(sel.highestmodseq()) + "] Ok");
  lines.push_back("* OK [MAILBOXID (" + sel.mailbox().entry().uniqueid + ")] Ok");
  return lines;
}

// SELECT's QRESYNC parameter (RFC 7162 §3.2.5): what the client knew.
struct QresyncKnown {
  uint32_t uidvalidity = 0;
  uint64_t modseq = 0;
  std::optional<SequenceSet> uids;
};

// What changed since `known.modseq`: the UIDs expunged (of those the client
// named) as one VANISHED (EARLIER), then each message changed since.
Result<std::vector<std::string>> qresync_responses(SelectedMailbox& sel,
                                                   const QresyncKnown& known) {
  std::vector<std::string> lines;
  std::vector<uint32_t> vanished;
  Status st = sel.mailbox().for_each_record(known.modseq, [&](const store::IndexRecord& r) {
    if (r.expunged() && (!known.uids || known.uids->contains(r.uid, UINT32_MAX - 1))) {
      vanished.push_back(r.uid);
    }
    return true;
  });
  if (!st.is_ok()) return st;
  if (!vanished.empty()) lines.push_back("* VANISHED (EARLIER) " + format_sequence(vanished));
  for (uint32_t seq = 1; seq <= sel.exists(); ++seq) {
    const MessageView& m = sel.at(seq);
    if (m.modseq <= known.modseq) continue;
    lines.push_back("* " + std::to_string(seq) + " FETCH (UID " + std::to_string(m.uid) +
                    " FLAGS " + flag_list(m.system_flags, m.recent, m.keywords) + " MODSEQ (" +
                    std::to_string(m.modseq) + "))");
  }
  return lines;
}

// COPY's and MOVE's messages staged for the append into `dest`.
struct CopyBatch {
  std::vector<std::unique_ptr<store::StagedMessage>> staged;
  std::vector<store::AppendRequest> requests;  // each pointing into `staged`
  std::vector<uint32_t> source_uids;           // in the order of `requests`
};

// Stages a copy of each message of `seqs` on `partition` (so the append is a
// hard link), with its flags (\Seen only when `keep_seen`: the destination's
// owner is the user) and internal date. A message expunged by another
// session since this one last looked is left out (RFC 2180 §4.4.1): its
// file may be gone already.
Status stage_copies(store::Instance& instance, SelectedMailbox& sel,
                    const std::vector<uint32_t>& seqs, const std::string& dest,
                    const std::string& partition, bool keep_seen, CopyBatch* out) {
  for (uint32_t seq : seqs) {
    const MessageView& m = sel.at(seq);
    auto fd = sel.mailbox().open_message(m.uid);
    if (!fd.ok()) {
      auto rec = sel.mailbox().record(m.uid);
      if ((rec.ok() && rec->expunged()) ||
          (!rec.ok() && rec.status().code() == Code::kNotFound)) {
        continue;
      }
      return fd.status();
    }
    auto msg = instance.stage_message(partition);
    Status st = msg.ok() ? store::stage_copy_from_fd(**msg, *fd) : msg.status();
    ::close(*fd);
    if (st.is_ok()) st = (*msg)->finish();
    if (!st.is_ok()) return st;
    store::AppendRequest r;
    r.mailbox = dest;
    r.message = msg->get();
    r.system_flags = m.system_flags & (keep_seen ? ~0u : ~store::kFlagSeen);
    r.user_flags = m.keywords;
    r.internaldate = m.internaldate;
    r.check_quota = false;
    out->staged.push_back(std::move(msg).value());
    out->requests.push_back(std::move(r));
    out->source_uids.push_back(m.uid);
  }
  return Status();
}
}  // namespace

std::vector<uint32_t> Session::saved_or(const SequenceSet& set, bool uid,
                                        std::vector<uint32_t> resolved) const {
  if (!set.saved) return resolved;
  std::vector<uint32_t> out;
  for (uint32_t u : saved_uids_) {
    uint32_t seq = selected_->seq_of(u);
    if (seq) out.push_back(seq);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void Session::cmd_select(const Command& cmd) {
  // An instance in read-only mode opens every mailbox as EXAMINE does:
  // SELECT would claim \Recent, and the client learns at once that its
  // changes will be refused.
  bool examine = cmd.name == "EXAMINE" || instance_.read_only();
  if (cmd.args.empty() || cmd.args.size() > 2) return tagged(cmd, "BAD", "Invalid arguments");
  if (selected_) {
    selected_.reset();
    state_ = State::kAuthenticated;
    // RFC 7162 3.2.11 (and RFC 9051): a server advertising QRESYNC marks
    // the implicit close, enabled or not, as Cyrus 3.6 does; even when the
    // new SELECT then fails, the old mailbox is closed.
    reply("* OK [CLOSED] Ok");
  }
  auto name = mailbox_arg(cmd.args[0]);
  if (!name.ok()) return tagged_error(cmd, name.status());
  std::optional<QresyncKnown> qresync;
  if (cmd.args.size() == 2) {
    const Value& p = cmd.args[1];
    if (!p.is_list() || p.items.empty()) return tagged(cmd, "BAD", "Invalid SELECT parameters");
    if (p.items[0].is_atom("CONDSTORE") && p.items.size() == 1) {
      condstore_ = true;
    } else if (p.items[0].is_atom("QRESYNC") && p.items.size() == 2 && p.items[1].is_list()) {
      if (!qresync_) return tagged(cmd, "BAD", "QRESYNC not enabled");
      const auto& q = p.items[1].items;
      if (q.size() < 2) return tagged(cmd, "BAD", "Invalid QRESYNC parameters");
      qresync.emplace();
      qresync->uidvalidity = static_cast<uint32_t>(std::strtoul(q[0].text.c_str(), nullptr, 10));
      qresync->modseq = std::strtoull(q[1].text.c_str(), nullptr, 10);
      if (q.size() >= 3 && q[2].is_atom()) {
        auto known = parse_sequence_set(q[2].text);
        if (!known.ok()) return tagged_error(cmd, known.status());
        qresync->uids = std::move(known).value();
      }
    } else {
      return tagged(cmd, "BAD", "Invalid SELECT parameters");
    }
  }
  auto e = visible(*name);
  if (!e.ok()) return tagged_error(cmd, e.status());
  if (rights_of(*e).find('r') == std::string::npos) return tagged_error(cmd, denied());
  auto sel = SelectedMailbox::open(instance_, *name, userid_, examine);
  if (!sel.ok()) return tagged_error(cmd, sel.status());
  selected_ = std::move(sel).value();
  selected_->set_rights(rights_of(*e));
  state_ = State::kSelected;
  // As Cyrus: to a user who can expunge, a quota root nearly full is said
  // first, at most every 10 minutes.
  if (rights_of(*e).find('e') != std::string::npos) {
    auto root = instance_.quota().find_root(*name);
    if (root.ok() && root->has_value() &&
        quota_alerts_.due((*root)->root, std::chrono::steady_clock::now())) {
      for (const std::string& alert : quota_alerts(**root, options_.quota_warn))
        reply("* NO [ALERT] " + alert);
    }
  }
  if (Status st = selected_->announce_flags(&out_); !st.is_ok()) {
    selected_.reset();
    state_ = State::kAuthenticated;
    return tagged_error(cmd, st);
  }
  for (const std::string& line : select_responses(*selected_)) reply(line);
  if (qresync && qresync->uidvalidity == selected_->uidvalidity()) {
    auto changes = qresync_responses(*selected_, *qresync);
    if (!changes.ok()) return tagged_error(cmd, changes.status());
    for (const std::string& line : *changes) reply(line);
  }
  tagged(cmd, "OK", examine ? "[READ-ONLY] Completed" : "[READ-WRITE] Completed");
}

Status Session::expunge_uids(const std::vector<uint32_t>& uids) {
  if (uids.empty()) return Status();
  return instance_.expunge(selected_->name(), uids);
}

void Session::cmd_close(const Command& cmd, bool expunge) {
  if (!cmd.args.empty()) return tagged(cmd, "BAD", "Unexpected arguments");
  if (expunge && !selected_->readonly()) {
    auto e = instance_.lookup(selected_->name());
    if (e.ok() && rights_of(*e).find('e') != std::string::npos) {
      std::vector<uint32_t> uids;
      Status st = selected_->mailbox().for_each_record(0, [&](const store::IndexRecord& r) {
        if (!r.expunged() && (r.system_flags & store::kFlagDeleted)) uids.push_back(r.uid);
        return true;
      });
      if (st.is_ok()) st = expunge_uids(uids);
      if (!st.is_ok()) return tagged_error(cmd, st);
    }
  }
  selected_.reset();
  state_ = State::kAuthenticated;
  tagged(cmd, "OK", "Completed");
}

void Session::cmd_expunge(const Command& cmd) {
  std::optional<SequenceSet> only;
  if (cmd.uid) {
    if (cmd.args.size() != 1 || !cmd.args[0].is_atom()) {
      return tagged(cmd, "BAD", "Invalid UID EXPUNGE arguments");
    }
    auto set = parse_sequence_set(cmd.args[0].text);
    if (!set.ok()) return tagged_error(cmd, set.status());
    only = std::move(set).value();
  } else if (!cmd.args.empty()) {
    return tagged(cmd, "BAD", "Unexpected arguments");
  }
  if (selected_->readonly()) return tagged(cmd, "NO", "[READ-ONLY] Mailbox is read-only");
  auto e = instance_.lookup(selected_->name());
  if (!e.ok()) return tagged_error(cmd, e.status());
  if (rights_of(*e).find('e') == std::string::npos) return tagged_error(cmd, denied());
  std::vector<uint32_t> uids;
  uint32_t last = selected_->uidnext() - 1;
  Status st = selected_->mailbox().for_each_record(0, [&](const store::IndexRecord& r) {
    if (r.expunged() || !(r.system_flags & store::kFlagDeleted)) return true;
    if (only && !only->contains(r.uid, last)) return true;
    if (only && only->saved &&
        std::find(saved_uids_.begin(), saved_uids_.end(), r.uid) == saved_uids_.end()) {
      return true;
    }
    uids.push_back(r.uid);
    return true;
  });
  if (st.is_ok()) st = expunge_uids(uids);
  if (!st.is_ok()) return tagged_error(cmd, st);
  // With CONDSTORE enabled the client learns the mailbox's mod-sequence
  // after an expunge from the tagged answer, as Cyrus 3.6 tells it (not
  // when nothing was expunged).
  std::string text = "Completed";
  if (condstore_ && !uids.empty()) {
    auto counters = selected_->mailbox().counters();
    if (counters.ok()) {
      text = "[HIGHESTMODSEQ " + std::to_string(counters->highestmodseq) + "] Completed";
    }
  }
  tagged(cmd, "OK", text);
}

void Session::cmd_store(const Command& cmd) {
  auto req = parse_store(cmd.args);
  if (!req.ok()) return tagged_error(cmd, req.status());
  if (selected_->readonly()) return tagged(cmd, "NO", "[READ-ONLY] Mailbox is read-only");
  auto e = instance_.lookup(selected_->name());
  if (!e.ok()) return tagged_error(cmd, e.status());
  uint32_t bits = 0;
  std::vector<std::string> keywords;
  split_flags(req->flags, &bits, &keywords);
  if (!may_store(rights_of(*e), bits, !keywords.empty())) return tagged_error(cmd, denied());
  if (req->unchangedsince) enable_condstore("UNCHANGEDSINCE");
  std::vector<uint32_t> seqs = saved_or(req->set, cmd.uid, selected_->resolve(req->set, cmd.uid));
  const bool owner_seen = selected_->owner_seen();
  std::vector<uint32_t> modified;
  std::vector<uint32_t> changed_uids;
  std::vector<uint32_t> seen_on, seen_off;
  {
    auto txn = selected_->mailbox().begin();
    if (!txn.ok()) return tagged_error(cmd, txn.status());
    for (uint32_t seq : seqs) {
      uint32_t uid = selected_->at(seq).uid;
      auto rec = (*txn)->record(uid);
      if (!rec.ok() || rec->expunged()) continue;
      if (req->unchangedsince && rec->modseq > *req->unchangedsince) {
        modified.push_back(cmd.uid ? uid : seq);
        continue;
      }
      uint32_t sys = stored_flags(rec->system_flags & ~store::kFlagExpunged, bits,
                                  owner_seen ? ~0u : ~store::kFlagSeen, req->op);
      std::vector<std::string> kw =
          store::change_keywords(rec->user_flags, keywords, keyword_change(req->op));
      if (!owner_seen) {
        bool was = selected_->at(seq).system_flags & store::kFlagSeen;
        bool want = seen_after(was, bits, req->op);
        if (want != was) (want ? seen_on : seen_off).push_back(uid);
      }
      if (sys != (rec->system_flags & ~store::kFlagExpunged) ||
          !store::same_keywords(kw, rec->user_flags)) {
        Status st = (*txn)->set_flags(uid, sys, kw);
        if (!st.is_ok()) return tagged_error(cmd, st);
        changed_uids.push_back(uid);
      }
    }
    Status st = instance_.commit(selected_->mailbox(), **txn);
    if (!st.is_ok()) return tagged_error(cmd, st);
  }
  for (uint32_t uid : changed_uids) {
    auto rec = selected_->mailbox().record(uid);
    if (rec.ok()) selected_->update(*rec);
  }
  for (auto* list : {&seen_on, &seen_off}) {
    if (list->empty()) continue;
    Status st = selected_->set_seen(instance_, *list, list == &seen_on);
    if (!st.is_ok()) return tagged_error(cmd, st);
  }
  if (req->op != StoreRequest::Op::kRemove) {
    Status st = selected_->announce_new_keywords(keywords, &out_);
    if (!st.is_ok()) return tagged_error(cmd, st);
  }
  // As Cyrus 3.6: a FETCH only for the messages whose flags changed; with
  // UNCHANGEDSINCE also after .SILENT, and then with the FLAGS as well.
  for (uint32_t seq : seqs) {
    const MessageView& m = selected_->at(seq);
    if (listed(modified, cmd.uid ? m.uid : seq)) continue;
    quiet_uids_.push_back(m.uid);
    if (req->silent && !req->unchangedsince) continue;
    if (!listed(changed_uids, m.uid) && !listed(seen_on, m.uid) && !listed(seen_off, m.uid)) {
      continue;
    }
    // With QRESYNC enabled STORE's FETCH answers carry the UID (as Cyrus 3.6).
    reply(flags_fetch(seq, m, cmd.uid || qresync_, condstore_));
    if (!write_early()) break;  // the client is gone
  }
  if (!modified.empty()) {
    std::sort(modified.begin(), modified.end());
    return tagged(cmd, "OK",
                  "[MODIFIED " + format_sequence(modified) + "] Conditional STORE failed");
  }
  tagged(cmd, "OK", "Completed");
}

void Session::cmd_copy(const Command& cmd, bool move) {
  if (cmd.args.size() != 2 || !cmd.args[0].is_atom()) {
    return tagged(cmd, "BAD", "Invalid arguments");
  }
  auto set = parse_sequence_set(cmd.args[0].text);
  if (!set.ok()) return tagged_error(cmd, set.status());
  auto dest = mailbox_arg(cmd.args[1]);
  if (!dest.ok()) return tagged_error(cmd, dest.status());
  auto de = instance_.lookup(*dest);
  if (!de.ok()) {
    if (de.status().code() == Code::kMailboxNonexistent) {
      return tagged(cmd, "NO", "[TRYCREATE] Mailbox does not exist");
    }
    return tagged_error(cmd, de.status());
  }
  if (rights_of(*de).find('i') == std::string::npos) return tagged_error(cmd, denied());
  if (move) {
    if (selected_->readonly()) return tagged(cmd, "NO", "[READ-ONLY] Mailbox is read-only");
    auto se = instance_.lookup(selected_->name());
    if (!se.ok()) return tagged_error(cmd, se.status());
    std::string r = rights_of(*se);
    if (r.find('t') == std::string::npos || r.find('e') == std::string::npos) {
      return tagged_error(cmd, denied());
    }
  }
  std::vector<uint32_t> seqs = saved_or(*set, cmd.uid, selected_->resolve(*set, cmd.uid));
  // Cyrus 3.6: message numbers that name no message are NO; UIDs are not.
  if (seqs.empty() && !cmd.uid) return tagged(cmd, "NO", "No matching messages");
  if (seqs.empty()) return tagged(cmd, "OK", "No messages");
  uint64_t bytes = 0;
  for (uint32_t seq : seqs) bytes += selected_->at(seq).size;
  if (*dest != selected_->name() || !move) {
    Status q = instance_.check_quota(*dest, bytes, seqs.size());
    if (!q.is_ok()) return tagged_error(cmd, q);
  }
  CopyBatch batch;
  bool keep_seen = store::mboxname_owner(*dest) == userid_;
  Status staged = stage_copies(instance_, *selected_, seqs, *dest, de->partition, keep_seen, &batch);
  if (!staged.is_ok()) return tagged_error(cmd, staged);
  const auto& reqs = batch.requests;
  const auto& src_uids = batch.source_uids;
  if (reqs.empty()) {
    return tagged(cmd, "NO", "[EXPUNGEISSUED] Some of the requested messages no longer exist");
  }
  auto results = instance_.append(reqs);
  std::vector<uint32_t> dst_uids;
  uint32_t validity = 0;
  for (const auto& r : results) {
    if (!r.status.is_ok()) return tagged_error(cmd, r.status);
    dst_uids.push_back(r.uid);
    validity = r.uidvalidity;
  }
  std::string code = "[COPYUID " + std::to_string(validity) + " " + format_sequence(src_uids) +
                     " " + format_sequence(dst_uids) + "]";
  if (!move) return tagged(cmd, "OK", code + " Completed");
  reply("* OK " + code + " Completed");
  Status st = expunge_uids(src_uids);
  if (!st.is_ok()) return tagged_error(cmd, st);
  tagged(cmd, "OK", "Completed");
}

}  // namespace replimail::imap
