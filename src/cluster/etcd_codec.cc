#include "cluster/etcd_codec.h"

#include <nlohmann/json.hpp>

#include "common/base64.h"

namespace replimail::cluster {
namespace {

using json = nlohmann::json;

std::string b64(std::string_view s) { return base64_encode(s); }

// etcd 3.4 writes int64 as a string, int32 and bools as themselves.
Result<int64_t> get_int(const json& j, const char* field) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return int64_t{0};
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    try {
      size_t used = 0;
      int64_t v = std::stoll(s, &used);
      if (used == s.size()) return v;
    } catch (const std::exception&) {
    }
  }
  return Status(Code::kProtocolError, std::string("etcd: bad integer in ") + field);
}

bool get_bool(const json& j, const char* field) {
  auto it = j.find(field);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

Result<std::string> get_bytes(const json& j, const char* field) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return std::string();
  if (!it->is_string())
    return Status(Code::kProtocolError, std::string("etcd: ") + field + " not a string");
  auto decoded = base64_decode(it->get_ref<const std::string&>());
  if (!decoded) return Status(Code::kProtocolError, std::string("etcd: bad base64 in ") + field);
  return *decoded;
}

Result<json> parse_json(std::string_view body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status(Code::kProtocolError,
                  "etcd: answer is not a JSON object: " + std::string(body.substr(0, 200)));
  }
  // The gateway's error answer: {"error": "...", "code": <gRPC code>, ...}.
  auto err = j.find("error");
  if (err != j.end() && !err->is_object()) {
    std::string message = err->is_string() ? err->get<std::string>() : err->dump();
    if (message.empty() && j.contains("message") && j["message"].is_string())
      message = j["message"].get<std::string>();
    int code = j.contains("code") && j["code"].is_number_integer() ? j["code"].get<int>() : 0;
    switch (code) {
      case 4:   // DEADLINE_EXCEEDED
      case 10:  // ABORTED
      case 14:  // UNAVAILABLE (no leader, stopping)
        return Status(Code::kAgain, "etcd: " + message);
      case 5:  // NOT_FOUND (e.g. the lease)
        return Status(Code::kNotFound, "etcd: " + message);
      case 16:  // UNAUTHENTICATED: "invalid auth token" (expired, revoked)
        return Status(Code::kPermissionDenied, "etcd: " + message);
      default:
        return Status(Code::kInvalidArgument, "etcd: " + message);
    }
  }
  if (err != j.end() && err->is_object()) {
    std::string message = err->contains("message") ? (*err)["message"].dump() : err->dump();
    return Status(Code::kAgain, "etcd: " + message);
  }
  return j;
}

Result<int64_t> header_revision(const json& j) {
  auto it = j.find("header");
  if (it == j.end() || !it->is_object()) return int64_t{0};
  return get_int(*it, "revision");
}

Result<KeyValue> parse_kv(const json& j) {
  if (!j.is_object()) return Status(Code::kProtocolError, "etcd: key-value not an object");
  KeyValue kv;
  auto key = get_bytes(j, "key");
  auto value = get_bytes(j, "value");
  auto cr = get_int(j, "create_revision");
  auto mr = get_int(j, "mod_revision");
  auto ver = get_int(j, "version");
  auto lease = get_int(j, "lease");
  for (const Status& s :
       {key.status(), value.status(), cr.status(), mr.status(), ver.status(), lease.status()}) {
    if (!s.is_ok()) return s;
  }
  kv.key = std::move(*key);
  kv.value = std::move(*value);
  kv.create_revision = *cr;
  kv.mod_revision = *mr;
  kv.version = *ver;
  kv.lease = *lease;
  return kv;
}

Result<RangeResult> parse_range_object(const json& j) {
  RangeResult r;
  auto rev = header_revision(j);
  if (!rev.ok()) return rev.status();
  r.revision = *rev;
  r.more = get_bool(j, "more");
  auto kvs = j.find("kvs");
  if (kvs != j.end() && !kvs->is_null()) {
    if (!kvs->is_array()) return Status(Code::kProtocolError, "etcd: kvs not an array");
    for (const json& e : *kvs) {
      auto kv = parse_kv(e);
      if (!kv.ok()) return kv.status();
      r.kvs.push_back(std::move(*kv));
    }
  }
  return r;
}

