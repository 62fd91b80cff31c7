// The LMTP server protocol state machine (RFC 2033, with RFC 1870 SIZE,
// RFC 2034 ENHANCEDSTATUSCODES, RFC 2920 PIPELINING, RFC 4954 AUTH), over
// bytes: the caller feeds what it reads from the client and writes back
// what take_output() returns. No sockets, so a whole conversation can be
// unit-tested as a transcript.
//
// Pipelining falls out of that shape: every complete command in the input
// is answered in order, and the caller writes the replies when it has
// consumed its input. DATA bodies are streamed to the Backend's sink as they
// arrive; memory use is bounded by the size of a feed() plus one command line.
//
// Replies follow Cyrus 3.6 lmtpd's texts where Cyrus has one.
//
// Not thread-safe.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lmtp/backend.h"
#include "lmtp/parser.h"
#include "net/login_policy.h"
#include "net/sasl.h"
#include "net/session_loop.h"

namespace replimail::lmtp {

struct SessionOptions {
  std::string servername = "localhost";  // in the greeting, LHLO reply and headers
  // maxmessagesize in bytes; 0 means unlimited.
  uint64_t max_message_size = 0;
  // The client may deliver without AUTH: a listener started with `lmtpd -a`,
  // or a unix socket, as in Cyrus.
  bool preauth = false;
  bool over_quota_perm_failure = false;  // lmtp_over_quota_perm_failure
  // How the client is named in the Received header ("[127.0.0.1]").
  std::string client_host = "unknown";
  // Wall clock for the Received header; tests pin it.
  std::function<std::time_t()> clock = [] { return std::time(nullptr); };
  // failedloginpause and the failure budgets of AUTH; null: none.
  net::LoginPolicy* login = nullptr;
};

// Recipients accepted in one transaction; RFC 5321 4.5.3.1.8 asks for at
// least 100. Bounds the memory a client can make a session hold.
inline constexpr size_t kMaxRecipients = 1000;

class Session : public net::PushSession {
 public:
  // The states of a connection; every transition happens in session.cc.
  enum class State {
    kGreeted,  // greeting sent, waiting for LHLO
    kReady,    // LHLO done, no mail transaction
    kMail,     // MAIL FROM accepted: taking RCPT TO, then DATA
    kAuth,     // inside an AUTH exchange, waiting for a client response line
    kData,     // reading the message after "354"
    kClosed,   // QUIT answered: the caller flushes output and closes
  };

  // `sasl` may be null: AUTH is then neither offered nor accepted.
  // The greeting is queued at once.
  Session(Backend& backend, net::SaslServer* sasl, SessionOptions options);
  ~Session() override;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Processes bytes received from the client.
  void feed(std::string_view bytes) override;
  // Replies produced so far (CRLF-terminated lines); clears them.
  std::string take_output() override;
  // Drops what the last finished transaction still holds (the staging file
  // of a delivered message, whose removal costs a directory update): the
  // caller calls it once that transaction's replies are on their way, so
  // that the removal is not between the commit and the reply. The next
  // finished transaction and the destructor drop it too.
  void release_spent();
  void replies_sent() override { release_spent(); }
  // Logs a message lost with the connection in the middle of DATA.
  void connection_lost() override;

  State state() const { return state_; }
  bool closed() const override { return state_ == State::kClosed; }
  // The SASL-authenticated user, "" if none.
  const std::string& auth_user() const { return auth_user_; }

 private:
  // Consumes DATA bytes; returns the part of `bytes` after the message.
  std::string_view feed_data(std::string_view bytes);
  void handle_line(std::string_view line);
  void cmd_lhlo(std::string_view args);
  void cmd_mail(std::string_view args);
  void cmd_rcpt(std::string_view args);
  void cmd_data(std::string_view args);
  void cmd_auth(std::string_view args);
  void auth_response(std::string_view line);
  void auth_result(const net::SaslOutcome& outcome);
  void finish_data();
  // Forgets the mail transaction (RSET, after DATA, LHLO).
  void reset_transaction();
  std::string trace_headers() const;
  std::string status_reply(const Status& s) const;
  void reply(std::string_view line);

  Backend& backend_;
  net::SaslServer* sasl_;
  SessionOptions options_;
  net::SaslExchange auth_;  // AUTH's exchange
  State state_ = State::kGreeted;
  State state_before_auth_ = State::kGreeted;

  std::string out_;
  std::string line_;                   // a command line not yet terminated
  bool discarding_long_line_ = false;  // the current command line went over the limit

  std::string lhlo_name_;
  bool authenticated_ = false;
  std::string auth_user_;

  // The mail transaction.
  std::string sender_;
  std::optional<std::string> mail_auth_;  // MAIL FROM AUTH=
  uint64_t declared_size_ = 0;
  std::string mail_body_;  // MAIL FROM BODY=, "" if absent
  std::vector<Recipient> recipients_;

  // DATA in progress.
  DotDecoder decoder_;
  std::optional<HeaderStripper> stripper_;
  std::unique_ptr<MessageSink> sink_;
  // The last finished message's sink, kept until release_spent().
  std::unique_ptr<MessageSink> spent_sink_;
  Status sink_status_;
  uint64_t message_bytes_ = 0;
  bool too_big_ = false;
};

}  // namespace replimail::lmtp
