// What a POP3 session needs from the mail store, as an interface so the
// protocol state machine can be tested without one (pop3/store_backend.h
// is the real implementation).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace replimail::pop3 {

struct MaildropMessage {
  uint32_t uid = 0;
  uint64_t size = 0;  // RFC822.SIZE, octets with CRLF line endings
};

// A user's INBOX as a POP3 session sees it: fixed at login, in UID order.
struct Maildrop {
  uint32_t uidvalidity = 0;
  // UIDL as "<uidvalidity>.<uid>" (Cyrus's mailbox option P, which Cyrus
  // also assumes for an empty mailbox) instead of "<uid>".
  bool new_uidl = true;
  std::vector<MaildropMessage> messages;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Opens `userid`'s INBOX for a session and records the login as the
  // mailbox's POP3_LAST_LOGIN. Messages flagged \Deleted are left out, as
  // Cyrus's pop3d does.
  virtual Result<Maildrop> open(const std::string& userid) = 0;
  // The bytes of message `uid` of the open maildrop.
  virtual Result<std::string> read(uint32_t uid) = 0;
  // Expunges `uids` from the open maildrop (the UPDATE state after QUIT).
  virtual Status expunge(const std::vector<uint32_t>& uids) = 0;
  // OK if the store takes changes now; kReadOnly while the instance is in
  // read-only mode (DELE is refused then, rather than failing at QUIT).
  virtual Status writable() { return Status::success(); }
};

}  // namespace replimail::pop3
