// Server-side SASL authentication: an abstract per-connection exchange, and
// its implementation over libsasl2 (Cyrus SASL), configured from imapd.conf
// the way Cyrus configures it.
//
// Protocol-neutral: SaslServer's challenges and responses are raw bytes;
// SaslExchange is the one exchange every protocol runs over it (base64, the
// client's "*", the outcomes), each protocol passing its own reply wording.
// Shared by lmtpd, imapd, pop3d and sync_server.
//
// libsasl2 options are looked up in imapd.conf as "sasl_<plugin>_<option>"
// then "sasl_<option>" (sasl_pwcheck_method, sasl_mech_list,
// sasl_auxprop_plugin, sasl_sasldb_path, ...), so a per-instance sasldb
// made with `saslpasswd2 -f <file> -c <user>` is used when
// `sasl_sasldb_path: <file>` is set.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/status.h"
#include "net/login_policy.h"

namespace replimail::net {

// The outcome of one step of an authentication exchange.
struct SaslStep {
  enum class Kind {
    kContinue,  // send `data` as a challenge and wait for the client's response
    kOk,        // authenticated; `data` is optional additional success data
    kFailed,    // refused (bad credentials, malformed response); `error` says why
    kNoMech,    // the mechanism is unknown or not allowed here
  };
  Kind kind = Kind::kFailed;
  std::string data;
  std::string error;
};

// One connection's authentication state. Not thread-safe.
class SaslServer {
 public:
  virtual ~SaslServer() = default;
  // Mechanism names offered on this connection (e.g. {"PLAIN", "SCRAM-SHA-1"}).
  virtual std::vector<std::string> mechanisms() = 0;
  // Begins an exchange; a previous unfinished or failed one is discarded.
  // `initial` is the client's initial response, if it sent one ("" is an
  // empty initial response, unlike nullopt).
  virtual SaslStep start(std::string_view mechanism, std::optional<std::string_view> initial) = 0;
  // Continues the exchange with the client's response.
  // REQUIRES: the previous start()/step() returned kContinue.
  virtual SaslStep step(std::string_view response) = 0;
  // The authenticated (authorisation) identity. REQUIRES: a step returned kOk.
  virtual std::string username() = 0;
};

// Initialises libsasl2's server side for this process: app name `appname`
// (Cyrus uses the program name; ours are "replimail"), options from `config`
// (copied; later calls with another config are refused). Idempotent for
// the same process. Logs through spdlog.
Status sasl_init(const Config& config, std::string_view appname = "replimail");

// Where a connection comes from, for libsasl2 (mechanisms that bind to the
// endpoints) and its security decisions.
struct SaslEndpoint {
  std::string service = "lmtp";  // the SASL service name ("imap", "pop", "lmtp", "csync")
  // The server's name and the users' default realm; "" lets libsasl2 use
  // the host name (as saslpasswd2 does). A realm is a domain name, so its
  // case does not matter: libsasl2 lowercases a default realm taken from
  // here, while `saslpasswd2 -u Mail.Example.ORG` stores it as written, so a
  // user unknown in the lowercased realm is looked up again in the realm as
  // written (PLAIN and LOGIN, whose exchanges can be replayed).
  std::string server_fqdn;
  std::string local_ip_port;  // "a.b.c.d;port" or "" (unix socket)
  std::string remote_ip_port;
  // The channel itself is trusted or encrypted (unix socket, TLS): plaintext
  // mechanisms are allowed even when imapd.conf's allowplaintext is off.
  bool secure_channel = false;
};

// A libsasl2 server connection. REQUIRES: sasl_init() succeeded.
class Libsasl2Server : public SaslServer {
 public:
  static Result<std::unique_ptr<Libsasl2Server>> create(const Config& config,
                                                        SaslEndpoint endpoint);
  ~Libsasl2Server() override;
  Libsasl2Server(const Libsasl2Server&) = delete;
  Libsasl2Server& operator=(const Libsasl2Server&) = delete;

  std::vector<std::string> mechanisms() override;
  SaslStep start(std::string_view mechanism, std::optional<std::string_view> initial) override;
  SaslStep step(std::string_view response) override;
  std::string username() override;

