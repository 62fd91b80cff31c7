// TLS for the client-facing services (imapd, pop3d): the server context
// from imapd.conf, and a connection's byte transport that is plain over the
// descriptors master hands over until start_tls() (STARTTLS, STLS, or at
// once on an imaps/pop3s listener) and encrypted with OpenSSL afterwards.
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

  // Waits at most `timeout` for input. Returns what arrived (possibly ""
  // when a TLS record carried no application data), or "" with `*timed_out`
  // set; kIoError at end of stream or on error.
  Result<std::string> read(std::chrono::milliseconds timeout, bool* timed_out);
  // Writes all of `data`, waiting at most a minute for the peer each time
  // it stops reading.
  Status write(std::string_view data);

 private:
  bool wait(short events, std::chrono::milliseconds timeout);

  int in_fd_;
  int out_fd_;
  SSL* ssl_ = nullptr;
};

}  // namespace replimail::net
