// TLS for every service and for the replication link: the server context
// from imapd.conf (imapd, pop3d, sync_server), the client context
// (sync_client towards a replica), and one handshake-and-record layer
// (TlsSession) over a connection's descriptors: the TLS layer of net::Stream
// (net/stream.h), switched on by STARTTLS, STLS, or at once on an
// imaps/pop3s listener or a sync_host's /tls.
//
// A TlsContext is immutable after creation and may be shared by the
// sessions of one process. TlsSession is not thread-safe and does not own
// its descriptors.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/config.h"
#include "common/status.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace replimail::net {

// A TLS context, TLS 1.2 or later, with Cyrus's options (imapd.conf(5)).
class TlsContext {
 public:
  // The server's: tls_server_cert (certificate chain, PEM) and
  // tls_server_key; kConfigError if either is missing or unusable. Client
  // certificates follow Cyrus's tls_client_certs: "off" never asks;
  // "optional" (the default) asks when tls_client_ca_file or
  // tls_client_ca_dir is set and serves a client that sends none;
  // "require" refuses the handshake of a client without one (kConfigError
  // without tls_client_ca_*, as Cyrus's engine fails). A certificate that
  // does not verify against tls_client_ca_* is always refused.
  static Result<std::unique_ptr<TlsContext>> create(const Config& cfg);
  // A client's (sync_client): the peer's certificate must verify against
  // tls_server_ca_file / tls_server_ca_dir (Cyrus's options for "the CA
  // certificates used to verify certificates offered by the server, when
  // cyrus acts as client"), or against the system's trust store when
  // neither is set; tls_client_cert / tls_client_key (unset or "disabled":
  // none) are presented when the server asks for a certificate.
  // kConfigError for a file that cannot be loaded.
  static Result<std::unique_ptr<TlsContext>> create_client(const Config& cfg);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;
  SSL_CTX* get() const { return ctx_; }
  // Where a client looks for the CAs it trusts, for error messages:
  // "tls_server_ca_file /etc/ca.pem" or "the system's trust store".
  const std::string& trust() const { return trust_; }

 private:
  explicit TlsContext(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
  std::string trust_;
};

// A client context made when first asked for, then kept (sync_client's):
// a replica reached in clear never needs one, and loading the system's
// trust store costs ~2 MiB of resident memory (issue 17). Cyrus likewise
// builds its client TLS engine only for STARTTLS. Thread-safe.
class LazyClientTlsContext {
 public:
  // Keeps a copy of `cfg` for TlsContext::create_client.
  explicit LazyClientTlsContext(Config cfg) : cfg_(std::move(cfg)) {}
  // The context, made by the first call (TlsContext::create_client); a
  // failure to make it is returned by every call.
  Result<const TlsContext*> get() const;
  // True once get() has made (or failed to make) the context.
  bool made() const;

 private:
  Config cfg_;
  mutable std::mutex mu_;
  mutable bool made_ = false;
  mutable std::unique_ptr<TlsContext> ctx_;
  mutable Status error_;
};

// One TLS connection over a pair of descriptors: the handshake, then
// application data read and written as records. Reads and writes wait at
// most the given timeout for the peer at each step (zero or less: no limit).
class TlsSession {
 public:
  // The server side of a handshake. kIoError if it fails.
  static Result<std::unique_ptr<TlsSession>> accept(const TlsContext& ctx, int in_fd, int out_fd,
                                                    std::chrono::milliseconds timeout);
  // The client side, towards `host` (a DNS name, sent as SNI, or an IP
  // address): the server's certificate must verify against the context's
  // CAs and name `host`. kPermissionDenied, with one line saying why, if
  // it does not (nothing has been sent but the handshake); kIoError if the
  // handshake fails otherwise.
  static Result<std::unique_ptr<TlsSession>> connect(const TlsContext& ctx, int in_fd, int out_fd,
                                                     const std::string& host,
                                                     std::chrono::milliseconds timeout);
  ~TlsSession();  // sends close_notify
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Reads at most `n` bytes into `buf`: their count, or 0 when a record
  // carried no application data or the wait timed out (`*timed_out` set).
  // kIoError at end of stream or on error.
  Result<size_t> read(char* buf, size_t n, std::chrono::milliseconds timeout, bool* timed_out);
  // Writes all of `data`. kIoError on error or when the peer stops reading
  // for longer than `timeout`.
  Status write(std::string_view data, std::chrono::milliseconds timeout);
  // "TLSv1.3 TLS_AES_256_GCM_SHA384 (peer certificate CN=name)", for logs.
  std::string description() const;

 private:
  TlsSession(SSL* ssl, int in_fd, int out_fd) : ssl_(ssl), in_fd_(in_fd), out_fd_(out_fd) {}
  // A session of `ctx` on the two descriptors, before its handshake.
  static Result<std::unique_ptr<TlsSession>> create(const TlsContext& ctx, int in_fd, int out_fd);
  // Drives SSL_accept/SSL_connect (`step`) to its end.
  Status handshake(int (*step)(SSL*), std::chrono::milliseconds timeout);
  bool wait(short events, std::chrono::milliseconds timeout) const;

  SSL* ssl_;
  int in_fd_;
  int out_fd_;
};

}  // namespace replimail::net
