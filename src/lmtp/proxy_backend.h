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
// that slot's lmtpd (LHLO, MAIL, RCPT..., DATA), the groups in parallel (one
// thread each: a slow slot does not hold the others' recipients back). MAIL
// carries the MTA's SIZE= (the spooled message's size), BODY= and AUTH=
// (the identity whose rights decide delivery to a +detail folder) when the
// slot advertised the extension. Each recipient's reply is the slot's own
// reply line, passed on as it was (own_reply()). So a 250 reaches the MTA
// only after the slot's lmtpd said 250 for that recipient; a slot that cannot
// be reached or fails mid-way gets 451 for the recipients it has not
// answered (the MTA retries; the slot's duplicate suppression covers a
// message it stored but could not acknowledge).
//
// A slot that did not answer within connect_timeout is remembered (in
// UnreachableSlots, for as long again): a recipient routed to it meanwhile,
// at RCPT or at the dot, is deferred at once (451) instead of waiting for
// another time-out. The directory is read for every recipient all the same,
// so once it names another slot (a failover) the next recipient goes there.
//
// One backend per connection. Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
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

// Slots that did not answer a connect lately, by address. lmtpproxyd keeps
// one for the life of its process, across connections. Thread-safe.
class UnreachableSlots {
 public:
  using Clock = std::chrono::steady_clock;
  // `route` did not answer: it counts as unreachable until `until`.
  void failed(const Route& route, Clock::time_point until);
  // `route` answered: it is reachable again.
  void answered(const Route& route);
  bool unreachable(const Route& route, Clock::time_point now) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, Clock::time_point> until_;
};

struct ProxyOptions {
  std::string servername = "localhost";  // LHLO towards the slots
  // Where DATA is spooled (an unlinked file; the directory must exist).
  std::string spool_dir;
  // Connecting to a slot (imapd.conf's client_timeout, Cyrus's 10 s by
  // default), and then each read or write on that connection (a slot's
  // lmtpd may wait for its replicas before its 250: sync_wait_replicas).
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(10);
  std::chrono::milliseconds io_timeout = std::chrono::seconds(300);
  bool downcase_rcpt = false;  // lmtp_downcase_rcpt
  // Where slots that did not answer are remembered (for connect_timeout);
  // null: nowhere, each recipient tries again.
  UnreachableSlots* unreachable = nullptr;
};

// What a slot's LHLO reply advertised of the MAIL parameters the proxy
// passes on. `lines`: the reply's lines as read ("250-slot",
// "250-SIZE 1000", ..., "250 IGNOREQUOTA"); the first names the server.
struct SlotExtensions {
  bool size = false;       // SIZE (RFC 1870)
  bool eight_bit = false;  // 8BITMIME (RFC 6152): BODY=
  bool auth = false;       // AUTH (RFC 4954): MAIL's AUTH=
};
SlotExtensions parse_lhlo_extensions(const std::vector<std::string>& lines);

// The MTA's MAIL FROM, for the slot.
struct MailParams {
  std::string sender;    // without <>, "" for the null sender
  uint64_t size = 0;     // the message's size in octets
  std::string body;      // "7BIT", "8BITMIME", or "" (not given)
  std::string authuser;  // "" for none
};
// "MAIL FROM:<sender> SIZE=n BODY=8BITMIME AUTH=xtext", each parameter only
// when the slot advertised its extension (and BODY and AUTH only when the
// MTA's MAIL had one).
std::string mail_from_command(const MailParams& mail, const SlotExtensions& slot);

// RFC 3461's xtext: "+" "=" and bytes outside '!'..'~' as "+XX".
std::string encode_xtext(std::string_view s);

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
  // The transaction's MAIL FROM, from its RCPTs (size filled at the dot).
  MailParams mail_;
  // `route` was seen unreachable lately (options_.unreachable).
  bool known_unreachable(const Route& route) const;
  std::vector<Outcome> outcomes_;
};

// The Status standing for a slot's reply code (for counting and logs): 2xx
// success, 4xx kAgain, 5xx kPermissionDenied.
Status reply_status(int code, std::string_view line);

}  // namespace replimail::lmtp
