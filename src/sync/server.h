// sync_server: one csync session on the replica (reference §3). The banner
// and capability lines, STARTTLS (when a TLS context is given; the banner
// again afterwards, and the SASL server replaced by one for a secure
// channel, so that PLAIN is offered over TLS even with allowplaintext: no),
// AUTHENTICATE (SASL, only `admins` may replicate), COMPRESS DEFLATE (above
// TLS when both are on), and the command loop of GET / APPLY / RESTART / EXIT /
// NOOP, each answered with exactly one status line in Cyrus's wording.
//
// Session states, in order: kGreeting → kUnauthenticated → kAuthenticated
// (as an admin, or as a non-admin whose commands are all refused) → kDone.
//
// APPLY MAILBOX is applied while it is read: each RECORD member goes into
// the mailbox transaction as soon as it is parsed (RecordStream), so memory
// does not grow with the number of records; the status line is sent once
// the whole line has arrived, exactly as if it had been parsed first.
//
// Not thread-safe; one session per connection.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "dlist/parser.h"
#include "dlist/value.h"
#include "net/login_policy.h"
#include "net/sasl.h"
#include "net/stream.h"
#include "net/tls.h"
#include "store/instance.h"
#include "sync/replica.h"
#include "sync/reserve.h"
#include "sync/wire.h"

namespace replimail::sync {

struct ServerOptions {
  // Name in the "* OK <servername> ..." banner line.
  std::string servername = "localhost";
  // The connection is pre-authenticated as an admin (unix socket, -X).
  bool preauth = false;
  std::string peer;  // for logs
  // STARTTLS is offered with this context (null: not offered).
  const net::TlsContext* tls = nullptr;
  // The SASL server that replaces the first one after STARTTLS.
  std::function<std::unique_ptr<net::SaslServer>()> sasl_after_tls;
  // failedloginpause and the failure budgets of AUTHENTICATE; null: none.
  net::LoginPolicy* login = nullptr;
};

class RecordStream;
class UploadSink;

class SyncServer {
 public:
  // `sasl` may be null when `options.preauth` is set.
  SyncServer(store::Instance& instance, net::Stream& stream, net::SaslServer* sasl,
             ServerOptions options);
  ~SyncServer();

  // Runs the session to its end (EXIT, peer closed, timeout).
  void run();

 private:
  enum class State { kGreeting, kUnauthenticated, kAuthenticated, kDone };

  Status send_banner();
  // The verb table (server.cc): one row per csync command (name, the state
  // it needs, handler); find_verb() is null for a name not in it.
  struct Verb;
  static const Verb* find_verb(std::string_view name);
  // Handles one parsed command line: the checks its verb's row asks for,
  // then the handler.
  void dispatch(std::vector<dlist::Value> line);
  // GET, APPLY, RESTORE for an authenticated admin: the line's keyed item
  // to the verb's handler, then its status line.
  void item_command(const Verb& verb, const std::string& cmd, std::vector<dlist::Value> line);
  void authenticate(const std::vector<dlist::Value>& line);
  // Counts a line refused before authentication; past a bound the session
  // ends (an unauthenticated peer gets no unbounded work).
  void preauth_refused();
  void compress(const std::vector<dlist::Value>& line);
  void starttls(const std::vector<dlist::Value>& line);
  // The item kinds of GET and of APPLY/RESTORE (server.cc): one row per
  // kind (name, handler), the verb table's `kinds`; find_kind() is null for
  // a key its verb does not know.
  struct ItemKind;
  static std::span<const ItemKind> get_kinds();
  static std::span<const ItemKind> apply_kinds();
  static const ItemKind* find_kind(const Verb& verb, std::string_view key);
  // The kinds' handlers longer than a line: the status line to send after
  // any untagged data.
  Status get_user(const dlist::Value& item, bool with_mailboxes);
  Status get_mailboxes(const dlist::Value& item, std::string_view kind);  // or UNIQUEIDS
  Status get_annotations(const dlist::Value& item);
  Status get_message(const dlist::Value& item);  // GET FETCH
  Status apply_reserve(const dlist::Value& item);
  Status apply_sub(const dlist::Value& item, bool subscribe);
  Status apply_annotation(const dlist::Value& item, bool set);
  Status apply_sieve(const dlist::Value& item, std::string_view kind);
  Status untagged(const std::string& key, dlist::Value v);
  void reply(const std::string& line);

  store::Instance& inst_;
  net::Stream& io_;
  Wire wire_;  // dlist over io_
  net::SaslServer* sasl_;
  std::unique_ptr<net::SaslServer> tls_sasl_;  // after STARTTLS; sasl_ points to it
  ServerOptions opts_;
  ReserveList reserve_;
  Replica replica_;
  std::unique_ptr<RecordStream> records_;
  std::unique_ptr<UploadSink> sink_;
  std::unique_ptr<dlist::Parser> parser_;
  State state_ = State::kGreeting;
  std::string user_;
  bool admin_ = false;
  int preauth_refusals_ = 0;
};

}  // namespace replimail::sync
