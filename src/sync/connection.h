// sync_client's connection to a replica's sync_server (reference §4.1.1):
// connect (TLS at once for sync_host's /tls, as Cyrus 3.6's backend does),
// read the banner's capability lines, AUTHENTICATE PLAIN (skipped on a unix
// socket and for /noauth) — when the replica offers no PLAIN and offers
// STARTTLS, first STARTTLS, the banner read again, and then PLAIN, as Cyrus
// 3.6's client retries when it has no mechanism usable without TLS; the
// replica's certificate must verify (ConnectOptions::tls) or nothing but
// the handshake is sent — then COMPRESS DEFLATE (above TLS when both are
// on) when offered and the replica is on another host (or -z asks for
// it), then one command at a time: the request
// line goes out with non-synchronising literals and file literals streamed
// from their files, and the reply's untagged items are collected until the
// status line.
//
// Compression is skipped for a replica on a loopback address or a unix
// socket: there it buys no bandwidth and cost 80% of sync_client's CPU (and
// a quarter of sync_server's) in an initial sync. The bytes of every command
// are the same either way; Cyrus's server accepts both.
//
// Connection states: (kTls) → kBanner → (kStartTls → kTls → kBanner) →
// kAuthenticated → (kCompressed) → kClosed.
// A peer that stays silent for ConnectOptions::timeout in any exchange, or
// any failed read or write, closes the connection for good (kClosed): every
// later command fails at once, so the caller reconnects instead of waiting
// on a half-open socket.
// Not thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "dlist/parser.h"
#include "dlist/value.h"
#include "net/tls.h"
#include "net/stream.h"
#include "sync/wire.h"

namespace replimail::sync {

struct ConnectOptions {
  std::string host;  // name, address, or an absolute unix socket path
  uint16_t port = 2005;
  std::string authname;
  std::string password;
  // The client TLS context (tls_server_ca_file, tls_client_cert, ...),
  // made on first use: for STARTTLS when the replica offers no mechanism
  // usable in clear, and at once with `implicit_tls`. Null: no TLS.
  std::shared_ptr<const net::LazyClientTlsContext> tls;
  bool implicit_tls = false;         // sync_host's /tls
  bool noauth = false;               // sync_host's /noauth: no AUTHENTICATE
  bool require_compression = false;  // -z: compress even locally; fail if not compressed
  bool allow_compression = true;     // false: never send COMPRESS
  int verbose = 0;                   // 1: log commands; 2: also replies
  // -O: after logging in, APPLY FORCE (as Cyrus's sync_client does in its
  // no-copyback mode): the replica replaces a mailbox whose uniqueid differs
  // instead of refusing it.
  bool force = false;
  // The longest the replica may stay silent while a reply is awaited (or
  // refuse our bytes while a command goes out) before it is taken for dead
  // (sync_peer_timeout, capped by sync_timeout). TCP keepalive probes are
  // tuned to it too, so that a vanished host is noticed even between
  // commands.
  std::chrono::milliseconds timeout{20 * 1000};
};

// The untagged items and final status of one command.
struct Reply {
  std::vector<dlist::Value> items;  // keyed: MAILBOX, QUOTA, MISSING, ...
};

class ReplicaConnection {
 public:
  // Connects and logs in. `sink` (may be null) receives file literals of
  // replies (GET FETCH); it must outlive the connection.
  static Result<std::unique_ptr<ReplicaConnection>> open(const ConnectOptions& opts,
                                                         dlist::FileSink* sink = nullptr);
  ~ReplicaConnection();

  // Sends "VERB KEY value" and reads the reply. A NO / BAD / BYE becomes the
  // returned Status (see dlist::to_status); the connection stays usable
  // after NO and BAD.
  Result<Reply> command(const std::string& verb, const dlist::Value& keyed);
  // Sends "VERB KEY %(<head's members> LIST_KEY (...))" with the list's
  // members printed as `members` produces them: it is called once with an
  // `emit` function to call per member, in order. The list is never held
  // whole (dlist::StreamedItem). If `members` (or emit) fails, the line is
  // cut off and the connection is shut down: it cannot be used again.
  using Emit = std::function<Status(const dlist::Value&)>;
  Result<Reply> command_streamed(const std::string& verb, const dlist::Value& head,
                                 std::string_view list_key,
                                 const std::function<Status(const Emit&)>& members);
  // Sends "VERB KEY (...)", a plain list whose members `members` prints
  // through the item it is given (add(), add_file()), in order; the same
  // failure rule as command_streamed(). It does not wait for the reply: the
  // caller reads it later with read_reply(), replies coming in the order of
  // the commands (sync_client sends the next APPLY MESSAGE before it reads
  // the reply to the one before).
  Status send_list_streamed(const std::string& verb, std::string_view key,
                            const std::function<Status(dlist::StreamedItem&)>& members);
  // Reads the reply to the oldest command sent whose reply was not read.
  Result<Reply> read_reply();
  // RESTART, NOOP, EXIT (no argument).
  Status simple(const std::string& verb);

  bool compressed() const { return io_->compressed(); }
  bool tls() const { return io_->tls(); }
  const std::vector<std::string>& capabilities() const { return caps_; }
  uint64_t bytes_out() const { return io_->bytes_out(); }

 private:
  ReplicaConnection(int fd, ConnectOptions opts, dlist::FileSink* sink);
  Status handshake();
  // Reads the banner's capability lines up to "* OK" into caps_/mechs_.
  Status read_banner();
  // STARTTLS (unless `implicit`), then the TLS handshake.
  Status start_tls(bool implicit);
  Status authenticate_plain();
  // Why no mechanism can be used, for the error that ends the attempt.
  std::string no_mechanism_reason() const;
  // After a failed read or write: nothing more can be said on this
  // connection (a late reply would answer the wrong command).
  Status broken(Status why);
  // Reads one line; kProtocolError on a malformed one.
  Result<std::vector<dlist::Value>> read_line();

  int fd_;
  ConnectOptions opts_;
  std::unique_ptr<net::Stream> io_;
  std::unique_ptr<Wire> wire_;  // dlist over io_
  std::unique_ptr<dlist::Parser> parser_;
  std::vector<std::string> caps_;
  std::vector<std::string> mechs_;
};

}  // namespace replimail::sync