 private:
  struct Conn;
  Libsasl2Server(SaslEndpoint endpoint, bool allow_plaintext, int min_ssf);
  // Disposes the current libsasl2 connection and opens a fresh one for
  // realms_[realm], as libsasl2 requires after a failed or finished exchange.
  Status renew(size_t realm);
  // After "user not found" in realms_[0]: the exchange so far replayed in
  // the other spellings of the realm; the last return code.
  int retry_in_other_realms(int rc, const char** out, unsigned* outlen);
  SaslStep result(int rc, const char* out, unsigned outlen);

  SaslEndpoint endpoint_;
  bool allow_plaintext_;
  int min_ssf_;
  // The realms a user without one is looked up in, in order: the server
  // name lowercased (as libsasl2 uses it), then as written if that differs.
  std::vector<std::string> realms_;
  std::unique_ptr<Conn> conn_;
  size_t conn_realm_ = 0;  // the index in realms_ conn_ was made for
  bool used_ = false;      // the current connection has seen a start()
  // The exchange so far, for replaying it in another realm.
  std::string mechanism_;
  std::optional<std::string> initial_;
  std::vector<std::string> responses_;
};

// A password check (IMAP LOGIN, POP3 USER/PASS): a PLAIN exchange with no
// authorisation identity, started on `sasl`.
SaslStep sasl_check_password(SaslServer& sasl, std::string_view user, std::string_view password);

// What a protocol answers at each point of an exchange, whole reply lines as
// its session sends them. "{}" in `challenge` stands for the base64
// challenge, in `failed` for libsasl2's reason ("authentication failure"
// when it gives none).
struct SaslWording {
  std::string challenge;     // e.g. "+ {}" (IMAP, POP3, csync), "334 {}" (LMTP)
  std::string bad_initial;   // the command's initial response is not base64
  std::string bad_response;  // a response line is not base64
  std::string cancelled;     // the client answered "*"
  std::string no_mech;       // the mechanism is unknown or not allowed here
  std::string failed;        // the credentials were refused
};

// Where an exchange stands after the client's last word.
struct SaslOutcome {
  enum class Kind {
    kChallenge,  // send `line`; the client's next line goes to respond()
    kOk,         // authenticated as `user`; the protocol says so its own way
    kRefused,    // send `line`: bad base64, cancelled, unknown mechanism
    kFailed,     // send `line`: credentials refused (already counted in the
                 // login policy); `reason` is libsasl2's, for the log
  };
  Kind kind = Kind::kRefused;
  std::string line;
  std::string user;
  std::string reason;
};

// The one SASL exchange of IMAP AUTHENTICATE, LMTP and POP3 AUTH and csync
// AUTHENTICATE: decodes the client's base64, encodes the server's
// challenges, recognises the client's cancel ("*"), and counts a failure in
// the login policy. The protocol frames lines, checks its own preconditions
// (state, plaintext, lockout) and words the success. Not thread-safe.
class SaslExchange {
 public:
  // `login` may be null (no failure budgets).
  SaslExchange(SaslWording wording, LoginPolicy* login);

  // Decodes a command's initial response (nullopt: none; "=" is the empty
  // one) for the next start(). Returns the kRefused outcome (bad_initial)
  // when it is not base64.
  std::optional<SaslOutcome> take_initial(std::optional<std::string_view> base64);
  // Starts `mechanism` on `sasl` with the initial response taken, if any.
  // `sasl` must outlive the exchange.
  SaslOutcome start(SaslServer& sasl, std::string_view mechanism);
  // The client's response line to a challenge, as received (base64 or "*").
  // REQUIRES: the last outcome was kChallenge.
  SaslOutcome respond(std::string_view line);

 private:
  SaslOutcome outcome(const SaslStep& step);
  SaslOutcome refused(const std::string& line) const;

  SaslWording wording_;
  LoginPolicy* login_;
  SaslServer* sasl_ = nullptr;
  std::optional<std::string> initial_;
};

// "a.b.c.d;port" / "v6addr;port" for libsasl2 from a connected socket's
// endpoint; "" for a unix socket or on error.
std::string sasl_ip_port(int fd, bool local);

// The SASL server for one connection on `fd` of `service` ("imap", "lmtp",
// "pop", "csync"): its endpoint comes from the socket's addresses and the
// realm from `servername`, as in Cyrus. A connection without a remote IP
// (unix socket, pipe) counts as a secure channel, as does `secure_channel`.
// Returns nullptr, after logging why, when libsasl2 refuses.
std::unique_ptr<SaslServer> sasl_server_for_connection(const Config& config, int fd,
                                                       std::string_view service,
                                                       bool secure_channel = false);

}  // namespace replimail::net
