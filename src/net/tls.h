// TLS for the client-facing services (imapd, pop3d): the server context
// from imapd.conf, and a connection's byte transport that is plain over the
// descriptors master hands over until start_tls() (STARTTLS, STLS, or at
// once on an imaps/pop3s listener) and encrypted with OpenSSL afterwards.
// Compression (IMAP's COMPRESS=DEFLATE) sits above TLS when both are on:
// bytes are deflated, then encrypted.
//
// TlsContext is immutable after create() and may be shared by the sessions of
// one process. A Transport is not thread-safe and does not own its
// descriptors.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "common/config.h"
#include "common/status.h"
#include "net/deflate.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace replimail::net {

// The server TLS context from imapd.conf's tls_server_cert (certificate
// chain, PEM) and tls_server_key; kConfigError if either is missing or
// unusable. TLS 1.2 or later.
class TlsContext {
 public:
  static Result<std::unique_ptr<TlsContext>> create(const Config& cfg);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;
  SSL_CTX* get() const { return ctx_; }

 private:
  explicit TlsContext(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
};

class Transport {
 public:
  Transport(int in_fd, int out_fd) : in_fd_(in_fd), out_fd_(out_fd) {}
  ~Transport();  // sends close_notify if TLS is on
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Runs the server side of a TLS handshake, waiting at most `timeout` for
  // the peer at each step; afterwards every read and write is encrypted.
  // kIoError if the handshake fails (the transport stays plain, but the
  // connection should be dropped: the peer's state is unknown).
  // REQUIRES: !tls().
  Status start_tls(const TlsContext& ctx, std::chrono::milliseconds timeout);
  bool tls() const { return ssl_ != nullptr; }

  // From now on every write is deflated (a sync flush per write) and every
  // read inflated (RFC 4978). `already_read`: bytes the caller read past
  // the command that started it, which the peer sent compressed; they
  // come back, inflated, from the next read(). kIoError if they are not
  // a deflate stream. REQUIRES: !compressed().
  Status start_compression(std::string_view already_read = {});
  bool compressed() const { return deflater_ != nullptr; }

  // Waits at most `timeout` for input. Returns what arrived (possibly ""
  // when a TLS record or a deflate block carried no application data), or
  // "" with `*timed_out` set; kIoError at end of stream or on error.
  Result<std::string> read(std::chrono::milliseconds timeout, bool* timed_out);
  // Writes all of `data`, waiting at most a minute for the peer each time
  // it stops reading.
  Status write(std::string_view data);

 private:
  bool wait(short events, std::chrono::milliseconds timeout);
  Result<std::string> read_wire(std::chrono::milliseconds timeout, bool* timed_out);
  Status write_wire(std::string_view data);

  int in_fd_;
  int out_fd_;
  SSL* ssl_ = nullptr;
  std::unique_ptr<Deflater> deflater_;
  std::unique_ptr<Inflater> inflater_;
  std::string inflated_;  // from start_compression(), for the next read()
};

}  // namespace replimail::net
