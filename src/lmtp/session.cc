#include "lmtp/session.h"

#include <fmt/format.h>

#include "common/log.h"
#include "common/stats.h"

namespace replimail::lmtp {

namespace {

constexpr std::string_view kSyntaxError = "500 5.5.2 Syntax error";
constexpr std::string_view kTooBig = "552 5.3.4 Message size exceeds fixed maximum message size";
// A full spool (or filesystem quota): temporary, the client tries again.
constexpr std::string_view kNoSpace = "452 4.3.1 Insufficient system storage";
// AUTH while the client host or user is locked out (too many failed logins,
// service/login_guard.h): RFC 4954's temporary authentication failure.
constexpr std::string_view kLockedOut = "454 4.7.0 Too many failed logins, try again later";
// Read-only mode (store::Instance::read_only): RFC 3463's X.3.2, "system
// not accepting network messages", temporary: the MTA queues and retries.
constexpr std::string_view kReadOnly = "451 4.3.2 Server is in read-only mode, try again later";

// AUTH's answers (RFC 4954's codes, Cyrus 3.6's texts).
net::SaslWording auth_wording() {
  net::SaslWording w;
  w.challenge = "334 {}";
  w.bad_initial = "501 5.5.4 cannot decode base64 response";
  w.bad_response = w.bad_initial;
  w.cancelled = "501 5.5.4 client canceled authentication";
  w.no_mech = "504 5.5.4 Unrecognized authentication type";
  w.failed = "535 5.7.8 Authentication credentials invalid";
  return w;
}

// RFC 5322 date-time in UTC, e.g. "Wed, 25 Nov 2026 22:41:34 +0000".
std::string rfc5322_date(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  return fmt::format("{}, {} {} {} {:02}:{:02}:{:02} +0000", kDays[tm.tm_wday], tm.tm_mday,
                     kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

}  // namespace

Session::Session(Backend& backend, net::SaslServer* sasl, SessionOptions options)
    : backend_(backend),
      sasl_(sasl),
      options_(std::move(options)),
      auth_(auth_wording(), options_.login) {
  reply(fmt::format("220 {} LMTP replimail server ready", options_.servername));
}

Session::~Session() = default;

std::string Session::take_output() {
  std::string out;
  out.swap(out_);
  return out;
}

void Session::reply(std::string_view line) {
  out_.append(line);
  out_.append("\r\n");
}

void Session::feed(std::string_view bytes) {
  while (!bytes.empty() && state_ != State::kClosed) {
    if (state_ == State::kData) {
      bytes = feed_data(bytes);
      continue;
    }
    size_t lf = bytes.find('\n');
    std::string_view piece = bytes.substr(0, lf);
    if (!discarding_long_line_) {
      // +1: a CR before the LF does not count against the limit.
      size_t limit = state_ == State::kAuth ? kMaxAuthLine : kMaxCommandLine;
      if (line_.size() + piece.size() > limit + 1) {
        discarding_long_line_ = true;
        line_.clear();
      } else {
        line_.append(piece);
      }
    }
    if (lf == std::string_view::npos) return;
    bytes.remove_prefix(lf + 1);
    if (discarding_long_line_) {
      discarding_long_line_ = false;
      if (state_ == State::kAuth) {
        // The exchange cannot go on without the response we dropped.
        state_ = state_before_auth_;
        reply("501 5.5.4 Authentication response too long");
      } else {
        reply("500 5.5.2 Line too long");
      }
      continue;
    }
    std::string line;
    line.swap(line_);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    handle_line(line);
  }
}

void Session::handle_line(std::string_view line) {
  if (state_ == State::kAuth) {
    auth_response(line);
    return;
  }
  Command cmd = parse_command(line);
  stats::count_command(cmd.verb == Verb::kUnknown ? "other" : line.substr(0, line.find(' ')));
  switch (cmd.verb) {
    case Verb::kLhlo:
      cmd_lhlo(cmd.args);
      return;
    case Verb::kMail:
      cmd_mail(cmd.args);
      return;
    case Verb::kRcpt:
      cmd_rcpt(cmd.args);
      return;
    case Verb::kData:
      cmd_data(cmd.args);
      return;
    case Verb::kAuth:
      cmd_auth(cmd.args);
      return;
    case Verb::kRset:
      reset_transaction();
      reply("250 2.0.0 ok");
      return;
    case Verb::kNoop:
      reply("250 2.0.0 ok");
      return;
    case Verb::kQuit:
      reply("221 2.0.0 bye");
      reset_transaction();
      state_ = State::kClosed;
      return;
    case Verb::kVrfy:
      reply("252 2.3.3 try RCPT to attempt delivery");
      return;
    case Verb::kHelo:
    case Verb::kEhlo:
    case Verb::kStarttls:
    case Verb::kUnknown:
      // LMTP has no HELO/EHLO (RFC 2033 4.1) and we offer no TLS.
      reply(kSyntaxError);
      return;
  }
}

void Session::cmd_lhlo(std::string_view args) {
  auto name = parse_lhlo(args);
  if (!name.ok()) {
    reply("501 5.5.4 Syntax error in parameters");
    return;
  }
  lhlo_name_ = std::move(*name);
  reset_transaction();
  state_ = State::kReady;
  reply("250-" + options_.servername);
  reply("250-8BITMIME");
  reply("250-ENHANCEDSTATUSCODES");
  reply("250-PIPELINING");
  reply(options_.max_message_size > 0 ? fmt::format("250-SIZE {}", options_.max_message_size)
                                      : std::string("250-SIZE"));
  if (sasl_ != nullptr && !authenticated_) {
    std::string mechs;
    for (const std::string& m : sasl_->mechanisms()) mechs += " " + m;
    if (!mechs.empty()) reply("250-AUTH" + mechs);
  }
  reply("250 IGNOREQUOTA");
}

void Session::cmd_mail(std::string_view args) {
  if (!authenticated_ && !options_.preauth) {
    reply("530 5.7.0 Authentication required");
    return;
  }
  if (state_ == State::kGreeted) {
    reply("503 5.5.1 Need LHLO command");
    return;
  }
  if (state_ == State::kMail) {
    reply("503 5.5.1 Nested MAIL command");
    return;
  }
  auto mail = parse_mail_from(args);
  if (!mail.ok()) {
    reply("501 5.5.4 " + mail.status().message());
    return;
  }
  if (mail->size && options_.max_message_size > 0 && *mail->size > options_.max_message_size) {
    reply(kTooBig);
    return;
  }
  sender_ = std::move(mail->reverse_path);
  mail_auth_ = std::move(mail->auth);
  declared_size_ = mail->size.value_or(0);
  mail_body_ = std::move(mail->body);
  state_ = State::kMail;
  reply("250 2.1.0 ok");
}

void Session::cmd_rcpt(std::string_view args) {
  if (state_ != State::kMail) {
    reply("503 5.5.1 Need MAIL command");
    return;
  }
  if (recipients_.size() >= kMaxRecipients) {
    reply("452 4.5.3 Too many recipients");
    return;
  }
  auto rcpt = parse_rcpt_to(args);
  if (!rcpt.ok()) {
    reply("501 5.5.4 " + rcpt.status().message());
    return;
  }
  RcptQuery query;
  query.address = rcpt->address;
  query.ignorequota = rcpt->ignorequota;
  query.size_hint = declared_size_;
  query.authuser = mail_auth_ ? *mail_auth_ : auth_user_;
  query.sender = sender_;
  query.body = mail_body_;
  auto resolved = backend_.resolve_recipient(query);
  if (!resolved.ok()) {
    spdlog::info("lmtp: RCPT <{}> refused: {}", rcpt->path, resolved.status().to_string());
    reply(status_reply(resolved.status()));
    return;
  }
  resolved->path = rcpt->path;
  resolved->ignorequota = rcpt->ignorequota;
  recipients_.push_back(std::move(*resolved));
  reply("250 2.1.5 ok");
}

void Session::cmd_data(std::string_view args) {
  if (state_ != State::kMail) {
    reply("503 5.5.1 Need MAIL command");
    return;
  }
  if (recipients_.empty()) {
    reply("503 5.5.1 No recipients");
    return;
  }
  if (!args.empty()) {
    reply("501 5.5.4 Syntax error in parameters");
    return;
  }
  auto sink = backend_.begin_message();
  if (!sink.ok()) {
    spdlog::error("lmtp: cannot start a message: {}", sink.status().to_string());
    Code code = sink.status().code();
    reply(code == Code::kNoSpace    ? kNoSpace
          : code == Code::kReadOnly ? kReadOnly
                                    : "451 4.3.0 cannot create temporary file");
    reset_transaction();
    return;
  }
  sink_ = std::move(*sink);
  decoder_.reset();
  stripper_.emplace("Return-Path");
  message_bytes_ = 0;
  too_big_ = false;
  sink_status_ = sink_->write(trace_headers());
  state_ = State::kData;
  reply("354 go ahead");
}

std::string Session::trace_headers() const {
  std::string h = "Return-Path: <" + sender_;
  // Cyrus qualifies a bare local sender with its own name.
  if (!sender_.empty() && sender_.find('@') == std::string::npos) {
    h += "@" + options_.servername;
  }
  h += ">\r\n";
  h += fmt::format("Received: from {} ({})", lhlo_name_, options_.client_host);
  if (authenticated_) h += fmt::format(" (authenticated user={})", auth_user_);
  h += fmt::format("\r\n\tby {} (replimail lmtpd) with {}", options_.servername,
                   authenticated_ ? "LMTPA" : "LMTP");
  if (recipients_.size() == 1) h += fmt::format("\r\n\tfor <{}>", recipients_.front().path);
  h += fmt::format("; {}\r\n", rfc5322_date(options_.clock()));
  return h;
}

std::string_view Session::feed_data(std::string_view bytes) {
  std::string chunk;
  size_t used = decoder_.feed(bytes, &chunk);
  message_bytes_ += chunk.size();
  if (options_.max_message_size > 0 && message_bytes_ > options_.max_message_size) {
    // Keep reading to the final dot, but store nothing more.
    too_big_ = true;
  }
  if (!too_big_ && sink_status_.is_ok()) {
    std::string filtered;
    stripper_->feed(chunk, &filtered);
    sink_status_ = sink_->write(filtered);
  }
  if (decoder_.done()) finish_data();
  return bytes.substr(used);
}

void Session::finish_data() {
  if (too_big_) {
    spdlog::info("lmtp: message of {}+ bytes refused: over maxmessagesize {}", message_bytes_,
                 options_.max_message_size);
    for (size_t i = 0; i < recipients_.size(); ++i) reply(kTooBig);
  } else if (!sink_status_.is_ok()) {
    spdlog::error("lmtp: writing message: {}", sink_status_.to_string());
    for (size_t i = 0; i < recipients_.size(); ++i) reply(status_reply(sink_status_));
  } else {
    std::vector<Status> results = backend_.deliver(*sink_, recipients_);
    static const stats::Counter delivered =
        stats::counter("replimail_deliveries_total",
                       "Messages delivered over LMTP, one per recipient.", {{"result", "ok"}});
    static const stats::Counter refused =
        stats::counter("replimail_deliveries_total",
                       "Messages delivered over LMTP, one per recipient.", {{"result", "failed"}});
    for (const Status& r : results) (r.is_ok() ? delivered : refused).add();
    for (size_t i = 0; i < recipients_.size(); ++i) {
      if (i < results.size()) {
        std::string own = backend_.own_reply(i);
        reply(own.empty() ? status_reply(results[i]) : own);
      } else {
        reply(status_reply(Status(Code::kInternal, "backend returned too few results")));
      }
    }
  }
  // The delivered message's staging file goes after the replies are sent
  // (release_spent): removing it is no part of the delivery's durability.
  spent_sink_ = std::move(sink_);
  reset_transaction();
  state_ = State::kReady;
}

void Session::release_spent() { spent_sink_.reset(); }

void Session::connection_lost() {
  if (state_ == State::kData) {
    spdlog::warn("lmtpd: {}: connection lost during DATA; message discarded", options_.client_host);
  }
}

void Session::reset_transaction() {
  sender_.clear();
  mail_auth_.reset();
  declared_size_ = 0;
  mail_body_.clear();
  recipients_.clear();
  sink_.reset();
  stripper_.reset();
  sink_status_ = Status::success();
  if (state_ == State::kMail || state_ == State::kData) state_ = State::kReady;
}

void Session::cmd_auth(std::string_view args) {
  if (sasl_ == nullptr) {
    reply(kSyntaxError);
    return;
  }
  if (authenticated_) {
    reply("503 5.5.1 Already authenticated");
    return;
  }
  if (state_ == State::kMail) {
    reply("503 5.5.1 AUTH not permitted during a mail transaction");
    return;
  }
  auto auth = parse_auth(args);
  if (!auth.ok()) {
    reply("501 5.5.4 Syntax error in parameters");
    return;
  }
  if (auto bad = auth_.take_initial(auth->initial_response)) {
    reply(bad->line);
    return;
  }
  if (options_.login && !options_.login->before_attempt("").allowed()) {
    reply(std::string(kLockedOut));
    return;
  }
  state_before_auth_ = state_;
  auth_result(auth_.start(*sasl_, auth->mechanism));
}

void Session::auth_response(std::string_view line) {
  state_ = state_before_auth_;
  auth_result(auth_.respond(line));
}

void Session::auth_result(const net::SaslOutcome& outcome) {
  switch (outcome.kind) {
    case net::SaslOutcome::Kind::kChallenge:
      state_ = State::kAuth;
      reply(outcome.line);
      return;
    case net::SaslOutcome::Kind::kOk:
      if (options_.login && !options_.login->succeeded(outcome.user, false).allowed()) {
        reply(std::string(kLockedOut));
        return;
      }
      authenticated_ = true;
      auth_user_ = outcome.user;
      spdlog::info("lmtp: login: {} {} User logged in", options_.client_host, auth_user_);
      reply("235 2.7.0 Authentication successful");
      return;
    case net::SaslOutcome::Kind::kFailed:
      spdlog::warn("lmtp: badlogin: {} {}", options_.client_host, outcome.reason);
      reply(outcome.line);
      return;
    case net::SaslOutcome::Kind::kRefused:
      reply(outcome.line);
      return;
  }
}

std::string Session::status_reply(const Status& s) const {
  switch (s.code()) {
    case Code::kOk:
      return "250 2.1.5 Ok";
    case Code::kMailboxNonexistent:
    case Code::kInvalidUser:
    case Code::kMailboxBadName:
      return "550 5.1.1 User unknown";
    case Code::kPermissionDenied:
      return "550 5.7.1 Permission denied";
    case Code::kQuotaExceeded:
      return options_.over_quota_perm_failure ? "552 5.2.2 Over quota" : "452 4.2.2 Over quota";
    case Code::kMessageTooLarge:
      return std::string(kTooBig);
    case Code::kMailboxNotSupported:
      return "451 4.2.0 Mailbox has an invalid format";
    case Code::kMailboxMoved:
      return "451 4.2.1 Mailbox Moved";
    case Code::kProtocolBadParameters:
      return "501 5.5.4 Syntax error in parameters";
    case Code::kIoError:
      return "451 4.3.0 System I/O error";
    case Code::kNoSpace:
      return std::string(kNoSpace);
    case Code::kReadOnly:
      return std::string(kReadOnly);
    case Code::kNotReplicated:
      return "451 4.3.0 Not replicated in time, try again later";
    case Code::kMailboxLocked:
    case Code::kAgain:
      return "451 4.3.0 transient system error";
    default:
      return "451 4.3.0 Unexpected internal error";
  }
}

}  // namespace replimail::lmtp
