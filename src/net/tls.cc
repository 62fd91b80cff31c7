#include "net/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "common/ascii.h"

namespace replimail::net {
namespace {

std::string ssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// Cyrus's "no file" spellings for the tls_client_* options.
std::string file_option(const Config& cfg, const char* key) {
  std::string v = cfg.get(key);
  return v == "disabled" ? std::string() : v;
}

bool is_ip_address(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

int poll_ms(std::chrono::milliseconds timeout) {
  return timeout.count() <= 0 ? -1 : static_cast<int>(timeout.count());
}

// Cyrus 3.6's tls_client_certs, an enum: "0", "no", "f", "false" are "off"
// too (its libconfig maps them), anything else is a configuration error.
enum class ClientCerts { kOff, kOptional, kRequire };

Result<ClientCerts> client_certs(const Config& cfg) {
  std::string v = to_lower(cfg.get("tls_client_certs"));
  if (v == "optional") return ClientCerts::kOptional;
  if (v == "require") return ClientCerts::kRequire;
  if (v == "off" || v == "0" || v == "no" || v == "f" || v == "false") return ClientCerts::kOff;
  return Status(Code::kConfigError,
                "tls_client_certs: '" + v + "' is not off, optional or require");
}

}  // namespace

Result<std::unique_ptr<TlsContext>> TlsContext::create(const Config& cfg) {
  std::string cert = cfg.get("tls_server_cert");
  std::string key = cfg.get("tls_server_key");
  if (cert.empty() || key.empty()) {
    return Status(Code::kConfigError, "tls_server_cert and tls_server_key are not both set");
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return Status(Code::kInternal, ssl_error());
  std::unique_ptr<TlsContext> out(new TlsContext(ctx));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
    return Status(Code::kConfigError, "tls_server_cert " + cert + ": " + ssl_error());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    return Status(Code::kConfigError, "tls_server_key " + key + ": " + ssl_error());
  }
  auto mode = client_certs(cfg);
  if (!mode.ok()) return mode.status();
  if (*mode == ClientCerts::kOff) return out;  // no client is asked for a certificate
  std::string ca_file = cfg.get("tls_client_ca_file");
  std::string ca_dir = cfg.get("tls_client_ca_dir");
  if (ca_file.empty() && ca_dir.empty()) {
    // Cyrus's server engine fails here too: TLS is not offered at all
    // rather than offered without the check the operator asked for.
    if (*mode == ClientCerts::kRequire)
      return Status(Code::kConfigError,
                    "tls_client_certs: require needs tls_client_ca_file or tls_client_ca_dir "
                    "(the CAs a client's certificate must verify against)");
    return out;
  }
  if (SSL_CTX_load_verify_locations(ctx, ca_file.empty() ? nullptr : ca_file.c_str(),
                                    ca_dir.empty() ? nullptr : ca_dir.c_str()) != 1) {
    return Status(Code::kConfigError,
                  "tls_client_ca_file/tls_client_ca_dir " + ca_file + ca_dir + ": " + ssl_error());
  }
  if (!ca_file.empty()) {
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca_file.c_str()))
      SSL_CTX_set_client_CA_list(ctx, names);
  }
  // Asked for; a certificate that does not verify is refused (Cyrus's
  // callback lets one through, to be ignored later: stricter here).
  // "require": a client without one is refused at the handshake.
  int verify = SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE;
  if (*mode == ClientCerts::kRequire) verify |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(ctx, verify, nullptr);
  // The session id context a server asking for certificates must have.
  static const unsigned char kSid[] = "replimail";
  SSL_CTX_set_session_id_context(ctx, kSid, sizeof kSid - 1);
  return out;
}

Result<std::unique_ptr<TlsContext>> TlsContext::create_client(const Config& cfg) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return Status(Code::kInternal, ssl_error());
  std::unique_ptr<TlsContext> out(new TlsContext(ctx));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION);
  std::string ca_file = cfg.get("tls_server_ca_file");
  std::string ca_dir = cfg.get("tls_server_ca_dir");
  if (ca_file.empty() && ca_dir.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1)
      return Status(Code::kConfigError, "the system's CA certificates: " + ssl_error());
    out->trust_ = "the system's trust store (tls_server_ca_file is not set)";
  } else {
    if (SSL_CTX_load_verify_locations(ctx, ca_file.empty() ? nullptr : ca_file.c_str(),
                                      ca_dir.empty() ? nullptr : ca_dir.c_str()) != 1) {
      return Status(Code::kConfigError, "tls_server_ca_file/tls_server_ca_dir " + ca_file +
                                            (ca_file.empty() || ca_dir.empty() ? "" : " ") +
                                            ca_dir + ": " + ssl_error());
    }
    out->trust_ =
        !ca_file.empty() ? "tls_server_ca_file " + ca_file : "tls_server_ca_dir " + ca_dir;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  std::string cert = file_option(cfg, "tls_client_cert");
  std::string key = file_option(cfg, "tls_client_key");
  if (!cert.empty() || !key.empty()) {
    if (cert.empty() || key.empty())
      return Status(Code::kConfigError, "tls_client_cert and tls_client_key are not both set");
    if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1)
      return Status(Code::kConfigError, "tls_client_cert " + cert + ": " + ssl_error());
    if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1)
      return Status(Code::kConfigError, "tls_client_key " + key + ": " + ssl_error());
  }
  return out;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

