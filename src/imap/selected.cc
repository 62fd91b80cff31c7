#include "imap/selected.h"

#include <algorithm>
#include <ctime>

#include <spdlog/spdlog.h>

#include "imap/format.h"
#include "imap/parser.h"
#include "store/mboxname.h"

namespace replimail::imap {
namespace {

std::set<uint32_t> parse_seen(const std::string& seenuids) {
  std::set<uint32_t> out;
  if (seenuids.empty()) return out;
  auto set = parse_sequence_set(seenuids);
  if (!set.ok()) return out;
  for (const auto& r : set->ranges) {
    uint64_t lo = std::min(r.lo, r.hi), hi = std::max(r.lo, r.hi);
    if (hi == kStar || hi - lo > 10'000'000) continue;
    for (uint64_t u = lo; u <= hi; ++u) out.insert(static_cast<uint32_t>(u));
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<SelectedMailbox>> SelectedMailbox::open(store::Instance& instance,
                                                               const std::string& name,
                                                               const std::string& userid,
                                                               bool readonly) {
  auto mbox = instance.open_mailbox(name);
  if (!mbox.ok()) return mbox.status();
  std::unique_ptr<SelectedMailbox> sel(new SelectedMailbox());
  sel->name_ = name;
  sel->userid_ = userid;
  sel->mbox_ = std::move(mbox).value();
  sel->readonly_ = readonly;
  sel->owner_seen_ = store::mboxname_owner(name) == userid;
  if (!sel->owner_seen_) {
    auto seen = instance.userdata().seen(userid, sel->mbox_->entry().uniqueid);
    if (seen.ok()) sel->seen_uids_ = parse_seen(seen->seenuids);
  }
  sel->instance_ = &instance;
  auto counters = sel->mbox_->counters();
  if (!counters.ok()) return counters.status();
  // Only messages up to LAST_UID as read here make the initial view; later
  // ones have a higher MODSEQ and come with the first refresh().
  sel->uidvalidity_ = counters->uidvalidity;
  sel->uidnext_ = counters->last_uid + 1;
  sel->highestmodseq_ = counters->highestmodseq;
  Status st = sel->mbox_->for_each_record(0, [&](const store::IndexRecord& r) {
    if (!r.expunged() && r.uid < sel->uidnext_) sel->msgs_.push_back(sel->view_of(r));
    return true;
  });
  if (!st.is_ok()) return st;
  st = sel->mark_new_recent(0);
  if (!st.is_ok()) return st;
  return sel;
}

MessageView SelectedMailbox::view_of(const store::IndexRecord& r) const {
  MessageView v;
  v.uid = r.uid;
  v.modseq = r.modseq;
  v.system_flags = r.system_flags & ~store::kFlagExpunged;
  if (!owner_seen_) {
    v.system_flags &= ~store::kFlagSeen;
    if (seen_uids_.count(r.uid)) v.system_flags |= store::kFlagSeen;
  }
  v.keywords = r.user_flags;
  v.size = r.size;
  v.internaldate = r.internaldate;
  v.guid = r.guid;
  v.savedate = r.savedate != 0 ? r.savedate : r.internaldate;
  return v;
}

Result<uint32_t> SelectedMailbox::claim_recent(uint32_t upto) {
  auto txn = mbox_->begin();
  if (!txn.ok()) return txn.status();
  store::MailboxCounters c = (*txn)->counters();
  uint32_t before = c.recentuid;
  if (before >= upto) return before;
  c.recentuid = upto;
  c.recenttime = std::time(nullptr);
  (*txn)->set_counters(c);
  Status st = instance_->commit(*mbox_, **txn);
  if (!st.is_ok()) return st;
  return before;
}

Status SelectedMailbox::mark_new_recent(size_t first) {
  if (first >= msgs_.size()) return Status();
  uint32_t recentuid = 0;
  if (readonly_) {
    auto c = mbox_->counters();
    if (!c.ok()) return c.status();
    recentuid = c->recentuid;
  } else {
    auto claimed = claim_recent(msgs_.back().uid);
    if (claimed.ok()) {
      recentuid = *claimed;
    } else {
      // Claiming \Recent is a write; reading must not depend on it (a full
      // spool refuses writes, yet the user must be able to open the mailbox
      // and expunge). These messages stay \Recent for the next session.
      spdlog::warn("imap: {}: cannot claim \\Recent: {}", name_, claimed.status().to_string());
      auto c = mbox_->counters();
      if (!c.ok()) return c.status();
      recentuid = c->recentuid;
    }
  }
  for (size_t i = first; i < msgs_.size(); ++i) msgs_[i].recent = msgs_[i].uid > recentuid;
  return Status();
}

uint32_t SelectedMailbox::recent_count() const {
  return static_cast<uint32_t>(
      std::count_if(msgs_.begin(), msgs_.end(), [](const MessageView& m) { return m.recent; }));
}

uint32_t SelectedMailbox::seq_of(uint32_t uid) const {
  auto it = std::lower_bound(msgs_.begin(), msgs_.end(), uid,
                             [](const MessageView& m, uint32_t u) { return m.uid < u; });
  if (it == msgs_.end() || it->uid != uid) return 0;
  return static_cast<uint32_t>(it - msgs_.begin()) + 1;
}

void SelectedMailbox::update(const store::IndexRecord& rec) {
  uint32_t seq = seq_of(rec.uid);
  if (seq == 0) return;
  bool recent = msgs_[seq - 1].recent;
  msgs_[seq - 1] = view_of(rec);
  msgs_[seq - 1].recent = recent;
}

Status SelectedMailbox::refresh(const RefreshOptions& opts, std::string* out) {
  auto counters = mbox_->counters();
  if (!counters.ok()) return counters.status();
  std::vector<store::IndexRecord> changed;
  if (counters->highestmodseq != highestmodseq_) {
    Status st = mbox_->for_each_record(highestmodseq_, [&](const store::IndexRecord& r) {
      changed.push_back(r);
      return true;
    });
    if (!st.is_ok()) return st;
    highestmodseq_ = counters->highestmodseq;
  }
  for (const auto& r : changed) {
    if (r.expunged()) continue;
    Status st = announce_new_keywords(r.user_flags, out);
    if (!st.is_ok()) return st;
  }
  std::vector<uint32_t> appended;
  for (const auto& r : changed) {
    uint32_t seq = seq_of(r.uid);
    if (r.expunged()) {
      if (seq) pending_expunge_.insert(r.uid);
      continue;
    }
    if (seq == 0) {
      if (r.uid >= uidnext_ || msgs_.empty() || r.uid > msgs_.back().uid) {
        msgs_.push_back(view_of(r));
        appended.push_back(r.uid);
      }
      continue;
    }
    MessageView& m = msgs_[seq - 1];
    MessageView now = view_of(r);
    bool flags_changed = now.system_flags != m.system_flags || now.keywords != m.keywords;
    bool recent = m.recent;
    m = now;
    m.recent = recent;
    if ((flags_changed || opts.condstore) &&
        !std::binary_search(opts.quiet.begin(), opts.quiet.end(), r.uid)) {
      *out += "* " + std::to_string(seq) + " FETCH (";
      if (opts.with_uid) *out += "UID " + std::to_string(m.uid) + " ";
      *out += "FLAGS ";
      append_flag_list(out, m.system_flags, m.recent, m.keywords);
      if (opts.condstore) *out += " MODSEQ (" + std::to_string(m.modseq) + ")";
      *out += ")\r\n";
    }
  }
  if (opts.allow_expunge && !pending_expunge_.empty()) {
    std::vector<uint32_t> gone(pending_expunge_.begin(), pending_expunge_.end());
    pending_expunge_.clear();
    if (opts.qresync) {
      for (uint32_t uid : gone) {
        uint32_t seq = seq_of(uid);
        if (seq) msgs_.erase(msgs_.begin() + (seq - 1));
      }
      *out += "* VANISHED " + format_sequence(gone) + "\r\n";
    } else {
      // Highest first, so each number is valid when the client applies it.
      for (auto it = gone.rbegin(); it != gone.rend(); ++it) {
        uint32_t seq = seq_of(*it);
        if (!seq) continue;
        msgs_.erase(msgs_.begin() + (seq - 1));
        *out += "* " + std::to_string(seq) + " EXPUNGE\r\n";
      }
    }
  }
  uidnext_ = std::max(uidnext_, counters->last_uid + 1);
  if (!appended.empty()) {
    // The new messages are the last ones, expunges notwithstanding.
    Status st = mark_new_recent(msgs_.size() - appended.size());
    if (!st.is_ok()) return st;
    *out += "* " + std::to_string(exists()) + " EXISTS\r\n";
    *out += "* " + std::to_string(recent_count()) + " RECENT\r\n";
  }
  return Status();
}

Status SelectedMailbox::announce_flags(std::string* out) {
  auto slots = mbox_->user_flag_slots();
  if (!slots.ok()) return slots.status();
  std::string kw;
  announced_keywords_.clear();
  for (const auto& k : *slots) {
    if (k.empty()) continue;
    kw += " " + k;
    announced_keywords_.push_back(k);
  }
  *out += "* FLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen" + kw + ")\r\n";
  std::string permanent;
  if (!readonly_) {
    auto may = [&](char right) { return rights_.find(right) != std::string::npos; };
    if (may('w')) permanent += " \\Answered \\Flagged \\Draft";
    if (may('t')) permanent += " \\Deleted";
    if (may('s')) permanent += " \\Seen";
    if (may('w')) permanent += kw + " \\*";
  }
  *out += "* OK [PERMANENTFLAGS (" + (permanent.empty() ? "" : permanent.substr(1)) + ")] Ok\r\n";
  return Status();
}

Status SelectedMailbox::announce_new_keywords(const std::vector<std::string>& keywords,
                                              std::string* out) {
  for (const auto& k : keywords) {
    if (!store::has_keyword(announced_keywords_, k)) return announce_flags(out);
  }
  return Status();
}

Status SelectedMailbox::set_seen(store::Instance& instance, const std::vector<uint32_t>& uids,
                                 bool seen) {
  for (uint32_t uid : uids) {
    if (seen) {
      seen_uids_.insert(uid);
    } else {
      seen_uids_.erase(uid);
    }
    uint32_t seq = seq_of(uid);
    if (seq) {
      auto& f = msgs_[seq - 1].system_flags;
      f = seen ? (f | store::kFlagSeen) : (f & ~store::kFlagSeen);
    }
  }
  store::SeenRecord rec;
  rec.uniqueid = mbox_->entry().uniqueid;
  rec.lastread = std::time(nullptr);
  rec.lastchange = rec.lastread;
  rec.lastuid = uidnext_ - 1;
  rec.seenuids = format_sequence(std::vector<uint32_t>(seen_uids_.begin(), seen_uids_.end()));
  return instance.set_seen(userid_, rec);
}

}  // namespace replimail::imap
