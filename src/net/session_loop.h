// The one connection loop of every push-style session (imapd, pop3d,
// lmtpd): the session is a pure state machine over bytes (feed() what the
// client sent, take_output() what to answer); this loop moves the bytes
// through the connection's net::Stream, switches on TLS or compression
// when the session asks, polls it while the client is silent, and ends the
// connection after the session's idle limit with the session's farewell.
//
// A program serves a connection by building its session and calling
// run_session(); everything about the transport is here, so STARTTLS,
// implicit TLS and COMPRESS work the same way in every protocol.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "net/service.h"
#include "net/stream.h"

namespace replimail::net {

class TlsContext;

// What run_session() asks of a protocol session. Not thread-safe.
class PushSession {
 public:
  virtual ~PushSession() = default;

  // Bytes the client sent, in order, as they arrive.
  virtual void feed(std::string_view bytes) = 0;
  // What to send the client now (the greeting first).
  virtual std::string take_output() = 0;
  // The session is over (LOGOUT, QUIT): its last output has been taken.
  virtual bool closed() const = 0;

  // A change of the transport the session waits for before it reads on:
  // its reply (STARTTLS's OK, COMPRESS's OK) has been taken and is sent
  // first.
  enum class Upgrade { kNone, kStartTls, kCompress };
  virtual Upgrade upgrade() const { return Upgrade::kNone; }
  // The TLS handshake the session asked for has succeeded.
  virtual void tls_started() {}
  // Compression is about to start; returns the bytes feed() was given
  // after the command, which the client sent compressed.
  virtual std::string compression_started() { return {}; }

  // Called every SessionLoopOptions::tick while the client is silent (an
  // IMAP IDLE reports other sessions' changes).
  virtual void tick() {}
  // The output taken has been written (or batched): resources it needed
  // may go.
  virtual void replies_sent() {}
  // The connection ended (peer gone, idle limit) before the session did.
  virtual void connection_lost() {}
  // How the session may send part of a long answer while it is still
  // making it (a FETCH of every message): `write` queues the bytes on the
  // connection (written through as its buffer fills), false once the
  // connection has failed. Installed once, before the greeting is taken.
  // A session that never calls it answers as before, whole, through
  // take_output().
  virtual void set_early_writer(const std::function<bool(std::string_view)>& write) {
    (void)write;
  }
};

struct SessionLoopOptions {
  std::string name;  // the program, for logs: "imapd"
  // The server context for implicit TLS and for Upgrade::kStartTls.
  const TlsContext* tls = nullptr;
  // Implicit TLS (imaps, pop3s): the handshake comes before the greeting.
  bool implicit_tls = false;
  std::chrono::milliseconds handshake_timeout = std::chrono::seconds(60);
  // The longest the client may refuse our bytes.
  std::chrono::milliseconds write_timeout = std::chrono::seconds(60);
  // Client silence after which `idle_farewell` is sent and the connection
  // ends.
  std::chrono::milliseconds idle_limit = std::chrono::minutes(30);
  std::string idle_farewell;
  // How often tick() is called while the client is silent; zero: never.
  std::chrono::milliseconds tick{0};
  // Hold replies while pipelined input waits, sending them together
  // (RFC 2920); otherwise each batch of output is sent at once.
  bool batch_replies = false;
};

// Serves `session` on `conn` until it closes or the connection ends.
void run_session(const Connection& conn, PushSession& session, const SessionLoopOptions& options);

}  // namespace replimail::net