Result<const TlsContext*> LazyClientTlsContext::get() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!made_) {
    made_ = true;
    auto ctx = TlsContext::create_client(cfg_);
    if (ctx.ok())
      ctx_ = std::move(ctx).value();
    else
      error_ = ctx.status();
  }
  if (!ctx_) return error_;
  return static_cast<const TlsContext*>(ctx_.get());
}

bool LazyClientTlsContext::made() const {
  std::lock_guard<std::mutex> lock(mu_);
  return made_;
}

TlsSession::~TlsSession() {
  SSL_shutdown(ssl_);
  SSL_free(ssl_);
}

bool TlsSession::wait(short events, std::chrono::milliseconds timeout) const {
  pollfd p{events == POLLIN ? in_fd_ : out_fd_, events, 0};
  int rc;
  do {
    rc = ::poll(&p, 1, poll_ms(timeout));
  } while (rc < 0 && errno == EINTR);
  return rc > 0;
}

Status TlsSession::handshake(int (*step)(SSL*), std::chrono::milliseconds timeout) {
  while (true) {
    int rc = step(ssl_);
    if (rc == 1) return Status();
    int err = SSL_get_error(ssl_, rc);
    if (err == SSL_ERROR_WANT_READ && wait(POLLIN, timeout)) continue;
    if (err == SSL_ERROR_WANT_WRITE && wait(POLLOUT, timeout)) continue;
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
      return Status(Code::kIoError, "TLS handshake failed: the peer fell silent");
    return Status(Code::kIoError, "TLS handshake failed: " + ssl_error());
  }
}

Result<std::unique_ptr<TlsSession>> TlsSession::create(const TlsContext& ctx, int in_fd,
                                                       int out_fd) {
  SSL* ssl = SSL_new(ctx.get());
  if (!ssl) return Status(Code::kIoError, ssl_error());
  std::unique_ptr<TlsSession> s(new TlsSession(ssl, in_fd, out_fd));
  SSL_set_rfd(ssl, in_fd);
  SSL_set_wfd(ssl, out_fd);
  return s;
}

Result<std::unique_ptr<TlsSession>> TlsSession::accept(const TlsContext& ctx, int in_fd, int out_fd,
                                                       std::chrono::milliseconds timeout) {
  auto created = create(ctx, in_fd, out_fd);
  if (!created.ok()) return created.status();
  std::unique_ptr<TlsSession> s = std::move(*created);
  SSL* ssl = s->ssl_;
  if (Status st = s->handshake(SSL_accept, timeout); !st) {
    SSL_set_quiet_shutdown(ssl, 1);
    return st;
  }
  return s;
}

Result<std::unique_ptr<TlsSession>> TlsSession::connect(const TlsContext& ctx, int in_fd,
                                                        int out_fd, const std::string& host,
                                                        std::chrono::milliseconds timeout) {
  auto created = create(ctx, in_fd, out_fd);
  if (!created.ok()) return created.status();
  std::unique_ptr<TlsSession> s = std::move(*created);
  SSL* ssl = s->ssl_;
  // The certificate must name the host sync_host names: its address for an
  // address, else the DNS name (also sent as SNI).
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (is_ip_address(host)) {
    X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl, host.c_str());
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
  }
  Status st = s->handshake(SSL_connect, timeout);
  long verified = SSL_get_verify_result(ssl);
  if (verified != X509_V_OK) {
    SSL_set_quiet_shutdown(ssl, 1);
    return Status(Code::kPermissionDenied,
                  "TLS: the certificate of " + host + " does not verify (" +
                      X509_verify_cert_error_string(verified) + ") against " + ctx.trust());
  }
  if (!st) {
    SSL_set_quiet_shutdown(ssl, 1);
    return st;
  }
  return s;
}

Result<size_t> TlsSession::read(char* buf, size_t n, std::chrono::milliseconds timeout,
                                bool* timed_out) {
  *timed_out = false;
  if (SSL_pending(ssl_) == 0 && !wait(POLLIN, timeout)) {
    *timed_out = true;
    return size_t{0};
  }
  int got = SSL_read(ssl_, buf, static_cast<int>(std::min<size_t>(n, 1 << 30)));
  if (got > 0) return static_cast<size_t>(got);
  int err = SSL_get_error(ssl_, got);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return size_t{0};
  if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0))
    return Status(Code::kIoError, "end of stream");
  return Status(Code::kIoError, "TLS read: " + ssl_error());
}

Status TlsSession::write(std::string_view data, std::chrono::milliseconds timeout) {
  while (!data.empty()) {
    int n = SSL_write(ssl_, data.data(), static_cast<int>(std::min<size_t>(data.size(), 1 << 20)));
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    int err = SSL_get_error(ssl_, n);
    if ((err == SSL_ERROR_WANT_WRITE && wait(POLLOUT, timeout)) ||
        (err == SSL_ERROR_WANT_READ && wait(POLLIN, timeout))) {
      continue;
    }
    return Status(Code::kIoError, "TLS write failed");
  }
  return Status();
}

std::string TlsSession::description() const {
  std::string out = std::string(SSL_get_version(ssl_)) + " " + SSL_get_cipher_name(ssl_);
  if (X509* peer = SSL_get1_peer_certificate(ssl_)) {
    char cn[256] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
    X509_free(peer);
    out += std::string(" (peer certificate CN=") + cn + ")";
  }
  return out;
}

}  // namespace replimail::net
