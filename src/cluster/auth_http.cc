#include "cluster/auth_http.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <charconv>

#include "common/ascii.h"
#include "net/sasl.h"

namespace replimail::cluster {
namespace {

constexpr std::string_view kBadLogin = "Invalid login or password";
constexpr std::string_view kTemporary = "Temporary server problem, try again later";

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

AuthAnswer error(std::string_view status, std::optional<std::chrono::seconds> wait,
                 std::string log) {
  AuthAnswer a;
  a.headers.emplace_back("Auth-Status", std::string(status));
  if (wait) a.headers.emplace_back("Auth-Wait", std::to_string(wait->count()));
  a.log = std::move(log);
  return a;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    int hi = hex(text[i + 1]), lo = hex(text[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

Result<AuthRequest> parse_auth_request(const std::function<std::string(std::string_view)>& header) {
  AuthRequest r;
  r.method = to_lower(header("Auth-Method"));
  r.protocol = to_lower(header("Auth-Protocol"));
  r.client_ip = header("Client-IP");
  auto user = percent_decode(header("Auth-User"));
  auto pass = percent_decode(header("Auth-Pass"));
  if (!user || !pass)
    return Status(Code::kInvalidArgument, "bad %-escape in Auth-User or Auth-Pass");
  r.user = std::move(*user);
  r.password = std::move(*pass);
  if (r.method.empty() || r.protocol.empty())
    return Status(Code::kInvalidArgument, "no Auth-Method or Auth-Protocol");
  std::string attempt = header("Auth-Login-Attempt");
  if (!attempt.empty()) {
    int n = 0;
    auto [p, ec] = std::from_chars(attempt.data(), attempt.data() + attempt.size(), n);
    if (ec != std::errc() || p != attempt.data() + attempt.size() || n < 1)
      return Status(Code::kInvalidArgument, "bad Auth-Login-Attempt");
    r.attempt = n;
  }
  return r;
}

AuthAnswer malformed_auth_request(const Status& why) {
  return error(kTemporary, std::nullopt, "malformed request: " + why.message());
}

AuthAnswer decide_auth(const AuthRequest& req, AuthBackend& backend, const AuthPolicy& policy) {
  // After many attempts on one connection nginx must be told to stop
  // (each attempt holds memory until the session ends).
  auto wait = [&](std::chrono::seconds s) -> std::optional<std::chrono::seconds> {
    if (req.attempt >= policy.max_attempts) return std::nullopt;
    return s;
  };
  if (req.protocol != "imap" && req.protocol != "pop3")
    return error("Unsupported protocol", std::nullopt, "protocol " + req.protocol + " not served");
  // APOP and CRAM-MD5 need the password in clear on our side; the store
  // does not keep it so.
  if (req.method != "plain" && req.method != "login")
    return error("Unsupported authentication mechanism", std::nullopt,
                 "method " + req.method + " for " + req.user);
  if (req.user.empty()) return error(kBadLogin, wait(policy.failed_pause), "empty user");

  auto who = backend.check_password(req);
  if (!who.ok()) {
    if (who.status().code() == Code::kPermissionDenied)
      return error(kBadLogin, wait(policy.failed_pause),
                   "badlogin " + req.user + ": " + who.status().message());
    return error(kTemporary, wait(policy.retry_pause),
                 "password check for " + req.user + ": " + who.status().to_string());
  }
  auto move = backend.move(*who);
  if (!move.ok())
    return error(kTemporary, wait(policy.retry_pause),
                 "move of " + *who + " unreadable: " + move.status().to_string());
  if (move->has_value() && move_is_fenced(**move))
    return error(kTemporary, wait(policy.moving_pause),
                 "user " + *who + " is being moved to " + (*move)->target + " (" +
                     std::string(move_phase_name((*move)->phase)) + ")");
  auto slot = backend.route(*who);
  if (!slot.ok()) {
    if (slot.status().code() == Code::kNotFound)
      return error("No mailbox here for this user", std::nullopt,
                   "no route for " + *who + ": " + slot.status().message());
    return error(kTemporary, wait(policy.retry_pause),
                 "no route for " + *who + " now: " + slot.status().to_string());
  }
  int port = req.protocol == "imap" ? slot->imap_port : slot->pop3_port;
  if (port == 0)
    return error(kTemporary, wait(policy.retry_pause),
                 "slot " + slot->name + " of " + *who + " has no " + req.protocol + " service");
  auto addr = backend.address_of(slot->host);
  if (!addr.ok())
    return error(kTemporary, wait(policy.retry_pause),
                 "slot " + slot->name + " host " + slot->host + ": " + addr.status().message());
  AuthAnswer a;
  a.headers.emplace_back("Auth-Status", "OK");
  a.headers.emplace_back("Auth-Server", *addr);
  a.headers.emplace_back("Auth-Port", std::to_string(port));
  // The backend sees the canonical userid (nginx logs in with these).
  if (*who != req.user) a.headers.emplace_back("Auth-User", *who);
  a.log = "OK " + *who + " (" + req.protocol + ") -> slot " + slot->name + " " + *addr + ":" +
          std::to_string(port);
  return a;
}

Result<std::string> SaslPasswordCheck::check(const AuthRequest& req) {
  net::SaslEndpoint ep;
  ep.service = req.protocol == "pop3" ? "pop" : "imap";
  ep.server_fqdn = config_.get("servername");
  if (!req.client_ip.empty()) ep.remote_ip_port = req.client_ip + ";0";
  // nginx decides, by its own configuration, whether a password may cross
  // the client's connection in clear; between nginx and us it is loopback.
  ep.secure_channel = true;
  std::lock_guard<std::mutex> lock(mu_);
  auto server = net::Libsasl2Server::create(config_, ep);
  if (!server.ok()) return server.status();
  // The password check imapd's LOGIN makes: PLAIN, no authorisation id.
  std::string plain = std::string(1, '\0') + req.user + '\0' + req.password;
  net::SaslStep step = (*server)->start("PLAIN", plain);
  if (step.kind != net::SaslStep::Kind::kOk) return Status(Code::kPermissionDenied, step.error);
  return (*server)->username();
}

Result<std::string> resolve_host(const std::string& host) {
  in6_addr a6{};
  in_addr a4{};
  if (inet_pton(AF_INET, host.c_str(), &a4) == 1 || inet_pton(AF_INET6, host.c_str(), &a6) == 1)
    return host;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || res == nullptr) return Status(Code::kNotFound, gai_strerror(rc));
  char buf[INET6_ADDRSTRLEN] = {0};
  if (res->ai_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr, buf, sizeof(buf));
  } else {
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(res->ai_addr)->sin6_addr, buf,
              sizeof(buf));
  }
  freeaddrinfo(res);
  return std::string(buf);
}

}  // namespace replimail::cluster
