// A client of an etcd v3 cluster through its JSON gateway (the HTTP port
// every etcd member serves beside gRPC: POST /v3/kv/range etc.), over
// cpp-httplib (Debian's libcpp-httplib: a maintained client and server in
// one library, blocking calls that suit our threads, and a streaming
// receiver for /v3/watch; mailauthd serves nginx with the same library).
//
// Endpoints are the cluster's members ("http://10.0.0.1:2379" or
// "10.0.0.1:2379"). A call goes to the member that last answered; when it
// cannot be reached, or answers that it has no leader, the next member is
// tried, each at most once per call. Every etcd request is linearizable
// (the gateway's default), so whichever member answers, the answer is the
// cluster's. Errors: kAgain (no member answered, or etcd said to retry),
// kNotFound (a lease etcd does not know), kProtocolError (an answer we
// cannot read), kInvalidArgument (etcd refused the request).
//
// Thread-safe: each call opens its own HTTP connection (etcd requests are
// rare: registration, keepalives, one range per login).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/etcd_codec.h"
#include "common/status.h"

namespace replimail::cluster {

struct Endpoint {
  std::string host;
  int port = 2379;
};

// "http://a:2379, b:2379" (comma or space separated; only http: TLS to etcd
// is not implemented yet). kConfigError names a bad entry.
Result<std::vector<Endpoint>> parse_endpoints(std::string_view text);

class EtcdClient {
 public:
  // `timeout`: connecting to and hearing from one member in one call.
  explicit EtcdClient(std::vector<Endpoint> endpoints,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));

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

 private:
  // POSTs `body` to `path` on the members in turn; the body of the first
  // real answer (HTTP 200, or an etcd error that no other member would
  // answer differently).
  Result<std::string> post(const std::string& path, const std::string& body);

  std::vector<Endpoint> endpoints_;
  std::chrono::milliseconds timeout_;
  std::mutex mu_;
  size_t current_ = 0;  // the member that last answered
};

}  // namespace replimail::cluster
