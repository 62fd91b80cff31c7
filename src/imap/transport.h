// A client connection's byte transport for imapd: the plain descriptors the
// service loop hands over, or TLS over them (OpenSSL) after STARTTLS or from
// the start on an imaps listener.
//
// Not thread-safe. Does not own the descriptors.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "common/config.h"
#include "common/status.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace replimail::imap {

// The server TLS context from imapd.conf's tls_server_cert (certificate
// chain, PEM) and tls_server_key; kConfigError if either is missing or
// unusable. TLS 1.2 or later.
class TlsContext {
 public:
  static Result<std::unique_ptr<TlsContext>> create(const Config& cfg);
  ~TlsContext();
  SSL_CTX* get() const { return ctx_; }

 private:
  explicit TlsContext(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
};

class Transport {
 public:
  Transport(int in_fd, int out_fd) : in_fd_(in_fd), out_fd_(out_fd) {}
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Runs the server side of a TLS handshake; afterwards every read and write
  // is encrypted. kIoError if the handshake fails.
  Status start_tls(const TlsContext& ctx, std::chrono::milliseconds timeout);
  bool tls() const { return ssl_ != nullptr; }

  // Waits at most `timeout` for input. Returns what arrived, or "" with
  // `*timed_out` set; kIoError at end of stream or on error.
  Result<std::string> read(std::chrono::milliseconds timeout, bool* timed_out);
  Status write(std::string_view data);

 private:
  bool wait(short events, std::chrono::milliseconds timeout);

  int in_fd_;
  int out_fd_;
  SSL* ssl_ = nullptr;
};

}  // namespace replimail::imap
