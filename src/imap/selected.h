// The selected mailbox as one IMAP session sees it: the message sequence
// (sequence number ↔ UID), each message's flags as last reported to the
// client, \Recent, and the user's \Seen state. refresh() compares this view
// with the committed store (cheaply: the index's HIGHESTMODSEQ first) and
// produces the untagged EXPUNGE/VANISHED, EXISTS, RECENT and FETCH FLAGS
// responses that bring the client up to date — how sessions see each other's
// changes, at every command and every second of IDLE.
//
// \Recent (RFC 3501 §2.3.2) goes to exactly one session: a read-write
// session claims every message above the mailbox's RECENTUID it reports
// (at SELECT and when refresh() finds new messages), raising RECENTUID in
// the same transaction that read it, so two sessions cannot both claim one
// message. A read-only (EXAMINE) view shows the unclaimed messages as
// \Recent without claiming them.
//
// \Seen follows Cyrus: the mailbox owner's \Seen lives in the index record;
// every other user's in the store's seen state (a UID set per user and
// mailbox uniqueid).
//
// Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "store/instance.h"
#include "store/mailbox.h"

namespace replimail::imap {

struct MessageView {
  uint32_t uid = 0;
  uint64_t modseq = 0;
  uint32_t system_flags = 0;  // \Seen as this user sees it
  std::vector<std::string> keywords;
  uint64_t size = 0;
  int64_t internaldate = 0;
  std::string guid;  // 40 hex digits (EMAILID)
  // RFC 8514 save date: when the message was added to this mailbox (Cyrus
  // falls back to the internal date for records without one).
  int64_t savedate = 0;
  bool recent = false;
};

class SelectedMailbox {
 public:
  // Opens `name` for `userid`. `readonly` for EXAMINE or without write
  // rights. A read-write select claims \Recent (raises RECENTUID).
  // `instance` must outlive the view.
  static Result<std::unique_ptr<SelectedMailbox>> open(store::Instance& instance,
                                                       const std::string& name,
                                                       const std::string& userid, bool readonly);

  // The user's rights on the mailbox (ACL letters): PERMANENTFLAGS names
  // only the flags they let the user change, as Cyrus 3.6 does (\Seen needs
  // 's', \Deleted 't', the others, keywords and \* 'w'). All by default.
  void set_rights(std::string rights) { rights_ = std::move(rights); }

  const std::string& name() const { return name_; }
  store::Mailbox& mailbox() { return *mbox_; }
  bool readonly() const { return readonly_; }
  uint32_t uidvalidity() const { return uidvalidity_; }
  uint32_t uidnext() const { return uidnext_; }
  uint64_t highestmodseq() const { return highestmodseq_; }
  bool owner_seen() const { return owner_seen_; }

  uint32_t exists() const { return static_cast<uint32_t>(msgs_.size()); }
  uint32_t recent_count() const;
  // REQUIRES: 1 <= seq <= exists().
  MessageView& at(uint32_t seq) { return msgs_[seq - 1]; }
  // The sequence number of `uid`, 0 if not in the view.
  uint32_t seq_of(uint32_t uid) const;
  // Sequence numbers in the view whose number (or UID, if `by_uid`) is in
  // `set`; ascending.
  template <typename Set>
  std::vector<uint32_t> resolve(const Set& set, bool by_uid) const {
    std::vector<uint32_t> out;
    uint32_t largest = by_uid ? (msgs_.empty() ? 0 : msgs_.back().uid) : exists();
    for (uint32_t i = 0; i < msgs_.size(); ++i) {
      if (set.contains(by_uid ? msgs_[i].uid : i + 1, largest)) out.push_back(i + 1);
    }
    return out;
  }

  // What changed since the last refresh, as untagged responses appended to
  // `*out`. Expunges are reported only when `allow_expunge` (RFC 3501
  // forbids EXPUNGE during FETCH, STORE and SEARCH); they are remembered
  // until then. With `qresync` expunges are "VANISHED uids"; with `condstore`
  // FETCH FLAGS carries MODSEQ; `with_uid` adds UID to FETCH.
  // UIDs in `quiet` get no FETCH (the caller reported them).
  struct RefreshOptions {
    bool allow_expunge = true;
    bool qresync = false;
    bool condstore = false;
    bool with_uid = false;
    std::vector<uint32_t> quiet;  // UIDs, ascending (repeats allowed)
  };
  Status refresh(const RefreshOptions& opts, std::string* out);

  // The untagged FLAGS and PERMANENTFLAGS responses (as SELECT sends them)
  // for the mailbox's keywords now, appended to `*out`; they count as
  // announced from then on.
  Status announce_flags(std::string* out);
  // RFC 3501 §7.2.6 / RFC 9051 §7.3.5: a client learns of a new keyword
  // from FLAGS before any FETCH shows it. If `keywords` holds one that was
  // not announced yet, appends the FLAGS and PERMANENTFLAGS responses to
  // `*out`.
  Status announce_new_keywords(const std::vector<std::string>& keywords, std::string* out);

  // Changes the user's \Seen on `uids` (the seen state, for non-owners).
  Status set_seen(store::Instance& instance, const std::vector<uint32_t>& uids, bool seen);
  // Replaces the view of `uid` after the session changed it itself.
  void update(const store::IndexRecord& rec);

 private:
  SelectedMailbox() = default;
  MessageView view_of(const store::IndexRecord& rec) const;
  // Claims \Recent on messages up to `upto` in one transaction and returns
  // the RECENTUID found there: messages above it are this session's.
  Result<uint32_t> claim_recent(uint32_t upto);
  // Marks the new messages msgs_[first..] \Recent as this view sees them.
  Status mark_new_recent(size_t first);

  store::Instance* instance_ = nullptr;
  std::string name_;
  std::string userid_;
  std::unique_ptr<store::Mailbox> mbox_;
  bool readonly_ = false;
  std::string rights_ = "stw";
  bool owner_seen_ = true;
  uint32_t uidvalidity_ = 0;
  uint32_t uidnext_ = 1;
  uint64_t highestmodseq_ = 0;
  std::vector<MessageView> msgs_;
  std::set<uint32_t> pending_expunge_;
  std::set<uint32_t> seen_uids_;              // non-owner seen state
  std::vector<std::string> announced_keywords_;  // in the last FLAGS response
};

}  // namespace replimail::imap
