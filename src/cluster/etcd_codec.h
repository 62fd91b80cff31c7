// etcd v3's JSON gateway (https://etcd.io/docs/v3.4/dev-guide/api_grpc_gateway/)
// as pure functions: the request bodies of /v3/kv/put, range, deleterange,
// txn, /v3/lease/grant, keepalive, revoke and /v3/watch, and the parsing of
// their answers. Keys and values travel base64-encoded; 64-bit integers are
// JSON strings in etcd 3.4's answers (numbers accepted too); a field at its
// default (0, false, empty) is left out by the gateway, so every field is
// optional here. No I/O: etcd_client.h does the HTTP.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace replimail::cluster {

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;
};

struct RangeResult {
  int64_t revision = 0;  // the store's revision when the range was read
  std::vector<KeyValue> kvs;
  bool more = false;
};

// The end of the range of every key that starts with `prefix` (etcd's
// "prefix end": the last byte below 0xff incremented, what follows
// dropped); "\0" (every key) when there is no such byte.
std::string prefix_end(std::string_view prefix);

// A condition of a transaction on one key.
struct Compare {
  enum class Target { kVersion, kCreate, kMod, kValue };
  enum class Result { kEqual, kGreater, kLess, kNotEqual };
  std::string key;
  Target target = Target::kMod;
  Result result = Result::kEqual;
  int64_t number = 0;  // version / create_revision / mod_revision
  std::string value;   // kValue
};

// One operation of a transaction's branch.
struct TxnOp {
  enum class Kind { kPut, kDelete, kRange };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;      // kPut
  std::string range_end;  // kDelete, kRange: "" for the key alone
  int64_t lease = 0;      // kPut
};

struct Txn {
  std::vector<Compare> compare;
  std::vector<TxnOp> success;
  std::vector<TxnOp> failure;
};

struct TxnResult {
  bool succeeded = false;
  int64_t revision = 0;
  // The ranges of the branch taken, in order (one per kRange operation).
  std::vector<RangeResult> ranges;
};

struct Lease {
  int64_t id = 0;
  int64_t ttl = 0;  // seconds
};

struct WatchEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;  // a deletion carries the key and its mod_revision only
};

// One message of a watch stream.
struct WatchMessage {
  int64_t revision = 0;  // the header's
  bool created = false;
  bool canceled = false;
  int64_t compact_revision = 0;  // > 0: the start revision was compacted away
  std::string cancel_reason;
  std::vector<WatchEvent> events;
};

// Request bodies.
std::string put_request(std::string_view key, std::string_view value, int64_t lease = 0);
std::string range_request(std::string_view key, std::string_view range_end = {}, int64_t limit = 0);
std::string delete_request(std::string_view key, std::string_view range_end = {});
std::string txn_request(const Txn& txn);
std::string lease_grant_request(int64_t ttl_seconds);
std::string lease_id_request(int64_t id);  // keepalive, revoke
// Watches `key` (to `range_end`) from `start_revision` (0: from now on).
std::string watch_create_request(std::string_view key, std::string_view range_end,
                                 int64_t start_revision);

// /v3/auth/authenticate's body, and the token of its answer.
std::string authenticate_request(std::string_view user, std::string_view password);
Result<std::string> parse_authenticate_response(std::string_view body);

// Answers. kProtocolError names what is malformed; an error answer of the
// gateway ({"error": ..., "code": ...}) comes back as kAgain when etcd says
// to retry (unavailable, no leader, timeouts), kPermissionDenied when etcd
// does not know the auth token (gRPC UNAUTHENTICATED: authenticate again),
// else kInvalidArgument, with etcd's message.
Result<int64_t> parse_put_response(std::string_view body);  // the revision
Result<RangeResult> parse_range_response(std::string_view body);
Result<int64_t> parse_delete_response(std::string_view body);  // keys deleted
Result<TxnResult> parse_txn_response(std::string_view body);
Result<Lease> parse_lease_grant_response(std::string_view body);
// The TTL left after the keepalive; 0 when the lease is gone (expired or
// revoked). /v3/lease/keepalive wraps its answer in {"result": ...}.
Result<int64_t> parse_keepalive_response(std::string_view body);
// One line of /v3/watch's stream ({"result": ...} or {"error": ...}).
Result<WatchMessage> parse_watch_message(std::string_view line);

}  // namespace replimail::cluster
