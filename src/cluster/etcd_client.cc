#include "cluster/etcd_client.h"

#include <httplib.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

namespace replimail::cluster {
namespace {

constexpr const char* kJson = "application/json";

// The message of a transport failure, for logs and Status: a TLS failure
// says which side refused and which option to look at.
std::string describe(const Endpoint& e, httplib::Error err, const httplib::Client& cli) {
  std::string where = e.host + ":" + std::to_string(e.port) + ": ";
  switch (err) {
    case httplib::Error::SSLServerVerification: {
      long result = cli.get_openssl_verify_result();
      // The chain verified: what failed is the name check.
      if (result == X509_V_OK)
        return where + "TLS: the member's certificate does not name " + e.host +
               " (cluster_etcd_endpoints must use a name or IP address in it)";
      return where + "TLS: the member's certificate is not trusted (" +
             X509_verify_cert_error_string(result) + "; cluster_etcd_cacert)";
    }
    case httplib::Error::SSLConnection:
      return where +
             "TLS handshake failed (an http:// member, or one that wants a client "
             "certificate: cluster_etcd_cert, cluster_etcd_key)";
    case httplib::Error::SSLLoadingCerts:
      return where + "TLS: cannot load cluster_etcd_cacert";
    default:
      return where + httplib::to_string(err);
  }
}

// With TLS 1.3 a member checks the client's certificate after the client
// finished its handshake: a refusal shows as the request's write or the
// answer's read failing before a byte came back.
std::string describe_silent(const Endpoint& e, httplib::Error err, const httplib::Client& cli) {
  std::string d = describe(e, err, cli);
  if (e.tls && (err == httplib::Error::Write || err == httplib::Error::Read))
    d += " (did the member refuse our client certificate? cluster_etcd_cert, cluster_etcd_key)";
  return d;
}

// etcd did not take the token: it expired, or etcd's auth was turned on
// after it told us it was off.
bool token_refused(const Status& s) {
  return s.code() == Code::kPermissionDenied ||
         s.message().find("user name is empty") != std::string::npos;
}

void set_timeouts(httplib::Client& cli, std::chrono::milliseconds connect,
                  std::chrono::milliseconds read) {
  cli.set_connection_timeout(connect);
  cli.set_read_timeout(read);
  cli.set_write_timeout(connect);
  cli.set_keep_alive(false);
}

}  // namespace

EtcdClient::EtcdClient(std::vector<Endpoint> endpoints, std::chrono::milliseconds timeout)
    : EtcdClient(EtcdSettings{std::move(endpoints), {}}, timeout) {}

EtcdClient::EtcdClient(EtcdSettings settings, std::chrono::milliseconds timeout)
    : settings_(std::move(settings)), timeout_(timeout) {}

EtcdClient::~EtcdClient() = default;

std::unique_ptr<httplib::Client> EtcdClient::connect(const Endpoint& e,
                                                     std::chrono::milliseconds read_timeout) const {
  std::unique_ptr<httplib::Client> cli;
  const EtcdCredentials& c = settings_.credentials;
  if (e.tls) {
    std::string host = e.host.find(':') != std::string::npos ? "[" + e.host + "]" : e.host;
    cli = std::make_unique<httplib::Client>("https://" + host + ":" + std::to_string(e.port),
                                            c.cert_file, c.key_file);
    if (!c.ca_file.empty()) cli->set_ca_cert_path(c.ca_file);
    cli->enable_server_certificate_verification(true);
  } else {
    cli = std::make_unique<httplib::Client>(e.host, e.port);
  }
  set_timeouts(*cli, timeout_, read_timeout);
  return cli;
}

Result<std::string> EtcdClient::post(const std::string& path, const std::string& body) {
  auto tok = token();
  if (!tok.ok()) return tok.status();
  auto res = post_as(path, body, *tok);
  if (res.ok() || !token_refused(res.status()) || settings_.credentials.user.empty()) return res;
  // etcd forgot the token (--auth-token-ttl ran out, the member restarted):
  // once more with a new one.
  auto fresh = renew_token(*tok);
  if (!fresh.ok()) return fresh.status();
  return post_as(path, body, *fresh);
}

Result<std::string> EtcdClient::post_as(const std::string& path, const std::string& body,
                                        const std::string& token) {
  size_t first;
  {
    std::lock_guard<std::mutex> lock(mu_);
    first = current_;
  }
  const std::vector<Endpoint>& endpoints = settings_.endpoints;
  httplib::Headers headers;
  if (!token.empty()) headers.emplace("Authorization", token);
  std::string failures;
  for (size_t n = 0; n < endpoints.size(); ++n) {
    size_t idx = (first + n) % endpoints.size();
    const Endpoint& e = endpoints[idx];
    auto cli = connect(e, timeout_);
    auto res = cli->Post(path, headers, body, kJson);
    if (!res) {
      failures += (failures.empty() ? "" : "; ") + describe_silent(e, res.error(), *cli);
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

Result<std::string> EtcdClient::token() {
  std::lock_guard<std::mutex> lock(auth_mu_);
  if (settings_.credentials.user.empty() || have_token_) return token_;
  return authenticate_locked();
}

Result<std::string> EtcdClient::renew_token(const std::string& stale) {
  std::lock_guard<std::mutex> lock(auth_mu_);
  if (have_token_ && token_ != stale) return token_;
  return authenticate_locked();
}

Result<std::string> EtcdClient::authenticate_locked() {
  const EtcdCredentials& c = settings_.credentials;
  have_token_ = false;
  auto body = post_as("/v3/auth/authenticate", authenticate_request(c.user, c.password), "");
  if (!body.ok() &&
      body.status().message().find("authentication is not enabled") != std::string::npos) {
    // etcd's own client does the same: no token while auth is off.
    token_.clear();
    have_token_ = true;
    return token_;
  }
  if (!body.ok() && body.status().code() == Code::kAgain) return body.status();
  if (!body.ok())
    return Status(body.status().code(), "etcd refused cluster_etcd_user " + c.user +
                                            " (cluster_etcd_password): " + body.status().message());
  auto token = parse_authenticate_response(*body);
  if (!token.ok()) return token.status();
  token_ = std::move(*token);
  have_token_ = true;
  spdlog::debug("etcd: authenticated as {}", c.user);
  authentications_.fetch_add(1);
  return token_;
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
  if (!msg.canceled) return Status::success();
  // A watch refused at its creation: etcd 3.4 cancels it with the gRPC
  // error as its reason rather than failing the HTTP request.
  std::string why = "etcd: watch canceled: " + msg.cancel_reason;
  if (msg.cancel_reason.find("Unauthenticated") != std::string::npos)
    return Status(Code::kPermissionDenied, why);
  if (msg.cancel_reason.find("PermissionDenied") != std::string::npos)
    return Status(Code::kInvalidArgument, why);
  return Status(Code::kAgain, why);
}

}  // namespace

EtcdClient::WatchEnd EtcdClient::watch(std::string_view key, std::string_view range_end,
                                       int64_t start_revision,
                                       const std::function<bool(const WatchMessage&)>& on_message,
                                       const std::atomic<bool>& stop,
                                       std::chrono::milliseconds idle) {
  auto tok = token();
  if (!tok.ok()) return {tok.status(), start_revision > 0 ? start_revision - 1 : 0};
  WatchEnd end = watch_as(key, range_end, start_revision, on_message, stop, idle, *tok);
  if (!token_refused(end.status) || settings_.credentials.user.empty()) return end;
  // Refused at its creation for the token: once more with a new one, from
  // where the first attempt got to.
  auto fresh = renew_token(*tok);
  if (!fresh.ok()) return {fresh.status(), end.last_revision};
  int64_t from = end.last_revision > 0 ? end.last_revision + 1 : start_revision;
  return watch_as(key, range_end, from, on_message, stop, idle, *fresh);
}

EtcdClient::WatchEnd EtcdClient::watch_as(
    std::string_view key, std::string_view range_end, int64_t start_revision,
    const std::function<bool(const WatchMessage&)>& on_message, const std::atomic<bool>& stop,
    std::chrono::milliseconds idle, const std::string& token) {
  WatchEnd end;
  end.last_revision = start_revision > 0 ? start_revision - 1 : 0;
  size_t idx;
  {
    std::lock_guard<std::mutex> lock(mu_);
    idx = current_;
  }
  const Endpoint& e = settings_.endpoints[idx];
  auto cli = connect(e, idle);

  std::string pending;
  Status stream_status;
  bool handler_done = false;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v3/watch";
  req.body = watch_create_request(key, range_end, start_revision);
  req.set_header("Content-Type", kJson);
  if (!token.empty()) req.set_header("Authorization", token);
  bool heard = false;  // etcd sends a message at once for a watch it created
  req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
    heard = true;
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
  bool ok = cli->send(req, res, err);
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
      current_ = (idx + 1) % settings_.endpoints.size();
    }
    end.status = Status(Code::kAgain, "etcd watch: " + (heard ? describe(e, err, *cli)
                                                              : describe_silent(e, err, *cli)));
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
