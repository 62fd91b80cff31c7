#include "pop3/store_backend.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "store/autocreate.h"
#include "store/mboxname.h"
#include "store/record.h"

namespace replimail::pop3 {

StoreBackend::StoreBackend(store::Instance& instance, std::function<std::time_t()> clock)
    : instance_(instance), clock_(std::move(clock)) {}

Result<Maildrop> StoreBackend::open(const std::string& userid) {
  Status valid = store::validate_userid(userid);
  if (!valid) return valid;
  auto mbox = instance_.open_mailbox(store::user_inbox(userid));
  if (!mbox.ok() && mbox.status().code() == Code::kMailboxNonexistent &&
      store::autocreate_on_login(instance_.config())) {
    // Cyrus's pop3d creates a missing INBOX at login (autocreate_quota >= 0).
    Status made = store::autocreate_user(instance_, userid);
    if (!made) return made;
    mbox = instance_.open_mailbox(store::user_inbox(userid));
  }
  if (!mbox.ok()) return mbox.status();
  mailbox_ = std::move(*mbox);

  // POP3_LAST_LOGIN is a mailbox counter: change it in a transaction so
  // that the MAILBOX line reaches the sync log. It is a write: if it fails
  // (a full spool, read-only mode), the user still gets the maildrop to
  // read (and to delete from, unless read-only).
  Status s = record_login();
  if (!s && s.code() != Code::kReadOnly) spdlog::warn("pop3: {}: last login not recorded: {}", userid, s.to_string());

  auto counters = mailbox_->counters();
  if (!counters.ok()) return counters.status();
  Maildrop drop;
  drop.uidvalidity = counters->uidvalidity;
  // Cyrus treats an empty mailbox as having option P.
  drop.new_uidl = counters->options.find('P') != std::string::npos || counters->exists == 0;
  s = mailbox_->for_each_record(0, [&](const store::IndexRecord& r) {
    if (!r.expunged() && !(r.system_flags & store::kFlagDeleted)) {
      drop.messages.push_back({r.uid, r.size});
    }
    return true;
  });
  if (!s) return s;
  return drop;
}

Status StoreBackend::record_login() {
  auto txn = mailbox_->begin();
  if (!txn.ok()) return txn.status();
  store::MailboxCounters c = (*txn)->counters();
  c.pop3_last_login = static_cast<int64_t>(clock_());
  (*txn)->set_counters(c);
  return instance_.commit(*mailbox_, **txn);
}

Result<std::string> StoreBackend::read(uint32_t uid) {
  if (!mailbox_) return Status(Code::kInternal, "no maildrop open");
  auto fd = mailbox_->open_message(uid);
  if (!fd.ok()) return fd.status();
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(*fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(*fd);
      return Status(Code::kIoError, std::string("read message: ") + std::strerror(err));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(*fd);
  return out;
}

Status StoreBackend::expunge(const std::vector<uint32_t>& uids) {
  if (!mailbox_) return Status(Code::kInternal, "no maildrop open");
  return instance_.expunge(mailbox_->name(), uids);
}

}  // namespace replimail::pop3
