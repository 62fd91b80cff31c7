// A client of an etcd v3 cluster through its JSON gateway (the HTTP port
// every etcd member serves beside gRPC: POST /v3/kv/range etc.), over
// cpp-httplib (Debian's libcpp-httplib: a maintained client and server in
// one library, blocking calls that suit our threads, and a streaming
// receiver for /v3/watch; mailauthd serves nginx with the same library).
//
// Endpoints are the cluster's members (etcd_settings.h: "http://10.0.0.1:2379",
// "10.0.0.1:2379", or all "https://..."). A call goes to the member that last
// answered; when it cannot be reached, or answers that it has no leader, the
// next member is tried, each at most once per call. Every etcd request is
// linearizable (the gateway's default), so whichever member answers, the
// answer is the cluster's. Errors: kAgain (no member answered, or etcd said
// to retry; a TLS handshake refused either way is one of these, its message
// says which side refused), kNotFound (a lease etcd does not know),
// kProtocolError (an answer we cannot read), kInvalidArgument (etcd refused
// the request, or the user/password).
//
// Credentials (EtcdCredentials): https members are verified against the CA
// file (the name or IP address the endpoint gives must be in the member's
// certificate); a client certificate is presented when set; with a user,
// the client authenticates (/v3/auth/authenticate) before its first call
// and sends the token in every request's Authorization header, the watch's
// too. When etcd no longer knows the token (its --auth-token-ttl ran out, the
// member restarted) a call authenticates again and is sent once more.
//
// Thread-safe: each call opens its own HTTP connection (etcd requests are
// rare: registration, keepalives, one range per login); the token is shared.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/etcd_codec.h"
#include "cluster/etcd_settings.h"
#include "common/status.h"

namespace httplib {
class Client;
}

namespace replimail::cluster {

class EtcdClient {
 public:
  // `timeout`: connecting to and hearing from one member in one call.
  explicit EtcdClient(std::vector<Endpoint> endpoints,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
  // REQUIRES: check_etcd_settings(settings) passed (etcd_settings() did).
  explicit EtcdClient(EtcdSettings settings,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
  ~EtcdClient();

  Result<RangeResult> get(std::string_view key);
  Result<RangeResult> get_prefix(std::string_view prefix);
  Result<RangeResult> range(std::string_view key, std::string_view range_end);
  // The store revision of the put.
  Result<int64_t> put(std::string_view key, std::string_view value, int64_t lease = 0);
  // The number of keys deleted.
  Result<int64_t> erase(std::string_view key, std::string_view range_end = {});
  Result<TxnResult> txn(const Txn& txn);

  Result<Lease> lease_grant(std::chrono::seconds ttl);
  // Renews the lease: the TTL it has again; kNotFound when it has expired.
  Result<int64_t> lease_keepalive(int64_t id);
  Status lease_revoke(int64_t id);

  // Watches [key, range_end) from `start_revision` (0: changes from now
  // on) and hands each message to `on_message` until it returns false,
  // `stop` becomes true, or the stream is quiet for `idle` (checked between
  // messages, so a stop takes effect within `idle`). Returns the revision
  // after which a new watch must resume (the last message's), kOk meaning
  // that on_message or stop ended it; kAgain for a broken stream or idle
  // time-out (resume from the revision in the message), other codes as the
  // calls above. A watch whose start revision was compacted ends with
  // kNotFound: read the keys again, then watch from the read's revision + 1.
  struct WatchEnd {
    Status status;
    int64_t last_revision = 0;
  };
  WatchEnd watch(std::string_view key, std::string_view range_end, int64_t start_revision,
                 const std::function<bool(const WatchMessage&)>& on_message,
                 const std::atomic<bool>& stop,
                 std::chrono::milliseconds idle = std::chrono::milliseconds(1000));

  // How many tokens etcd gave this client (the first, and one per renewal).
  int64_t authentications() const { return authentications_.load(); }

 private:
  // POSTs `body` to `path` with the token, authenticating again once when
  // etcd no longer knows it.
  Result<std::string> post(const std::string& path, const std::string& body);
  // POSTs `body` to `path` on the members in turn; the body of the first
  // real answer (HTTP 200, or an etcd error that no other member would
  // answer differently).
  Result<std::string> post_as(const std::string& path, const std::string& body,
                              const std::string& token);
  WatchEnd watch_as(std::string_view key, std::string_view range_end, int64_t start_revision,
                    const std::function<bool(const WatchMessage&)>& on_message,
                    const std::atomic<bool>& stop, std::chrono::milliseconds idle,
                    const std::string& token);
  // A connection to `e`: TLS with the credentials' files for https.
  std::unique_ptr<httplib::Client> connect(const Endpoint& e,
                                           std::chrono::milliseconds read_timeout) const;
  // The token to send: "" without a user (or while etcd's auth is off);
  // authenticates when there is none yet.
  Result<std::string> token();
  // A new token, unless another thread replaced `stale` already.
  Result<std::string> renew_token(const std::string& stale);
  // REQUIRES: auth_mu_ held.
  Result<std::string> authenticate_locked();

  EtcdSettings settings_;
  std::chrono::milliseconds timeout_;
  std::mutex mu_;
  size_t current_ = 0;  // the member that last answered
  std::mutex auth_mu_;  // serializes authentication; guards the two below
  bool have_token_ = false;
  std::string token_;
  std::atomic<int64_t> authentications_{0};
};

}  // namespace replimail::cluster
