// What the LMTP session needs from the mail store, and nothing more. The
// session (lmtp/session.h) speaks the protocol; a Backend resolves
// recipients and delivers. lmtp/store_backend.h implements it over the
// store; tests implement it with a fake.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "lmtp/parser.h"

namespace replimail::lmtp {

// A recipient accepted at RCPT time.
struct Recipient {
  std::string path;     // the address as the client gave it, without <>
  std::string userid;   // the owning user ("alice")
  std::string mailbox;  // internal mailbox name the message goes to ("user.alice.lists")
  bool ignorequota = false;
  // The mailbox does not exist yet and is created at delivery
  // (autocreate_post).
  bool autocreate = false;
};

// What RCPT TO asks of the backend.
struct RcptQuery {
  Address address;
  bool ignorequota = false;  // RCPT ... IGNOREQUOTA
  uint64_t size_hint = 0;    // MAIL FROM ... SIZE=, 0 if not declared
  // The identity whose rights decide delivery to a +detail folder: MAIL
  // FROM AUTH=, else the SASL-authenticated user; "" is anonymous (the
  // rights of "anyone"), as for a pre-authorised MTA in Cyrus.
  std::string authuser;
  // MAIL FROM's reverse path, without <> ("" for the null sender): what a
  // forwarding backend (lmtpproxyd) gives the next hop.
  std::string sender = {};
  // MAIL FROM's BODY= ("7BIT", "8BITMIME"; "" if not given), for the next
  // hop too.
  std::string body = {};
};

// Where the bytes of one message go while DATA is read. Owned by the
// session; destroying it without delivering discards the message.
class MessageSink {
 public:
  virtual ~MessageSink() = default;
  // Appends bytes of the message (already unstuffed, CRLF line endings).
  virtual Status write(std::string_view bytes) = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // Decides whether `query.address` can receive mail, at RCPT time
  // (size_hint serves an early quota check). Errors, each answered with its
  // own reply:
  // kMailboxNonexistent (550 5.1.1), kQuotaExceeded (452 4.2.2 / 552 5.2.2),
  // kPermissionDenied (550 5.7.1), kMailboxBadName (550 5.1.1),
  // kIoError / kMailboxLocked / kAgain (451 4.3.0).
  // kReadOnly (451 4.3.2): the instance is in read-only mode.
  virtual Result<Recipient> resolve_recipient(const RcptQuery& query) = 0;

  // Starts a message for the current transaction.
  virtual Result<std::unique_ptr<MessageSink>> begin_message() = 0;

  // Delivers the complete message in `sink` (from begin_message()) to every
  // recipient, returning one Status per recipient in the same order. An OK
  // status means the message is durably stored (and logged) for that
  // recipient: the session acknowledges it with 250 at once.
  virtual std::vector<Status> deliver(MessageSink& sink,
                                      const std::vector<Recipient>& recipients) = 0;

  // The reply line for recipient `i` of the last deliver() when the backend
  // has one of its own: lmtpproxyd passes on the reply of the slot's lmtpd
  // as it was. "" (the default): the session words deliver()'s Status.
  virtual std::string own_reply(size_t i) const { return {}; }
};

}  // namespace replimail::lmtp
