// lmtpproxyd's backend (Cyrus murder's lmtpproxyd idea): the LMTP session
// (lmtp/session.h) speaks to the MTA as lmtpd does, and this backend, instead
// of storing, forwards each message to the lmtpd of every recipient's slot.
//
// RCPT asks the Router where the user goes now and answers from that alone
// (550 for a user nobody knows, 451 while its slot is down or the user is
// being moved); nothing is forwarded yet. DATA spools the message to an
// unlinked file. At the final dot every recipient is routed again (a user
// fenced or moved meanwhile is deferred or goes to its new slot), the
// recipients are grouped by slot, and each group is one LMTP transaction with
// that slot's lmtpd (LHLO, MAIL, RCPT..., DATA): each recipient's reply is the
// slot's own reply line, passed on as it was (own_reply()). So a 250 reaches
// the MTA only after the slot's lmtpd said 250 for that recipient; a slot that
// cannot be reached or fails mid-way gets 451 for the recipients it has not
// answered (the MTA retries; the slot's duplicate suppression covers a
// message it stored but could not acknowledge).
//
// One backend per connection. Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "lmtp/backend.h"

namespace replimail::lmtp {

// Where a user's mail goes now.
struct Route {
  std::string slot;  // for logs
  std::string host;
  uint16_t port = 0;
};

class Router {
 public:
  virtual ~Router() = default;
  // kMailboxNonexistent: nobody knows the user (550); kMailboxMoved: the
  // user is being moved (451 4.2.1); kAgain, kIoError: not now (451).
  virtual Result<Route> route(std::string_view userid) = 0;
};

struct ProxyOptions {
  std::string servername = "localhost";  // LHLO towards the slots
  // Where DATA is spooled (an unlinked file; the directory must exist).
  std::string spool_dir;
  // Connecting to a slot (Cyrus's client_timeout default), and then each
  // read or write on that connection (a slot's lmtpd may wait for its
  // replicas before its 250: sync_wait_replicas).
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(10);
  std::chrono::milliseconds io_timeout = std::chrono::seconds(300);
  bool downcase_rcpt = false;  // lmtp_downcase_rcpt
};

class ProxyBackend : public Backend {
 public:
  ProxyBackend(Router& router, ProxyOptions options);
  Result<Recipient> resolve_recipient(const RcptQuery& query) override;
  Result<std::unique_ptr<MessageSink>> begin_message() override;
  std::vector<Status> deliver(MessageSink& sink, const std::vector<Recipient>& recipients) override;
  std::string own_reply(size_t i) const override;

  // What deliver() found for one recipient.
  struct Outcome {
    Status status;
    std::string reply;  // the slot's reply line, or "" (the session words status)
  };

 private:
  Router& router_;
  ProxyOptions options_;
  std::string sender_;  // of the current transaction, from its RCPTs
  std::vector<Outcome> outcomes_;
};

// The Status standing for a slot's reply code (for counting and logs): 2xx
// success, 4xx kAgain, 5xx kPermissionDenied.
Status reply_status(int code, std::string_view line);

}  // namespace replimail::lmtp
