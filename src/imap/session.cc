// Framing, dispatch, and the connection-level commands.
#include "imap/session.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "imap/format.h"
#include "store/autocreate.h"
#include "store/mboxname.h"

namespace replimail::imap {

// A login refused while its host or user is locked out (too many failed
// logins, service/login_guard.h): temporary, as RFC 5530's UNAVAILABLE says.
constexpr std::string_view kLockedOut = "[UNAVAILABLE] Too many failed logins, try again later";

namespace {

// AUTHENTICATE's answers, Cyrus 3.6's wording (the tag goes before each).
net::SaslWording authenticate_wording() {
  net::SaslWording w;
  w.challenge = "+ {}";
  w.bad_initial = "BAD Invalid base64 in initial response";
  w.bad_response = "BAD Invalid base64 in response";
  w.cancelled = "BAD Authentication cancelled";
  w.no_mech = "NO Mechanism not supported";
  w.failed = "NO [AUTHENTICATIONFAILED] authentication failure";
  return w;
}

}  // namespace

Session::Session(store::Instance& instance, SaslFactory sasl, SessionOptions options)
    : instance_(instance),
      sasl_factory_(std::move(sasl)),
      options_(std::move(options)),
      auth_(authenticate_wording(), options_.login),
      ns_(options_.ns, "", false) {
  reader_.set_limits(reader_limits());
  reply("* OK [CAPABILITY " + capabilities() + "] " + options_.servername +
        " replimail IMAP server ready");
}

Session::~Session() = default;

std::string Session::take_output() { return std::exchange(out_, {}); }

bool Session::write_early() {
  if (early_write_failed_) return false;
  if (!early_writer_ || out_.size() < kEarlyWriteAt) return true;
  early_write_failed_ = !early_writer_(out_);
  out_.clear();
  return !early_write_failed_;
}

void Session::reply(std::string_view line) {
  out_ += line;
  out_ += "\r\n";
}

void Session::feed(std::string_view bytes) {
  while (!bytes.empty() && state_ != State::kLogout && !starttls_pending_) {
    if (compress_pending_) {
      after_compress_.append(bytes);
      return;
    }
    reader_.set_raw_lines(state_ == State::kAuthenticating || state_ == State::kIdle);
    bytes.remove_prefix(reader_.feed(bytes, *this));
  }
}

ReaderLimits Session::reader_limits() const {
  ReaderLimits l;
  l.line = kMaxLine;
  if (state_ == State::kNotAuthenticated || state_ == State::kAuthenticating) {
    l.literal = std::min(kMaxPreauthLiteral, options_.max_literal);
    l.message = kMaxPreauthLiteral;
    l.command = kMaxLine;
  } else {
    l.literal = options_.max_literal;
    l.message = options_.max_message;
    l.command = options_.max_command;
  }
  return l;
}

void Session::command(std::string_view bytes) {
  execute(bytes);
  drop_staged();
}

void Session::raw_line(std::string_view line) {
  if (state_ == State::kAuthenticating) return auth_response(line);
  idle_line(line);
}

void Session::go_ahead() { reply("+ go ahead"); }

void Session::refused(std::string_view tag, CommandReader::Refusal why, bool synchronising) {
  drop_staged();
  const char* text = "";
  switch (why) {
    case CommandReader::Refusal::kLineTooLong:
      return reply("* BAD Line too long");
    case CommandReader::Refusal::kLiteralTooLarge:
      text = "[TOOBIG] Literal size exceeds fixed limit";
      break;
    case CommandReader::Refusal::kMessageTooLarge:
      text = "[TOOBIG] Message size exceeds fixed limit";
      break;
    case CommandReader::Refusal::kCommandTooLarge:
      text = "[TOOBIG] Command arguments total size exceeds fixed limit";
      break;
  }
  std::string who = tag.empty() ? "*" : std::string(tag);
  if (state_ != State::kNotAuthenticated) return reply(who + " NO " + text);
  reply(who + " BAD " + text + " before login");
  if (!synchronising) {
    // The client is sending it anyway: end the connection instead of reading
    // what an unauthenticated peer pushes.
    reply(std::string("* BYE ") + text);
    state_ = State::kLogout;
  }
}

void Session::drop_staged() {
  staged_.clear();
  staging_status_ = Status();
  staging_partition_.clear();
}

bool Session::bye_if_fenced() {
  if (state_ == State::kNotAuthenticated || state_ == State::kLogout || userid_.empty())
    return false;
  if (!instance_.user_fenced(userid_)) {
    auto moved = instance_.user_moved_at(userid_);
    if (!moved || *moved < logged_in_at_) return false;
  }
  // The user is being moved to another slot, or was moved after this
  // session logged in: it would show an old copy (and its changes land
  // there), so it ends here; the client's next login is routed to the
  // user's new slot.
  reply("* BYE [UNAVAILABLE] Mailbox is being moved to another server, try again later");
  state_ = State::kLogout;
  return true;
}

void Session::execute(std::string_view bytes) {
  if (bye_if_fenced()) return;
  std::string tag;
  auto cmd = parse_command(bytes, &tag, options_.parse);
  if (!cmd.ok()) {
    reply((tag.empty() ? "*" : tag) + " BAD " + cmd.status().message());
    return;
  }
  dispatch(*cmd);
}

void Session::tagged(const Command& cmd, std::string_view status, std::string_view text) {
  // sync_wait_replicas: what the command changed is on the replicas before
  // the client hears of it. Under sync_wait_on_timeout: refuse an OK
  // becomes a temporary NO (the change is made here; RFC 5530 UNAVAILABLE).
  if (Status w = instance_.wait_replicated(); !w.is_ok() && status == "OK") {
    status = "NO";
    text = "[UNAVAILABLE] Not replicated in time; the change was made here, check before retrying";
  }
  if (selected_ && state_ == State::kSelected) {
    // RFC 3501 §7.4.1: no EXPUNGE while the client may hold sequence numbers
    // from a FETCH, STORE or SEARCH; their UID forms may have them.
    SelectedMailbox::RefreshOptions ro;
    ro.allow_expunge = !holds_expunges(cmd);
    ro.qresync = qresync_;
    ro.condstore = condstore_;
    // With QRESYNC enabled an unsolicited FETCH carries the UID, with
    // CONDSTORE enabled the MODSEQ (RFC 7162 3.1.4, 3.2.4; as Cyrus 3.6).
    ro.with_uid = cmd.uid || qresync_;
    ro.quiet = std::exchange(quiet_uids_, {});
    if (!std::is_sorted(ro.quiet.begin(), ro.quiet.end()))
      std::sort(ro.quiet.begin(), ro.quiet.end());
    Status st = selected_->refresh(ro, &out_);
    if (!st.is_ok()) spdlog::warn("imap: refresh {}: {}", selected_->name(), st.to_string());
  }
  out_ += cmd.tag;
  out_ += ' ';
  out_ += status;
  out_ += ' ';
  out_ += text;
  out_ += "\r\n";
}

void Session::tagged_error(const Command& cmd, const Status& st) {
  switch (st.code()) {
    case Code::kMailboxNonexistent:
      return tagged(cmd, "NO", "[NONEXISTENT] Mailbox does not exist");
    case Code::kMailboxExists:
      return tagged(cmd, "NO", "[ALREADYEXISTS] Mailbox already exists");
    case Code::kPermissionDenied:
      return tagged(cmd, "NO", "[NOPERM] Permission denied");
    case Code::kQuotaExceeded:
      return tagged(cmd, "NO", "[OVERQUOTA] Over quota");
    case Code::kMessageTooLarge:
      return tagged(cmd, "NO", "[TOOBIG] Message too large");
    case Code::kMailboxBadName:
      return tagged(cmd, "NO", "[CANNOT] Invalid mailbox name: " + st.message());
    case Code::kInvalidUser:
      return tagged(cmd, "NO", "[CANNOT] Invalid user: " + st.message());
    case Code::kProtocolError:
    case Code::kProtocolBadParameters:
    case Code::kInvalidArgument:
      return tagged(cmd, "BAD", st.message());
    case Code::kMailboxLocked:
      return tagged(cmd, "NO", "[INUSE] Mailbox is locked");
    case Code::kReadOnly:
      // RFC 5530's UNAVAILABLE: a temporary failure of a subsystem (here
      // the writable store, while the instance is fenced or read-only);
      // CANNOT would tell the client never to try again.
      return tagged(cmd, "NO", "[UNAVAILABLE] Server is in read-only mode, try again later");
    case Code::kMailboxMoved:
      // The user's fence (a move to another slot): temporary, as read-only.
      return tagged(cmd, "NO", "[UNAVAILABLE] Mailbox is being moved, try again later");
    case Code::kNoSpace:
      // Temporary: the client may try again once space is freed.
      spdlog::error("imap: {} {}: {}", cmd.tag, cmd.name, st.to_string());
      return tagged(cmd, "NO", "[UNAVAILABLE] mail system storage has been exceeded");
    default:
      spdlog::error("imap: {} {}: {}", cmd.tag, cmd.name, st.to_string());
      return tagged(cmd, "NO", "[SERVERBUG] " + st.message());
  }
}

std::string Session::capabilities() const {
  std::string caps =
      "IMAP4rev1 LITERAL+ ID ENABLE IDLE NAMESPACE UIDPLUS MOVE UNSELECT CHILDREN MULTIAPPEND";
  if (state_ == State::kNotAuthenticated) {
    if (options_.tls_available && !options_.secure) caps += " STARTTLS";
    // As Cyrus with sasl_mech_list: PLAIN: without a layer no mechanism is
    // left to offer, so neither AUTH= nor SASL-IR.
    if (!options_.secure && !options_.allow_plaintext) {
      caps += " LOGINDISABLED";
    } else {
      caps += " AUTH=PLAIN SASL-IR";
    }
    return caps;
  }
  // The connection's extensions (issue 14).
  caps +=
      " COMPRESS=DEFLATE APPENDLIMIT=" + std::to_string(options_.max_message) + " UNAUTHENTICATE";
  caps +=
      " CONDSTORE QRESYNC ACL RIGHTS=kxten QUOTA LIST-EXTENDED LIST-STATUS SPECIAL-USE "
      "CREATE-SPECIAL-USE ESEARCH SEARCHRES WITHIN OBJECTID SAVEDATE PREVIEW METADATA LIST-METADATA";
  // RFC 5256, RFC 5957, RFC 5267 (session_sort.cc).
  caps += " SORT SORT=DISPLAY SORT=MODSEQ SORT=UID THREAD=ORDEREDSUBJECT THREAD=REFERENCES "
          "THREAD=REFS ESORT";
  // RFC 8440 and RFC 8438 (session_mailbox.cc).
  caps += " LIST-MYRIGHTS STATUS=SIZE";
  // RFC 3516 (session_fetch.cc; literal8 APPEND in command_reader.cc).
  caps += " BINARY";
  // RFC 4469 (session_append.cc).
  caps += " CATENATE";
  return caps;
}

void Session::cmd_capability(const Command& cmd) {
  reply("* CAPABILITY " + capabilities());
  tagged(cmd, "OK", "Completed");
}

void Session::cmd_id(const Command& cmd) {
  reply("* ID (\"name\" \"replimail\" \"vendor\" \"replimail\" \"support-url\" NIL)");
  tagged(cmd, "OK", "Completed");
}

void Session::cmd_login(const Command& cmd) {
  if (cmd.args.size() != 2 || !cmd.args[0].is_astring() || !cmd.args[1].is_astring()) {
    return tagged(cmd, "BAD", "Invalid LOGIN arguments");
  }
  if (!options_.secure && !options_.allow_plaintext) {
    return tagged(cmd, "NO", "Login only available under a layer");
  }
  if (!sasl_) sasl_ = sasl_factory_(options_.secure);
  if (!sasl_) return tagged(cmd, "NO", "[UNAVAILABLE] Authentication unavailable");
  if (options_.login && !options_.login->before_attempt(cmd.args[0].text).allowed()) {
    spdlog::info("imap: badlogin {}: locked out", cmd.args[0].text);
    return tagged(cmd, "NO", kLockedOut);
  }
  net::SaslStep step = net::sasl_check_password(*sasl_, cmd.args[0].text, cmd.args[1].text);
  if (step.kind != net::SaslStep::Kind::kOk) {
    spdlog::info("imap: badlogin {}: {}", cmd.args[0].text, step.error);
    if (options_.login) options_.login->failed(cmd.args[0].text);
    return tagged(cmd, "NO", "[AUTHENTICATIONFAILED] Login failed: authentication failure");
  }
  auth_tag_ = cmd.tag;
  login_done(sasl_->username());
}

void Session::cmd_authenticate(const Command& cmd) {
  if (cmd.args.empty() || cmd.args.size() > 2 || !cmd.args[0].is_atom()) {
    return tagged(cmd, "BAD", "Invalid AUTHENTICATE arguments");
  }
  if (!sasl_) sasl_ = sasl_factory_(options_.secure);
  if (!sasl_) return tagged(cmd, "NO", "[UNAVAILABLE] Authentication unavailable");
  auth_tag_ = cmd.tag;
  std::optional<std::string_view> initial;
  if (cmd.args.size() == 2) initial = cmd.args[1].text;
  if (auto bad = auth_.take_initial(initial)) return auth_step(*bad);
  std::string mech = to_upper(cmd.args[0].text);
  if ((mech == "PLAIN" || mech == "LOGIN") && !options_.secure && !options_.allow_plaintext) {
    return tagged(cmd, "NO", "encryption needed to use mechanism");
  }
  if (options_.login && !options_.login->before_attempt("").allowed()) {
    spdlog::info("imap: badlogin: locked out");
    return tagged(cmd, "NO", kLockedOut);
  }
  auth_step(auth_.start(*sasl_, mech));
}

void Session::auth_step(const net::SaslOutcome& outcome) {
  using Kind = net::SaslOutcome::Kind;
  if (outcome.kind == Kind::kChallenge) {
    state_ = State::kAuthenticating;
    return reply(outcome.line);
  }
  state_ = State::kNotAuthenticated;
  if (outcome.kind == Kind::kOk) return login_done(outcome.user);
  if (outcome.kind == Kind::kFailed) spdlog::info("imap: badlogin: {}", outcome.reason);
  Command cmd;
  cmd.tag = auth_tag_;
  cmd.name = "AUTHENTICATE";
  std::string_view line = outcome.line;
  size_t sp = line.find(' ');
  tagged(cmd, line.substr(0, sp), line.substr(sp + 1));
}

void Session::auth_response(std::string_view line) { auth_step(auth_.respond(line)); }

void Session::login_done(const std::string& user) {
  Command cmd;
  cmd.tag = auth_tag_;
  state_ = State::kNotAuthenticated;
  if (options_.login) {
    net::LoginCheck c = options_.login->succeeded(user, true);
    if (!c.allowed()) {
      sasl_.reset();  // a fresh exchange for the next attempt
      if (c.kind == net::LoginCheck::Kind::kLockedOut) return tagged(cmd, "NO", kLockedOut);
      // Cyrus 3.6's wording (imapd.c checklimits).
      return tagged(cmd, "NO", "Too many open connections (" + c.detail + ")");
    }
  }
  userid_ = user;
  logged_in_at_ = std::chrono::system_clock::now();
  is_admin_ = instance_.config().is_admin(user);
  ns_ = Namespace(options_.ns, user, is_admin_);
  state_ = State::kAuthenticated;
  reader_.set_limits(reader_limits());
  spdlog::info("imap: login: {}{}", user, is_admin_ ? " (admin)" : "");
  if (!is_admin_ && store::autocreate_on_login(instance_.config())) {
    // Cyrus's imapd creates a missing INBOX at login (autocreate_quota >= 0);
    // a failure is logged and the login still succeeds, as there.
    std::string inbox = store::user_inbox(user);
    if (store::validate_userid(user).is_ok() &&
        instance_.lookup(inbox).status().code() == Code::kMailboxNonexistent) {
      Status made = store::autocreate_user(instance_, user);
      if (!made) spdlog::warn("imap: autocreate {}: {}", user, made.to_string());
    }
  }
  tagged(cmd, "OK", "[CAPABILITY " + capabilities() + "] User logged in");
}

void Session::cmd_starttls(const Command& cmd) {
  if (!options_.tls_available || options_.secure) {
    return tagged(cmd, "NO", "TLS not available");
  }
  tagged(cmd, "OK", "Begin TLS negotiation now");
  starttls_pending_ = true;
}

void Session::tls_started() {
  starttls_pending_ = false;
  options_.secure = true;
  sasl_.reset();
  // Anything the client pipelined before the handshake is discarded.
  reader_.reset();
  drop_staged();
}

void Session::enable_condstore(std::string_view what) {
  if (condstore_) return;
  condstore_ = true;
  reply("* OK [HIGHESTMODSEQ " + std::to_string(selected_->highestmodseq()) +
        "] CONDSTORE enabled by " + std::string(what));
}

void Session::cmd_compress(const Command& cmd) {
  // Cyrus 3.6's answers, in its order of checks.
  if (cmd.args.empty()) return tagged(cmd, "BAD", "Missing required argument to Compress");
  if (cmd.args.size() > 1 || !cmd.args[0].is_atom()) {
    return tagged(cmd, "BAD", "Unexpected extra arguments to Compress");
  }
  if (compressed_) return tagged(cmd, "BAD", "[COMPRESSIONACTIVE] DEFLATE active via COMPRESS");
  if (!cmd.args[0].is_atom("DEFLATE")) {
    return tagged(cmd, "NO", "Unknown COMPRESS algorithm: " + cmd.args[0].text);
  }
  tagged(cmd, "OK", "DEFLATE active");
  compress_pending_ = true;
}

// RFC 8437: back to the not-authenticated state as it was after the greeting
// (or STARTTLS): the mailbox closed without expunge, the identity, its
// rights and every ENABLEd extension forgotten. TLS and COMPRESS stay.
void Session::cmd_unauthenticate(const Command& cmd) {
  if (!cmd.args.empty()) return tagged(cmd, "BAD", "Unexpected extra arguments to Unauthenticate");
  selected_.reset();
  saved_uids_.clear();
  quiet_uids_.clear();
  condstore_ = qresync_ = false;
  userid_.clear();
  if (options_.login) options_.login->logged_out();
  is_admin_ = false;
  ns_ = Namespace(options_.ns, "", false);
  quota_alerts_ = QuotaAlertPacer();
  sasl_.reset();
  state_ = State::kNotAuthenticated;
  reader_.set_limits(reader_limits());
  tagged(cmd, "OK", "Completed");
}

std::string Session::compression_started() {
  compress_pending_ = false;
  compressed_ = true;
  return std::exchange(after_compress_, {});
}

void Session::cmd_enable(const Command& cmd) {
  std::string enabled;
  for (const Value& v : cmd.args) {
    if (v.is_atom("CONDSTORE")) {
      condstore_ = true;
      enabled += " CONDSTORE";
    } else if (v.is_atom("QRESYNC")) {
      condstore_ = qresync_ = true;
      enabled += " QRESYNC";
    }
  }
  if (cmd.args.empty()) return tagged(cmd, "BAD", "Missing capability");
  reply("* ENABLED" + enabled);
  tagged(cmd, "OK", "Completed");
}

void Session::cmd_idle(const Command& cmd) {
  if (!cmd.args.empty()) return tagged(cmd, "BAD", "Unexpected arguments");
  idle_tag_ = cmd.tag;
  state_before_idle_ = state_;
  state_ = State::kIdle;
  reply("+ idling");
}

void Session::idle_line(std::string_view line) {
  state_ = state_before_idle_;
  Command cmd;
  cmd.tag = idle_tag_;
  cmd.name = "IDLE";
  if (!iequals(line, "DONE")) return tagged(cmd, "BAD", "Invalid Idle continuation");
  tagged(cmd, "OK", "Completed");
}

void Session::tick() {
  if (state_ != State::kIdle || !selected_ || bye_if_fenced()) return;
  SelectedMailbox::RefreshOptions ro;
  ro.qresync = qresync_;
  Status st = selected_->refresh(ro, &out_);
  if (!st.is_ok()) spdlog::warn("imap: idle refresh {}: {}", selected_->name(), st.to_string());
}

}  // namespace replimail::imap
