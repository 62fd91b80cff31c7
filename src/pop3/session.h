// The POP3 server protocol state machine (RFC 1939, RFC 2449 CAPA,
// RFC 5034 AUTH), over bytes: the caller feeds what it reads from the
// client and writes back what take_output() returns, so a whole
// conversation can be unit-tested as a transcript. Replies follow Cyrus 3.6
// pop3d's texts.
//
// DELE only marks a message; the marked messages are expunged through the
// Backend when QUIT is received in the TRANSACTION state (RFC 1939's UPDATE
// state). A connection that ends any other way expunges nothing.
//
// Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/login_policy.h"
#include "net/sasl.h"
#include "net/session_loop.h"
#include "pop3/backend.h"

namespace replimail::pop3 {

struct SessionOptions {
  std::string servername = "localhost";  // in the greeting
  // STLS may be offered (a TLS context is configured).
  bool tls_available = false;
  // The connection is already encrypted (pop3s, after STLS) or local.
  bool secure = false;
  // imapd.conf's allowplaintext: USER/PASS without TLS. When false, USER is
  // refused (and not in CAPA) until the connection is secure.
  bool allow_plaintext = true;
  // failedloginpause, failure budgets, maxlogins_*; null: none.
  net::LoginPolicy* login = nullptr;
  // The SASL server for the connection once STLS has made it secure (owned
  // by the caller; may return null): what tls_started() hands the session.
  std::function<net::SaslServer*()> sasl_after_tls{};
};

class Session : public net::PushSession {
 public:
  // The states of a connection; every transition happens in session.cc.
  enum class State {
    kAuthorization,  // greeted, no user yet
    kUserGiven,      // USER accepted, waiting for PASS
    kSasl,           // inside an AUTH exchange, waiting for a response line
    kTransaction,    // logged in, maildrop open
    kClosed,         // QUIT answered (or a fatal error): flush and close
  };

  // `sasl` may be null: then nobody can log in. The greeting is queued.
  Session(Backend& backend, net::SaslServer* sasl, SessionOptions options);

  void feed(std::string_view bytes) override;
  std::string take_output() override;

  State state() const { return state_; }
  bool closed() const override { return state_ == State::kClosed; }
  const std::string& user() const { return user_; }
  // STLS was accepted: the caller starts TLS after writing the output, then
  // calls tls_started() with the SASL server for the now secure channel
  // (which may be null; it replaces the one given to the constructor).
  // Input the client sent before the handshake is discarded (RFC 2595 §3.1).
  bool starttls_requested() const { return starttls_requested_; }
  void tls_started(net::SaslServer* sasl);
  // The same with options.sasl_after_tls's server.
  void tls_started() override;
  Upgrade upgrade() const override {
    return starttls_requested_ ? Upgrade::kStartTls : Upgrade::kNone;
  }

 private:
  struct Entry {
    MaildropMessage msg;
    bool deleted = false;
  };

  void handle_line(std::string_view line);
  void authorization_command(std::string_view line);
  void transaction_command(std::string_view line);
  void cmd_capa();
  bool plaintext_allowed() const { return options_.secure || options_.allow_plaintext; }
  void cmd_pass(std::string_view password);
  void cmd_auth(const std::vector<std::string_view>& args);
  void auth_response(std::string_view line);
  void auth_result(const net::SaslOutcome& outcome);
  void login(const std::string& userid);
  void cmd_list(const std::vector<std::string_view>& args, bool uidl);
  void cmd_retr(const std::vector<std::string_view>& args, bool top);
  void cmd_quit_transaction();
  // The entry of a message-number argument, or nullptr after replying
  // "-ERR No such message".
  Entry* message_arg(std::string_view arg);
  std::string uidl_of(const Entry& e) const;
  void reply(std::string_view line);

  Backend& backend_;
  net::SaslServer* sasl_;
  SessionOptions options_;
  net::SaslExchange auth_;  // AUTH's exchange
  State state_ = State::kAuthorization;
  std::string out_;
  std::string line_;
  bool discarding_long_line_ = false;
  bool starttls_requested_ = false;

  std::string pending_user_;  // from USER
  std::string user_;          // logged in
  Maildrop maildrop_;
  std::vector<Entry> entries_;
};

}  // namespace replimail::pop3
