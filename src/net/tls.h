// TLS for every service and for the replication link: the server context
// from imapd.conf (imapd, pop3d, sync_server), the client context
// (sync_client towards a replica), one handshake-and-record layer
// (TlsSession) over a connection's descriptors, and the byte transport of
// imapd/pop3d that is plain until start_tls() (STARTTLS, STLS, or at once
// on an imaps/pop3s listener) and encrypted afterwards. Compression (IMAP's
// COMPRESS=DEFLATE, csync's COMPRESS DEFLATE) sits above TLS when both are
// on: bytes are deflated, then encrypted. net::Stream reads and writes
// through a TlsSession once it is given one (csync's sync::Transport).
//
// A TlsContext is immutable after creation and may be shared by the
// sessions of one process. TlsSession and Transport are not thread-safe and
// do not own their descriptors.
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

class Transport {
 public:
  Transport(int in_fd, int out_fd) : in_fd_(in_fd), out_fd_(out_fd) {}
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Runs the server side of a TLS handshake, waiting at most `timeout` for
  // the peer at each step; afterwards every read and write is encrypted.
  // kIoError if the handshake fails (the transport stays plain, but the
  // connection should be dropped: the peer's state is unknown).
  // REQUIRES: !tls().
  Status start_tls(const TlsContext& ctx, std::chrono::milliseconds timeout);
  bool tls() const { return tls_ != nullptr; }

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
  std::unique_ptr<TlsSession> tls_;
  std::unique_ptr<Deflater> deflater_;
  std::unique_ptr<Inflater> inflater_;
  std::string inflated_;  // from start_compression(), for the next read()
};

}  // namespace replimail::net
