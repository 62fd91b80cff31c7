#include "pop3/session.h"

#include <fmt/format.h>

#include <cstring>

#include "common/stats.h"
#include "pop3/parser.h"

namespace replimail::pop3 {

// A login refused while its host or user is locked out (too many failed
// logins, service/login_guard.h).
constexpr std::string_view kLockedOut = "-ERR [SYS/TEMP] Too many failed logins, try again later";

namespace {

// AUTH's answers (RFC 5034), Cyrus 3.6's wording. A refusal says
// libsasl2's reason, as Cyrus does ("encryption needed to use mechanism"
// for PLAIN on a cleartext connection without allowplaintext).
net::SaslWording auth_wording() {
  net::SaslWording w;
  w.challenge = "+ {}";
  w.bad_initial = "-ERR [AUTH] authenticating: bad base64 initial response";
  w.bad_response = "-ERR [AUTH] authenticating: bad base64 response";
  w.cancelled = "-ERR [AUTH] authenticating: client canceled authentication";
  w.no_mech = "-ERR [AUTH] authenticating: no mechanism available";
  w.failed = "-ERR [AUTH] authenticating: {}";
  return w;
}

}  // namespace

Session::Session(Backend& backend, net::SaslServer* sasl, SessionOptions options)
    : backend_(backend),
      sasl_(sasl),
      options_(std::move(options)),
      auth_(auth_wording(), options_.login) {
  reply(fmt::format("+OK {} replimail POP3 server ready", options_.servername));
}

std::string Session::take_output() {
  std::string out;
  out.swap(out_);
  return out;
}

void Session::reply(std::string_view line) {
  out_.append(line);
  out_ += "\r\n";
}

void Session::tls_started() {
  tls_started(options_.sasl_after_tls ? options_.sasl_after_tls() : nullptr);
}

void Session::tls_started(net::SaslServer* sasl) {
  starttls_requested_ = false;
  options_.secure = true;
  sasl_ = sasl;
  pending_user_.clear();
  state_ = State::kAuthorization;
  line_.clear();
  discarding_long_line_ = false;
}

void Session::feed(std::string_view bytes) {
  while (!bytes.empty() && state_ != State::kClosed && !starttls_requested_) {
    size_t nl = bytes.find('\n');
    std::string_view chunk = bytes.substr(0, nl == std::string_view::npos ? bytes.size() : nl);
    bytes.remove_prefix(nl == std::string_view::npos ? bytes.size() : nl + 1);
    if (!discarding_long_line_) {
      if (line_.size() + chunk.size() > kMaxCommandLine + 1) {
        discarding_long_line_ = true;
        line_.clear();
      } else {
        line_.append(chunk);
      }
    }
    if (nl == std::string_view::npos) break;
    if (discarding_long_line_) {
      discarding_long_line_ = false;
      reply("-ERR Line too long");
      continue;
    }
    std::string line;
    line.swap(line_);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    handle_line(line);
  }
}

void Session::handle_line(std::string_view line) {
  switch (state_) {
    case State::kSasl:
      auth_response(line);
      break;
    case State::kAuthorization:
    case State::kUserGiven:
      authorization_command(line);
      break;
    case State::kTransaction:
      transaction_command(line);
      break;
    case State::kClosed:
      break;
  }
}

void Session::cmd_capa() {
  reply("+OK List of capabilities follows");
  bool logged_in = state_ == State::kTransaction;
  if (!logged_in && sasl_) {
    std::string mechs;
    for (const std::string& m : sasl_->mechanisms()) mechs += " " + m;
    if (!mechs.empty()) reply("SASL" + mechs);
  }
  if (!logged_in && options_.tls_available && !options_.secure) reply("STLS");
  reply("EXPIRE NEVER");
  reply("LOGIN-DELAY 0");
  reply("TOP");
  reply("UIDL");
  reply("PIPELINING");
  reply("RESP-CODES");
  reply("AUTH-RESP-CODE");
  if (!logged_in && plaintext_allowed()) reply("USER");
  reply("IMPLEMENTATION replimail POP3");
  reply(".");
}

void Session::authorization_command(std::string_view line) {
  Command cmd = parse_command(line);
  stats::count_command(cmd.verb == Verb::kUnknown ? "other" : line.substr(0, line.find(' ')));
  switch (cmd.verb) {
    case Verb::kCapa:
      cmd_capa();
      return;
    case Verb::kNoop:
      reply("+OK");
      return;
    case Verb::kQuit:
      reply("+OK");
      state_ = State::kClosed;
      return;
    case Verb::kUser:
      if (!plaintext_allowed()) {
        reply("-ERR [AUTH] USER command only available under a layer");
      } else if (state_ == State::kUserGiven) {
        reply("-ERR [AUTH] Must give PASS command");
      } else if (cmd.args.size() != 1) {
        reply("-ERR Invalid syntax");
      } else {
        pending_user_ = std::string(cmd.args[0]);
        state_ = State::kUserGiven;
        reply("+OK Name is a valid mailbox");
      }
      return;
    case Verb::kPass:
      if (state_ != State::kUserGiven) {
        reply("-ERR [AUTH] Must give USER command");
      } else {
        cmd_pass(cmd.rest);
      }
      return;
    case Verb::kAuth:
      cmd_auth(cmd.args);
      return;
    case Verb::kStls:
      if (!options_.tls_available || options_.secure) {
        reply("-ERR STLS not available");
      } else if (!cmd.args.empty()) {
        reply("-ERR Unexpected extra arguments");
      } else {
        reply("+OK Begin TLS negotiation now");
        starttls_requested_ = true;
      }
      return;
    default:
      reply("-ERR Unrecognized command");
      return;
  }
}

void Session::cmd_pass(std::string_view password) {
  std::string user = pending_user_;
  pending_user_.clear();
  state_ = State::kAuthorization;
  if (!sasl_) {
    reply("-ERR [AUTH] Invalid login");
    return;
  }
  if (options_.login && !options_.login->before_attempt(user).allowed()) {
    reply(std::string(kLockedOut));
    return;
  }
  net::SaslStep step = net::sasl_check_password(*sasl_, user, password);
  if (step.kind != net::SaslStep::Kind::kOk) {
    if (options_.login) options_.login->failed(user);
    reply("-ERR [AUTH] Invalid login");
    return;
  }
  login(sasl_->username());
}

void Session::cmd_auth(const std::vector<std::string_view>& args) {
  if (!sasl_) {
    reply("-ERR [AUTH] authenticating: no mechanism available");
    return;
  }
  if (args.empty()) {
    reply("+OK List of supported mechanisms follows");
    for (const std::string& m : sasl_->mechanisms()) reply(m);
    reply(".");
    return;
  }
  if (args.size() > 2) {
    reply("-ERR Invalid syntax");
    return;
  }
  if (options_.login && !options_.login->before_attempt("").allowed()) {
    reply(std::string(kLockedOut));
    return;
  }
  std::optional<std::string_view> initial;
  if (args.size() == 2) initial = args[1];
  if (auto bad = auth_.take_initial(initial)) {
    reply(bad->line);
    return;
  }
  auth_result(auth_.start(*sasl_, args[0]));
}

void Session::auth_response(std::string_view line) {
  state_ = State::kAuthorization;
  auth_result(auth_.respond(line));
}

void Session::auth_result(const net::SaslOutcome& outcome) {
  switch (outcome.kind) {
    case net::SaslOutcome::Kind::kChallenge:
      state_ = State::kSasl;
      reply(outcome.line);
      return;
    case net::SaslOutcome::Kind::kOk:
      login(outcome.user);
      return;
    case net::SaslOutcome::Kind::kRefused:
    case net::SaslOutcome::Kind::kFailed:
      reply(outcome.line);
      return;
  }
}

void Session::login(const std::string& userid) {
  auto drop = backend_.open(userid);
  if (!drop.ok()) {
    state_ = State::kAuthorization;
    // A missing or invalid maildrop is permanent; a failing disk or
    // database is not (the client may try again later).
    Code code = drop.status().code();
    bool perm = code == Code::kMailboxNonexistent || code == Code::kInvalidUser ||
                code == Code::kMailboxBadName || code == Code::kPermissionDenied;
    reply(std::string(perm ? "-ERR [SYS/PERM]" : "-ERR [SYS/TEMP]") +
          " Unable to locate maildrop: " + drop.status().message());
    return;
  }
  if (options_.login) {
    // As Cyrus's pop3d: the limits are checked once the maildrop is open.
    net::LoginCheck c = options_.login->succeeded(userid, true);
    if (!c.allowed()) {
      state_ = State::kAuthorization;
      reply(c.kind == net::LoginCheck::Kind::kLockedOut
                ? std::string(kLockedOut)
                : "-ERR Too many open connections (" + c.detail + ")");
      return;
    }
  }
  user_ = userid;
  maildrop_ = std::move(*drop);
  entries_.clear();
  for (const MaildropMessage& m : maildrop_.messages) entries_.push_back({m, false});
  state_ = State::kTransaction;
  reply("+OK Mailbox locked and ready");
}

Session::Entry* Session::message_arg(std::string_view arg) {
  auto n = parse_number(arg);
  if (!n) {
    reply("-ERR Invalid number");
    return nullptr;
  }
  if (*n < 1 || *n > entries_.size() || entries_[*n - 1].deleted) {
    reply("-ERR No such message");
    return nullptr;
  }
  return &entries_[*n - 1];
}

std::string Session::uidl_of(const Entry& e) const {
  if (maildrop_.new_uidl) return fmt::format("{}.{}", maildrop_.uidvalidity, e.msg.uid);
  return std::to_string(e.msg.uid);
}

void Session::transaction_command(std::string_view line) {
  Command cmd = parse_command(line);
  stats::count_command(cmd.verb == Verb::kUnknown ? "other" : line.substr(0, line.find(' ')));
  switch (cmd.verb) {
    case Verb::kCapa:
      cmd_capa();
      return;
    case Verb::kNoop:
      reply(cmd.args.empty() ? "+OK" : "-ERR Unexpected extra argument");
      return;
    case Verb::kQuit:
      cmd_quit_transaction();
      return;
    case Verb::kStat: {
      uint64_t count = 0, bytes = 0;
      for (const Entry& e : entries_) {
        if (e.deleted) continue;
        ++count;
        bytes += e.msg.size;
      }
      reply(fmt::format("+OK {} {}", count, bytes));
      return;
    }
    case Verb::kList:
      cmd_list(cmd.args, false);
      return;
    case Verb::kUidl:
      cmd_list(cmd.args, true);
      return;
    case Verb::kRetr:
      cmd_retr(cmd.args, false);
      return;
    case Verb::kTop:
      cmd_retr(cmd.args, true);
      return;
    case Verb::kDele: {
      if (cmd.args.size() != 1) {
        reply(cmd.args.empty() ? "-ERR Missing argument" : "-ERR Unexpected extra argument");
        return;
      }
      Entry* e = message_arg(cmd.args[0]);
      if (!e) return;
      if (Status w = backend_.writable(); !w) {
        reply(w.code() == Code::kReadOnly
                  ? "-ERR [SYS/TEMP] Server is in read-only mode, try again later"
                  : "-ERR [SYS/TEMP] " + w.message());
        return;
      }
      e->deleted = true;
      reply("+OK message deleted");
      return;
    }
    case Verb::kRset:
      for (Entry& e : entries_) e.deleted = false;
      reply("+OK");
      return;
    default:
      reply("-ERR Unrecognized command");
      return;
  }
}

void Session::cmd_list(const std::vector<std::string_view>& args, bool uidl) {
  if (args.size() > 1) {
    reply("-ERR Unexpected extra argument");
    return;
  }
  if (args.size() == 1) {
    Entry* e = message_arg(args[0]);
    if (!e) return;
    size_t n = static_cast<size_t>(e - entries_.data()) + 1;
    reply(uidl ? fmt::format("+OK {} {}", n, uidl_of(*e))
               : fmt::format("+OK {} {}", n, e->msg.size));
    return;
  }
  reply(uidl ? "+OK unique-id listing follows" : "+OK scan listing follows");
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    if (e.deleted) continue;
    reply(uidl ? fmt::format("{} {}", i + 1, uidl_of(e)) : fmt::format("{} {}", i + 1, e.msg.size));
  }
  reply(".");
}

void Session::cmd_retr(const std::vector<std::string_view>& args, bool top) {
  size_t want = top ? 2 : 1;
  if (args.size() != want) {
    reply(args.size() < want ? "-ERR Missing argument" : "-ERR Unexpected extra argument");
    return;
  }
  std::optional<uint32_t> lines;
  if (top) {
    lines = parse_number(args[1]);
    if (!lines) {
      reply("-ERR Invalid number");
      return;
    }
  }
  Entry* e = message_arg(args[0]);
  if (!e) return;
  auto bytes = backend_.read(e->msg.uid);
  if (!bytes.ok()) {
    reply("-ERR [SYS/TEMP] Could not read message: " + bytes.status().message());
    return;
  }
  reply("+OK Message follows");
  append_multiline(out_, *bytes, lines);
}

void Session::cmd_quit_transaction() {
  std::vector<uint32_t> uids;
  for (const Entry& e : entries_) {
    if (e.deleted) uids.push_back(e.msg.uid);
  }
  Status s = uids.empty() ? Status::success() : backend_.expunge(uids);
  reply(s.is_ok() ? "+OK" : "-ERR [SYS/TEMP] Unable to expunge: " + s.message());
  state_ = State::kClosed;
}

}  // namespace replimail::pop3
