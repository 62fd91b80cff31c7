#include "net/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace replimail::net {
namespace {

std::string ssl_error() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
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
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
    return Status(Code::kConfigError, "tls_server_cert " + cert + ": " + ssl_error());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    return Status(Code::kConfigError, "tls_server_key " + key + ": " + ssl_error());
  }
  return out;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

Transport::~Transport() {
  if (ssl_) {
    SSL_shutdown(ssl_);
    SSL_free(ssl_);
  }
}

bool Transport::wait(short events, std::chrono::milliseconds timeout) {
  pollfd p{events == POLLIN ? in_fd_ : out_fd_, events, 0};
  int rc;
  do {
    rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
  } while (rc < 0 && errno == EINTR);
  return rc > 0;
}

Status Transport::start_tls(const TlsContext& ctx, std::chrono::milliseconds timeout) {
  ssl_ = SSL_new(ctx.get());
  if (!ssl_) return Status(Code::kIoError, ssl_error());
  SSL_set_rfd(ssl_, in_fd_);
  SSL_set_wfd(ssl_, out_fd_);
  while (true) {
    int rc = SSL_accept(ssl_);
    if (rc == 1) return Status();
    int err = SSL_get_error(ssl_, rc);
    if (err == SSL_ERROR_WANT_READ && wait(POLLIN, timeout)) continue;
    if (err == SSL_ERROR_WANT_WRITE && wait(POLLOUT, timeout)) continue;
    std::string why = ssl_error();
    SSL_free(ssl_);
    ssl_ = nullptr;
    return Status(Code::kIoError, "TLS handshake failed: " + why);
  }
}

Status Transport::start_compression(std::string_view already_read) {
  // Level 1, as the csync client: a phone's link gains little from more,
  // and the server's CPU pays for every byte it sends.
  auto d = Deflater::create(1);
  if (!d.ok()) return d.status();
  auto i = Inflater::create();
  if (!i.ok()) return i.status();
  deflater_ = std::make_unique<Deflater>(std::move(d).value());
  inflater_ = std::make_unique<Inflater>(std::move(i).value());
  return inflater_->decompress(already_read, &inflated_);
}

Result<std::string> Transport::read(std::chrono::milliseconds timeout, bool* timed_out) {
  *timed_out = false;
  if (!inflater_) return read_wire(timeout, timed_out);
  if (!inflated_.empty()) return std::exchange(inflated_, {});
  auto raw = read_wire(timeout, timed_out);
  if (!raw.ok() || raw->empty()) return raw;
  std::string out;
  if (Status s = inflater_->decompress(*raw, &out); !s) return s;
  return out;
}

Status Transport::write(std::string_view data) {
  if (!deflater_) return write_wire(data);
  std::string out;
  if (Status s = deflater_->compress(data, /*sync_flush=*/true, &out); !s) return s;
  return write_wire(out);
}

Result<std::string> Transport::read_wire(std::chrono::milliseconds timeout, bool* timed_out) {
  char buf[64 * 1024];
  if (!(ssl_ && SSL_pending(ssl_) > 0) && !wait(POLLIN, timeout)) {
    *timed_out = true;
    return std::string();
  }
  if (ssl_) {
    int n = SSL_read(ssl_, buf, sizeof buf);
    if (n > 0) return std::string(buf, static_cast<size_t>(n));
    int err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return std::string();
    return Status(Code::kIoError, "TLS read: end of stream");
  }
  ssize_t n;
  do {
    n = ::read(in_fd_, buf, sizeof buf);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return Status(Code::kIoError, n == 0 ? "end of stream" : "read failed");
  return std::string(buf, static_cast<size_t>(n));
}

Status Transport::write_wire(std::string_view data) {
  while (!data.empty()) {
    if (ssl_) {
      int n =
          SSL_write(ssl_, data.data(), static_cast<int>(std::min<size_t>(data.size(), 1 << 20)));
      if (n > 0) {
        data.remove_prefix(static_cast<size_t>(n));
        continue;
      }
      int err = SSL_get_error(ssl_, n);
      if ((err == SSL_ERROR_WANT_WRITE && wait(POLLOUT, std::chrono::seconds(60))) ||
          (err == SSL_ERROR_WANT_READ && wait(POLLIN, std::chrono::seconds(60)))) {
        continue;
      }
      return Status(Code::kIoError, "TLS write failed");
    }
    ssize_t n = ::write(out_fd_, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN && wait(POLLOUT, std::chrono::seconds(60))) continue;
    if (n <= 0) return Status(Code::kIoError, "write failed");
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status();
}

}  // namespace replimail::net