json range_json(std::string_view key, std::string_view range_end, int64_t limit) {
  json j = {{"key", b64(key)}};
  if (!range_end.empty()) j["range_end"] = b64(range_end);
  if (limit > 0) j["limit"] = std::to_string(limit);
  return j;
}

json put_json(std::string_view key, std::string_view value, int64_t lease) {
  json j = {{"key", b64(key)}, {"value", b64(value)}};
  if (lease != 0) j["lease"] = std::to_string(lease);
  return j;
}

json delete_json(std::string_view key, std::string_view range_end) {
  json j = {{"key", b64(key)}};
  if (!range_end.empty()) j["range_end"] = b64(range_end);
  return j;
}

json op_json(const TxnOp& op) {
  switch (op.kind) {
    case TxnOp::Kind::kPut:
      return {{"request_put", put_json(op.key, op.value, op.lease)}};
    case TxnOp::Kind::kDelete:
      return {{"request_delete_range", delete_json(op.key, op.range_end)}};
    case TxnOp::Kind::kRange:
      return {{"request_range", range_json(op.key, op.range_end, 0)}};
  }
  return json::object();
}

const char* target_name(Compare::Target t) {
  switch (t) {
    case Compare::Target::kVersion:
      return "VERSION";
    case Compare::Target::kCreate:
      return "CREATE";
    case Compare::Target::kMod:
      return "MOD";
    case Compare::Target::kValue:
      return "VALUE";
  }
  return "MOD";
}

const char* result_name(Compare::Result r) {
  switch (r) {
    case Compare::Result::kEqual:
      return "EQUAL";
    case Compare::Result::kGreater:
      return "GREATER";
    case Compare::Result::kLess:
      return "LESS";
    case Compare::Result::kNotEqual:
      return "NOT_EQUAL";
  }
  return "EQUAL";
}

json compare_json(const Compare& c) {
  json j = {
      {"key", b64(c.key)}, {"target", target_name(c.target)}, {"result", result_name(c.result)}};
  switch (c.target) {
    case Compare::Target::kVersion:
      j["version"] = std::to_string(c.number);
      break;
    case Compare::Target::kCreate:
      j["create_revision"] = std::to_string(c.number);
      break;
    case Compare::Target::kMod:
      j["mod_revision"] = std::to_string(c.number);
      break;
    case Compare::Target::kValue:
      j["value"] = b64(c.value);
      break;
  }
  return j;
}

}  // namespace

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

std::string put_request(std::string_view key, std::string_view value, int64_t lease) {
  return put_json(key, value, lease).dump();
}

std::string range_request(std::string_view key, std::string_view range_end, int64_t limit) {
  return range_json(key, range_end, limit).dump();
}

std::string delete_request(std::string_view key, std::string_view range_end) {
  return delete_json(key, range_end).dump();
}

std::string txn_request(const Txn& txn) {
  json j = json::object();
  json compare = json::array();
  for (const Compare& c : txn.compare) compare.push_back(compare_json(c));
  json success = json::array();
  for (const TxnOp& op : txn.success) success.push_back(op_json(op));
  json failure = json::array();
  for (const TxnOp& op : txn.failure) failure.push_back(op_json(op));
  j["compare"] = compare;
  j["success"] = success;
  j["failure"] = failure;
  return j.dump();
}

std::string lease_grant_request(int64_t ttl_seconds) {
  return json{{"TTL", std::to_string(ttl_seconds)}}.dump();
}

std::string lease_id_request(int64_t id) { return json{{"ID", std::to_string(id)}}.dump(); }

std::string watch_create_request(std::string_view key, std::string_view range_end,
                                 int64_t start_revision) {
  json create = {{"key", b64(key)}};
  if (!range_end.empty()) create["range_end"] = b64(range_end);
  if (start_revision > 0) create["start_revision"] = std::to_string(start_revision);
  return json{{"create_request", create}}.dump();
}

Result<int64_t> parse_put_response(std::string_view body) {
  auto j = parse_json(body);
  if (!j.ok()) return j.status();
  return header_revision(*j);
}

