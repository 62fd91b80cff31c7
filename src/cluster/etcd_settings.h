// How a cluster program reaches etcd: the members (cluster_etcd_endpoints)
// and the credentials of imapd.conf's cluster_etcd_* options (docs/CLUSTER.md):
// TLS with a CA file (https:// endpoints: the member's certificate checked
// against it, its host name or IP address too), a client certificate for
// etcd's --client-cert-auth, and etcd's user/password authentication.
// Parsing and checking only; etcd_client.h connects.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/status.h"

namespace replimail::cluster {

struct Endpoint {
  std::string host;
  int port = 2379;
  bool tls = false;  // https://
};

// "http://a:2379, b:2379" or "https://a:2379,https://b:2379" (comma or
// space separated; a bare host:port is http). Every member speaks the same
// scheme: a mix is refused. kConfigError names a bad entry.
Result<std::vector<Endpoint>> parse_endpoints(std::string_view text);

struct EtcdCredentials {
  std::string ca_file;    // cluster_etcd_cacert; empty: the system's CAs
  std::string cert_file;  // cluster_etcd_cert (etcd's --client-cert-auth)
  std::string key_file;   // cluster_etcd_key
  std::string user;       // cluster_etcd_user (etcd's `auth enable`)
  std::string password;   // cluster_etcd_password
};

struct EtcdSettings {
  std::vector<Endpoint> endpoints;
  EtcdCredentials credentials;
  bool tls() const { return !endpoints.empty() && endpoints.front().tls; }
};

// The cluster_etcd_* options of `config`, checked: the endpoints parse;
// TLS files only with https:// endpoints; cert and key, user and password
// in pairs; the CA, cert and key files readable PEM, the key the cert's.
// kConfigError naming the option ("cluster_etcd_endpoints is not set"
// when it is empty).
Result<EtcdSettings> etcd_settings(const Config& config);

// The checks of etcd_settings() on settings already read (tests build
// them by hand).
Status check_etcd_settings(const EtcdSettings& settings);

}  // namespace replimail::cluster
