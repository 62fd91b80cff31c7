#include "cluster/etcd_settings.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>

namespace replimail::cluster {
namespace {

Status bad_endpoint(std::string_view item, std::string_view why) {
  return Status(Code::kConfigError,
                "cluster_etcd_endpoints: " + std::string(item) + ": " + std::string(why));
}

// One entry of cluster_etcd_endpoints without its scheme.
Result<Endpoint> parse_host_port(std::string_view item, std::string_view whole) {
  while (!item.empty() && item.back() == '/') item.remove_suffix(1);
  Endpoint e;
  size_t colon = item.rfind(':');
  std::string_view host = item;
  if (colon != std::string_view::npos && item.find(']', colon) == std::string_view::npos) {
    host = item.substr(0, colon);
    std::string_view port = item.substr(colon + 1);
    int p = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || ptr != port.data() + port.size() || p <= 0 || p > 65535)
      return bad_endpoint(whole, "bad port");
    e.port = p;
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) return bad_endpoint(whole, "no host");
  e.host = std::string(host);
  return e;
}

// The newest OpenSSL error of this thread, for a message ("" if none).
std::string openssl_error() {
  unsigned long err = ERR_peek_last_error();
  ERR_clear_error();
  if (err == 0) return "";
  char buf[256];
  ERR_error_string_n(err, buf, sizeof buf);
  return std::string(": ") + buf;
}

Status unreadable(const char* option, const std::string& path) {
  if (access(path.c_str(), R_OK) == 0) return Status::success();
  return Status(Code::kConfigError,
                std::string(option) + ": " + path + ": " + std::strerror(errno));
}

// Loads the CA, cert and key files the way the client will, so that a bad
// file stops the program at start rather than failing every call.
Status check_tls_files(const EtcdCredentials& c) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        SSL_CTX_free);
  if (!ctx) return Status(Code::kInternal, "SSL_CTX_new failed" + openssl_error());
  if (!c.ca_file.empty()) {
    if (Status s = unreadable("cluster_etcd_cacert", c.ca_file); !s.is_ok()) return s;
    if (SSL_CTX_load_verify_locations(ctx.get(), c.ca_file.c_str(), nullptr) != 1)
      return Status(Code::kConfigError, "cluster_etcd_cacert: " + c.ca_file +
                                            ": no PEM CA certificate" + openssl_error());
  }
  if (c.cert_file.empty()) return Status::success();
  if (Status s = unreadable("cluster_etcd_cert", c.cert_file); !s.is_ok()) return s;
  if (Status s = unreadable("cluster_etcd_key", c.key_file); !s.is_ok()) return s;
  if (SSL_CTX_use_certificate_file(ctx.get(), c.cert_file.c_str(), SSL_FILETYPE_PEM) != 1)
    return Status(Code::kConfigError,
                  "cluster_etcd_cert: " + c.cert_file + ": no PEM certificate" + openssl_error());
  // OpenSSL checks the key against the certificate as it loads it.
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), c.key_file.c_str(), SSL_FILETYPE_PEM) == 1 &&
      SSL_CTX_check_private_key(ctx.get()) == 1)
    return Status::success();
  if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
    ERR_clear_error();
    return Status(Code::kConfigError, "cluster_etcd_key: " + c.key_file +
                                          " is not the key of cluster_etcd_cert " + c.cert_file);
  }
  return Status(Code::kConfigError,
                "cluster_etcd_key: " + c.key_file + ": no PEM private key" + openssl_error());
}

}  // namespace

Result<std::vector<Endpoint>> parse_endpoints(std::string_view text) {
  std::vector<Endpoint> out;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = text.find_first_of(", \t", i);
    if (j == std::string_view::npos) j = text.size();
    std::string_view item = text.substr(i, j - i);
    i = j + 1;
    if (item.empty()) continue;
    std::string_view rest = item;
    bool tls = false;
    if (rest.substr(0, 7) == "http://") {
      rest.remove_prefix(7);
    } else if (rest.substr(0, 8) == "https://") {
      rest.remove_prefix(8);
      tls = true;
    } else if (rest.find("://") != std::string_view::npos) {
      return bad_endpoint(item, "the scheme is http:// or https://");
    }
    auto e = parse_host_port(rest, item);
    if (!e.ok()) return e.status();
    e->tls = tls;
    if (!out.empty() && out.front().tls != tls)
      return bad_endpoint(item, "every member must be http:// or every one https://");
    out.push_back(std::move(*e));
  }
  if (out.empty()) return Status(Code::kConfigError, "cluster_etcd_endpoints: no etcd member");
  return out;
}

Status check_etcd_settings(const EtcdSettings& s) {
  const EtcdCredentials& c = s.credentials;
  if (s.endpoints.empty())
    return Status(Code::kConfigError, "cluster_etcd_endpoints: no etcd member");
  if (!s.tls()) {
    for (auto [option, value] : {std::pair{"cluster_etcd_cacert", &c.ca_file},
                                 std::pair{"cluster_etcd_cert", &c.cert_file},
                                 std::pair{"cluster_etcd_key", &c.key_file}}) {
      if (!value->empty())
        return Status(Code::kConfigError, std::string(option) +
                                              " is set but cluster_etcd_endpoints are "
                                              "http://: TLS to etcd needs https:// members");
    }
  }
  if (c.cert_file.empty() != c.key_file.empty())
    return Status(Code::kConfigError, "cluster_etcd_cert and cluster_etcd_key go together");
  if (c.user.empty() != c.password.empty())
    return Status(Code::kConfigError, "cluster_etcd_user and cluster_etcd_password go together");
  return s.tls() ? check_tls_files(c) : Status::success();
}

Result<EtcdSettings> etcd_settings(const Config& config) {
  std::string endpoints = config.get("cluster_etcd_endpoints");
  if (endpoints.empty()) return Status(Code::kConfigError, "cluster_etcd_endpoints is not set");
  auto parsed = parse_endpoints(endpoints);
  if (!parsed.ok()) return parsed.status();
  EtcdSettings s;
  s.endpoints = std::move(*parsed);
  s.credentials.ca_file = config.get("cluster_etcd_cacert");
  s.credentials.cert_file = config.get("cluster_etcd_cert");
  s.credentials.key_file = config.get("cluster_etcd_key");
  s.credentials.user = config.get("cluster_etcd_user");
  s.credentials.password = config.get("cluster_etcd_password");
  if (Status st = check_etcd_settings(s); !st.is_ok()) return st;
  return s;
}

}  // namespace replimail::cluster