Result<RangeResult> parse_range_response(std::string_view body) {
  auto j = parse_json(body);
  if (!j.ok()) return j.status();
  return parse_range_object(*j);
}

Result<int64_t> parse_delete_response(std::string_view body) {
  auto j = parse_json(body);
  if (!j.ok()) return j.status();
  return get_int(*j, "deleted");
}

Result<TxnResult> parse_txn_response(std::string_view body) {
  auto j = parse_json(body);
  if (!j.ok()) return j.status();
  TxnResult r;
  auto rev = header_revision(*j);
  if (!rev.ok()) return rev.status();
  r.revision = *rev;
  r.succeeded = get_bool(*j, "succeeded");
  auto responses = j->find("responses");
  if (responses != j->end() && responses->is_array()) {
    for (const json& op : *responses) {
      auto range = op.find("response_range");
      if (range == op.end()) continue;
      auto rr = parse_range_object(*range);
      if (!rr.ok()) return rr.status();
      r.ranges.push_back(std::move(*rr));
    }
  }
  return r;
}

std::string authenticate_request(std::string_view user, std::string_view password) {
  return json{{"name", std::string(user)}, {"password", std::string(password)}}.dump();
}

Result<std::string> parse_authenticate_response(std::string_view body) {
  auto j = parse_json(body);
  if (!j.ok()) return j.status();
  auto token = j->find("token");
  if (token == j->end() || !token->is_string() || token->get_ref<const std::string&>().empty())
    return Status(Code::kProtocolError, "etcd: authenticate answer without a token");
  return token->get<std::string>();
}

Result<Lease> parse_lease_grant_response(std::string_view body) {
  auto j = parse_json(body);
  if (!j.ok()) return j.status();
  if (j->contains("error") && (*j)["error"].is_string() &&
      !(*j)["error"].get<std::string>().empty())
    return Status(Code::kAgain, "etcd: " + (*j)["error"].get<std::string>());
  auto id = get_int(*j, "ID");
  auto ttl = get_int(*j, "TTL");
  if (!id.ok()) return id.status();
  if (!ttl.ok()) return ttl.status();
  if (*id == 0) return Status(Code::kProtocolError, "etcd: lease grant without an ID");
  return Lease{*id, *ttl};
}

Result<int64_t> parse_keepalive_response(std::string_view body) {
  auto j = parse_json(body);
  if (!j.ok()) return j.status();
  auto result = j->find("result");
  if (result == j->end() || !result->is_object())
    return Status(Code::kProtocolError, "etcd: keepalive answer without a result");
  return get_int(*result, "TTL");
}

Result<WatchMessage> parse_watch_message(std::string_view line) {
  auto j = parse_json(line);
  if (!j.ok()) return j.status();
  auto result = j->find("result");
  if (result == j->end() || !result->is_object())
    return Status(Code::kProtocolError, "etcd: watch message without a result");
  WatchMessage m;
  auto rev = header_revision(*result);
  auto compact = get_int(*result, "compact_revision");
  if (!rev.ok()) return rev.status();
  if (!compact.ok()) return compact.status();
  m.revision = *rev;
  m.compact_revision = *compact;
  m.created = get_bool(*result, "created");
  m.canceled = get_bool(*result, "canceled");
  if (result->contains("cancel_reason") && (*result)["cancel_reason"].is_string())
    m.cancel_reason = (*result)["cancel_reason"].get<std::string>();
  auto events = result->find("events");
  if (events != result->end() && !events->is_null()) {
    if (!events->is_array()) return Status(Code::kProtocolError, "etcd: events not an array");
    for (const json& e : *events) {
      WatchEvent ev;
      // PUT is the enum's zero, so the gateway leaves it out.
      auto type = e.find("type");
      if (type != e.end() && type->is_string() && type->get<std::string>() == "DELETE")
        ev.type = WatchEvent::Type::kDelete;
      auto kv = e.find("kv");
      if (kv == e.end()) return Status(Code::kProtocolError, "etcd: watch event without kv");
      auto parsed = parse_kv(*kv);
      if (!parsed.ok()) return parsed.status();
      ev.kv = std::move(*parsed);
      m.events.push_back(std::move(ev));
    }
  }
  return m;
}

}  // namespace replimail::cluster
