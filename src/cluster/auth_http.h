// nginx's mail auth_http protocol (https://nginx.org/en/docs/mail/ngx_mail_auth_http_module.html)
// on replimail's side: mailauthd's decision for one request, pure over two
// interfaces (the password check and the directory's route), and its HTTP
// server over cpp-httplib.
//
// nginx asks  GET <uri>  with Auth-Method, Auth-User, Auth-Pass (both
// %-escaped by nginx), Auth-Protocol (imap, pop3, smtp), Auth-Login-Attempt
// and Client-IP. The answer is in headers of an HTTP 200:
//   Auth-Status: OK, Auth-Server: <IP address>, Auth-Port: <port>
// or an error text in Auth-Status that nginx hands to the client, with
// Auth-Wait: <seconds> to let the client try again on the same connection
// after that pause (left out after kMaxAttempts, as nginx's manual says,
// and for answers that another attempt cannot change).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cluster/directory_schema.h"
#include "common/config.h"
#include "common/status.h"

namespace replimail::cluster {

struct AuthRequest {
  std::string method;    // "plain" (nginx's name for LOGIN, PLAIN, USER/PASS)
  std::string user;      // %-decoded
  std::string password;  // %-decoded
  std::string protocol;  // "imap", "pop3", "smtp"
  int attempt = 1;
  std::string client_ip;
};

// Reads the request from its headers (`header` looks one up by name, case
// insensitively, "" when absent). kInvalidArgument: a header nginx always
// sends is missing or malformed.
Result<AuthRequest> parse_auth_request(const std::function<std::string(std::string_view)>& header);

// nginx's %-escaping undone; nullopt for a bad escape.
std::optional<std::string> percent_decode(std::string_view text);

struct AuthAnswer {
  std::vector<std::pair<std::string, std::string>> headers;
  // For the log: "OK alice -> slot1" or why not.
  std::string log;
};

class AuthBackend {
 public:
  virtual ~AuthBackend() = default;
  // The password check imapd makes; on success the authenticated userid
  // (the canonical name libsasl2 gives, which the directory is keyed by).
  virtual Result<std::string> check_password(const AuthRequest& req) = 0;
  // The user's move in progress (Directory::move's contract).
  virtual Result<std::optional<MoveRecord>> move(std::string_view user) = 0;
  // The user's primary slot now (Directory::route's contract).
  virtual Result<SlotInfo> route(std::string_view user) = 0;
  // The slot's host as an IP address for Auth-Server (nginx takes no
  // names); kNotFound when it does not resolve.
  virtual Result<std::string> address_of(const std::string& host) = 0;
};

struct AuthPolicy {
  std::chrono::seconds failed_pause{3};  // Auth-Wait after a bad password (failedloginpause)
  std::chrono::seconds retry_pause{2};   // Auth-Wait after a temporary failure
  std::chrono::seconds moving_pause{1};  // Auth-Wait while the user's move is fenced
  int max_attempts = 10;
};

// After the password check, the user's move: while it is fenced or
// switched (move_is_fenced), or its record does not decode, the login is
// refused as temporary with Auth-Wait (nginx tells the client after that
// pause, and the client may log in again on the same connection), so no
// login reaches the source while its fence is up and the next one after
// the move lands on the target. A move still copying routes as usual.
AuthAnswer decide_auth(const AuthRequest& req, AuthBackend& backend, const AuthPolicy& policy);
// The answer to a request that could not be read.
AuthAnswer malformed_auth_request(const Status& why);

// The password check through libsasl2, configured from imapd.conf as imapd
// is (net/sasl.h): a PLAIN exchange with the SASL service of the protocol
// ("imap", "pop"), the server name as realm. Calls are serialised (libsasl2's
// auxprop plugins are not all thread-safe). REQUIRES: net::sasl_init().
class SaslPasswordCheck {
 public:
  explicit SaslPasswordCheck(const Config& config) : config_(config) {}
  Result<std::string> check(const AuthRequest& req);

 private:
  const Config& config_;
  std::mutex mu_;
};

// IPv4/IPv6 literal as is; a name resolved (first address).
Result<std::string> resolve_host(const std::string& host);

}  // namespace replimail::cluster
