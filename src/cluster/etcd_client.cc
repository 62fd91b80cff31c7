#include "cluster/etcd_client.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <charconv>

namespace replimail::cluster {
namespace {

constexpr const char* kJson = "application/json";

// The message of a transport failure, for logs and Status.
std::string describe(const Endpoint& e, httplib::Error err) {
  return e.host + ":" + std::to_string(e.port) + ": " + httplib::to_string(err);
}

void set_timeouts(httplib::Client& cli, std::chrono::milliseconds connect,
                  std::chrono::milliseconds read) {
  cli.set_connection_timeout(connect);
  cli.set_read_timeout(read);
  cli.set_write_timeout(connect);
  cli.set_keep_alive(false);
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
    if (item.substr(0, 7) == "http://") item.remove_prefix(7);
    if (item.substr(0, 8) == "https://")
      return Status(Code::kConfigError,
                    "etcd endpoint " + std::string(item) + ": TLS to etcd is not implemented");
    while (!item.empty() && item.back() == '/') item.remove_suffix(1);
    Endpoint e;
    size_t colon = item.rfind(':');
    std::string_view host = item;
    if (colon != std::string_view::npos) {
      host = item.substr(0, colon);
      std::string_view port = item.substr(colon + 1);
      int p = 0;
      auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
      if (ec != std::errc() || ptr != port.data() + port.size() || p <= 0 || p > 65535)
        return Status(Code::kConfigError, "etcd endpoint " + std::string(item) + ": bad port");
      e.port = p;
    }
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
    if (host.empty())
      return Status(Code::kConfigError, "etcd endpoint " + std::string(item) + ": no host");
    e.host = std::string(host);
    out.push_back(std::move(e));
  }
  if (out.empty()) return Status(Code::kConfigError, "no etcd endpoint given");
  return out;
}

EtcdClient::EtcdClient(std::vector<Endpoint> endpoints, std::chrono::milliseconds timeout)
    : endpoints_(std::move(endpoints)), timeout_(timeout) {}

Result<std::string> EtcdClient::post(const std::string& path, const std::string& body) {
  size_t first;
  {
    std::lock_guard<std::mutex> lock(mu_);
    first = current_;
  }
  std::string failures;
  for (size_t n = 0; n < endpoints_.size(); ++n) {
    size_t idx = (first + n) % endpoints_.size();
    const Endpoint& e = endpoints_[idx];
    httplib::Client cli(e.host, e.port);
    set_timeouts(cli, timeout_, timeout_);
    auto res = cli.Post(path, body, kJson);
    if (!res) {
      failures += (failures.empty() ? "" : "; ") + describe(e, res.error());
      continue;
    }
    if (res->status == 200) {
      std::lock_guard<std::mutex> lock(mu_);
      current_ = idx;
      return std::move(res->body);
    }
    // An error answer: one that names a condition of this member (no
    // leader, shutting down) is worth asking another member about.
    auto parsed = parse_put_response(res->body);
    Status why = parsed.ok() ? Status(Code::kProtocolError,
                                      "etcd: HTTP " + std::to_string(res->status) + " on " + path)
                             : parsed.status();
    if (why.code() != Code::kAgain) return why;
    failures += (failures.empty() ? "" : "; ") + e.host + ":" + std::to_string(e.port) + ": " +
                why.message();
  }
  return Status(Code::kAgain, "etcd: no member answered " + path + " (" + failures + ")");
}

Result<RangeResult> EtcdClient::get(std::string_view key) { return range(key, {}); }

Result<RangeResult> EtcdClient::get_prefix(std::string_view prefix) {
  return range(prefix, prefix_end(prefix));
}

Result<RangeResult> EtcdClient::range(std::string_view key, std::string_view range_end) {
  auto body = post("/v3/kv/range", range_request(key, range_end));
  if (!body.ok()) return body.status();
  return parse_range_response(*body);
}

Result<int64_t> EtcdClient::put(std::string_view key, std::string_view value, int64_t lease) {
  auto body = post("/v3/kv/put", put_request(key, value, lease));
  if (!body.ok()) return body.status();
  return parse_put_response(*body);
}

Result<int64_t> EtcdClient::erase(std::string_view key, std::string_view range_end) {
  auto body = post("/v3/kv/deleterange", delete_request(key, range_end));
  if (!body.ok()) return body.status();
  return parse_delete_response(*body);
}

Result<TxnResult> EtcdClient::txn(const Txn& t) {
  auto body = post("/v3/kv/txn", txn_request(t));
  if (!body.ok()) return body.status();
  return parse_txn_response(*body);
}

Result<Lease> EtcdClient::lease_grant(std::chrono::seconds ttl) {
  auto body = post("/v3/lease/grant", lease_grant_request(ttl.count()));
  if (!body.ok()) return body.status();
  return parse_lease_grant_response(*body);
}

Result<int64_t> EtcdClient::lease_keepalive(int64_t id) {
  // A stream in gRPC; through the gateway one request gets one answer.
  auto body = post("/v3/lease/keepalive", lease_id_request(id));
  if (!body.ok()) return body.status();
  auto ttl = parse_keepalive_response(*body);
  if (!ttl.ok()) return ttl.status();
  if (*ttl <= 0)
    return Status(Code::kNotFound, "etcd: lease " + std::to_string(id) + " has expired");
  return ttl;
}

Status EtcdClient::lease_revoke(int64_t id) {
  auto body = post("/v3/lease/revoke", lease_id_request(id));
  if (!body.ok()) return body.status();
  return parse_put_response(*body).status();
}

namespace {

// What ends a watch from etcd's side: its start revision compacted away
// (kNotFound: the caller re-reads and starts again) or the watch cancelled
// (kAgain); success for an ordinary message.
Status watch_refusal(const WatchMessage& msg) {
  if (msg.compact_revision > 0)
    return Status(Code::kNotFound, "etcd: watch start revision compacted (now " +
                                       std::to_string(msg.compact_revision) + ")");
  if (msg.canceled) return Status(Code::kAgain, "etcd: watch canceled: " + msg.cancel_reason);
  return Status::success();
}

}  // namespace

EtcdClient::WatchEnd EtcdClient::watch(std::string_view key, std::string_view range_end,
                                       int64_t start_revision,
                                       const std::function<bool(const WatchMessage&)>& on_message,
                                       const std::atomic<bool>& stop,
                                       std::chrono::milliseconds idle) {
  WatchEnd end;
  end.last_revision = start_revision > 0 ? start_revision - 1 : 0;
  size_t idx;
  {
    std::lock_guard<std::mutex> lock(mu_);
    idx = current_;
  }
  const Endpoint& e = endpoints_[idx];
  httplib::Client cli(e.host, e.port);
  set_timeouts(cli, timeout_, idle);

  std::string pending;
  Status stream_status;
  bool handler_done = false;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v3/watch";
  req.body = watch_create_request(key, range_end, start_revision);
  req.set_header("Content-Type", kJson);
  req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
    pending.append(data, len);
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
      auto msg = parse_watch_message(line);
      if (!msg.ok()) {
        stream_status = msg.status();
        return false;
      }
      if (stream_status = watch_refusal(*msg); !stream_status.is_ok()) return false;
      if (msg->revision > end.last_revision) end.last_revision = msg->revision;
      if (!on_message(*msg)) {
        handler_done = true;
        return false;
      }
    }
    return !stop.load();
  };
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  bool ok = cli.send(req, res, err);
  if (handler_done || (stop.load() && stream_status.is_ok())) return end;
  if (!stream_status.is_ok()) {
    end.status = stream_status;
    return end;
  }
  if (!ok) {
    // Idle time-out or a broken stream: resume from last_revision + 1.
    // Another member may serve better next time.
    if (err != httplib::Error::Read) {
      std::lock_guard<std::mutex> lock(mu_);
      current_ = (idx + 1) % endpoints_.size();
    }
    end.status = Status(Code::kAgain, "etcd watch: " + describe(e, err));
    return end;
  }
  if (res.status != 200) {
    auto parsed = parse_put_response(res.body);
    end.status =
        parsed.ok() ? Status(Code::kProtocolError, "etcd watch: HTTP " + std::to_string(res.status))
                    : parsed.status();
    return end;
  }
  end.status = Status(Code::kAgain, "etcd watch: stream ended");
  return end;
}

}  // namespace replimail::cluster
