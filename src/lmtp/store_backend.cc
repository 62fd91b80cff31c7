#include "lmtp/store_backend.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "common/ascii.h"
#include "common/log.h"
#include "store/acl.h"
#include "store/autocreate.h"
#include "store/mboxname.h"

namespace replimail::lmtp {

namespace {

class StagedSink : public MessageSink {
 public:
  explicit StagedSink(std::unique_ptr<store::StagedMessage> msg) : msg_(std::move(msg)) {}
  Status write(std::string_view bytes) override { return msg_->write(bytes); }
  store::StagedMessage& message() { return *msg_; }

 private:
  std::unique_ptr<store::StagedMessage> msg_;
};

// Each recipient's answer from the append of its mailbox (slot[i] into
// `results`; SIZE_MAX: answered before the append), logged as Cyrus does.
void answer_recipients(const std::vector<Recipient>& recipients, const std::vector<size_t>& slot,
                       const std::vector<store::AppendResult>& results,
                       const store::StagedMessage& msg, std::vector<Status>* out) {
  for (size_t i = 0; i < recipients.size(); ++i) {
    if (slot[i] == SIZE_MAX) continue;
    if (slot[i] >= results.size()) {
      (*out)[i] = Status(Code::kInternal, "append returned too few results");
      continue;
    }
    const store::AppendResult& res = results[slot[i]];
    (*out)[i] = res.status;
    if (res.status.is_ok()) {
      spdlog::info("lmtp: Delivered: {} to mailbox: {} uid {} size {} guid {}", recipients[i].path,
                   recipients[i].mailbox, res.uid, msg.size(), msg.guid());
    } else {
      spdlog::warn("lmtp: delivery of {} to {} failed: {}", recipients[i].path,
                   recipients[i].mailbox, res.status.to_string());
    }
  }
}

// sync_wait_on_timeout: refuse: every recipient the message was stored for
// gets `why`, a temporary failure (the MTA tries again).
void refuse_stored(const std::vector<Recipient>& recipients, const Status& why,
                   std::vector<Status>* out) {
  for (size_t i = 0; i < recipients.size(); ++i) {
    if (!(*out)[i].is_ok()) continue;
    spdlog::warn("lmtp: {} to {}: stored but not acknowledged: {}", recipients[i].path,
                 recipients[i].mailbox, why.to_string());
    (*out)[i] = why;
  }
}

}  // namespace

StoreBackend::StoreBackend(store::Instance& instance)
    : instance_(instance),
      downcase_(instance.config().get_bool("lmtp_downcase_rcpt")),
      unixhierarchysep_(instance.config().get_bool("unixhierarchysep")),
      autocreate_(store::autocreate_on_post(instance.config())),
      strict_quota_(instance.config().get_bool("lmtp_strict_quota")),
      duplicates_(instance.config()) {}

std::string StoreBackend::detail_mailbox(const std::string& inbox, const std::string& detail,
                                         const std::string& authuser) {
  std::string ext = detail;
  if (unixhierarchysep_) {
    // External "a/b.c" is internal "a.b^c".
    for (char& c : ext) {
      if (c == '.') {
        c = '^';
      } else if (c == '/') {
        c = '.';
      }
    }
  }
  std::string name = inbox + "." + ext;
  if (!store::validate_mboxname(name).is_ok() || !store::mboxname_is_child(inbox, name)) {
    return "";
  }
  auto entry = instance_.lookup(name);
  if (!entry.ok()) return "";
  bool may_post = store::acl_has_right(entry->acl, "anyone", 'p') ||
                  (!authuser.empty() && (instance_.config().is_admin(authuser) ||
                                         store::acl_has_right(entry->acl, authuser, 'p')));
  if (!may_post) return "";
  return name;
}

Result<Recipient> StoreBackend::resolve_recipient(const RcptQuery& query) {
  // In read-only mode every recipient is deferred at RCPT, before the MTA
  // sends the message.
  if (Status w = instance_.check_writable(); !w) return w;
  const Address& address = query.address;
  Recipient r;
  r.userid = downcase_ ? to_lower(address.user) : address.user;
  if (!store::validate_userid(r.userid).is_ok()) {
    return Status(Code::kMailboxNonexistent, "invalid userid " + r.userid);
  }
  // A user being moved to another slot is deferred at RCPT too (451 4.2.1):
  // the MTA keeps the message and retries, by then at the user's new slot.
  if (Status w = instance_.check_user_writable(r.userid); !w) return w;
  std::string inbox = store::user_inbox(r.userid);
  auto entry = instance_.lookup(inbox);
  if (!entry.ok()) {
    if (entry.status().code() != Code::kMailboxNonexistent) return entry.status();
    if (!autocreate_) return entry.status();
    r.mailbox = inbox;
    r.autocreate = true;
    return r;
  }
  r.mailbox = inbox;
  if (address.detail && !address.detail->empty()) {
    std::string folder = detail_mailbox(inbox, *address.detail, query.authuser);
    if (!folder.empty()) r.mailbox = folder;
  }
  if (!query.ignorequota) {
    Status q = strict_quota_ ? instance_.check_quota(r.mailbox, query.size_hint, 1)
                             : instance_.check_quota(r.mailbox, 0, 1);
    if (!q.is_ok()) return q;
  }
  return r;
}

Result<std::unique_ptr<MessageSink>> StoreBackend::begin_message() {
  auto staged = instance_.stage_message();
  if (!staged.ok()) return staged.status();
  return std::unique_ptr<MessageSink>(std::make_unique<StagedSink>(std::move(*staged)));
}

Status StoreBackend::ensure_inbox(const Recipient& r) {
  return store::autocreate_user(instance_, r.userid);
}

std::vector<Status> StoreBackend::deliver(MessageSink& sink,
                                          const std::vector<Recipient>& recipients) {
  std::vector<Status> out(recipients.size());
  store::StagedMessage& msg = static_cast<StagedSink&>(sink).message();
  // The file's fsync is left to the commit, which does it beside the
  // mailbox directory's and the sync log's (store::Instance::commit).
  Status fin = msg.finish(store::StagedMessage::Durability::kDeferFsync);
  if (!fin.is_ok()) {
    std::fill(out.begin(), out.end(), fin);
    return out;
  }
  // One append per distinct mailbox: "alice" and "Alice" get one copy, as
  // Cyrus's duplicate delivery suppression would leave them.
  std::vector<store::AppendRequest> requests;
  std::map<std::string, size_t> request_of;
  std::vector<size_t> slot(recipients.size(), SIZE_MAX);
  duplicates_.begin(msg.path());
  for (size_t i = 0; i < recipients.size(); ++i) {
    const Recipient& r = recipients[i];
    if (duplicates_.skip(r.mailbox)) continue;  // out[i] stays OK: 250
    if (r.autocreate) {
      Status s = ensure_inbox(r);
      if (!s.is_ok()) {
        out[i] = s;
        continue;
      }
    }
    bool check = !r.ignorequota;
    if (check && !strict_quota_) {
      // Cyrus's default: accept while the root is not already full.
      Status q = instance_.check_quota(r.mailbox, 0, 1);
      if (!q.is_ok()) {
        out[i] = q;
        continue;
      }
      check = false;
    }
    auto [it, inserted] = request_of.emplace(r.mailbox, requests.size());
    if (inserted) {
      store::AppendRequest req;
      req.mailbox = r.mailbox;
      req.message = &msg;
      req.check_quota = check;
      requests.push_back(std::move(req));
    } else if (check) {
      requests[it->second].check_quota = true;
    }
    slot[i] = it->second;
  }
  std::vector<store::AppendResult> results = instance_.append(requests);
  // Marked only now that the deliveries have committed (duplicate_filter.h).
  std::vector<std::string> delivered;
  for (size_t k = 0; k < requests.size() && k < results.size(); ++k)
    if (results[k].status.is_ok()) delivered.push_back(requests[k].mailbox);
  if (Status d = duplicates_.mark(delivered); !d)
    spdlog::error("lmtp: delivered, but not recorded for duplicate suppression: {}",
                  d.to_string());
  answer_recipients(recipients, slot, results, msg, &out);
  // sync_wait_replicas: no 250 before the replicas have the message. Under
  // sync_wait_on_timeout: refuse, every recipient it was stored for gets
  // the temporary failure (the MTA tries again).
  if (Status w = instance_.wait_replicated(); !w.is_ok()) refuse_stored(recipients, w, &out);
  return out;
}

}  // namespace replimail::lmtp
