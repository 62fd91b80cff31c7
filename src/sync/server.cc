#include "sync/server.h"

#include <spdlog/spdlog.h>
#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "common/ascii.h"
#include "common/stats.h"
#include "dlist/framing.h"
#include "sync/protocol.h"
#include "synclog/synclog.h"

namespace replimail::sync {
namespace {

using dlist::Value;

std::string word_of(const Value& v) {
  auto s = v.str();
  return s ? to_upper(*s) : std::string();
}

Result<std::string> atom_arg(const Value& v) {
  auto s = v.str();
  if (!s) return Status(Code::kProtocolBadParameters, "expected an atom");
  return std::string(*s);
}

// A bare-atom argument that is a name of the grammar `check`
// (sync/protocol.h).
Result<std::string> name_arg(const Value& v, Status (*check)(std::string_view)) {
  auto name = atom_arg(v);
  if (!name.ok()) return name;
  Status s = check(*name);
  if (!s) return s;
  return name;
}

Result<std::vector<std::string>> names_arg(const Value& v, Status (*check)(std::string_view)) {
  auto names = atoms_from_dlist(v);
  if (!names.ok()) return names;
  for (const auto& n : *names) {
    Status s = check(n);
    if (!s) return s;
  }
  return names;
}

// What an unauthenticated peer may make the parser hold or skip: enough
// for AUTHENTICATE and COMPRESS, nothing like a message. A line past these
// is refused; one whose literals would need more skipping ends the session.
dlist::Limits preauth_limits() {
  dlist::Limits l;
  l.max_depth = 8;
  l.max_token = 16 * 1024;
  l.max_literal = 16 * 1024;
  l.max_values = 1024;
  l.max_line_memory = 64 * 1024;
  l.max_skip = 1 << 20;
  return l;
}

constexpr std::string_view kBadInitial = "BAD Invalid base64 in initial response\r\n";

// AUTHENTICATE's answers, Cyrus 3.6's sync_server wording.
net::SaslWording authenticate_wording() {
  net::SaslWording w;
  w.challenge = "+ {}\r\n";
  w.bad_initial = std::string(kBadInitial);
  w.bad_response = dlist::bad_line("Invalid base64 in client response");
  w.cancelled = dlist::bad_line("Client canceled authentication");
  w.no_mech = dlist::bad_line("Invalid mechanism");
  w.failed = dlist::no_line("{}");
  return w;
}

// Lines an unauthenticated peer may have refused (BAD, or NO for want of
// authentication) before the session is ended.
constexpr int kPreauthRefusals = 10;

}  // namespace

// Streams APPLY MESSAGE file literals into staging files of the reserve
// list; a finished file is registered under its GUID at once. Until the
// session allows it (an authenticated admin), every file literal is refused
// before anything touches the disk: the parser then skips its bytes.
class UploadSink : public dlist::FileSink {
 public:
  explicit UploadSink(ReserveList& reserve) : reserve_(reserve) {}
  // Whether file literals may be stored; `refusal` is why not.
  void allow(bool on, std::string refusal) {
    allowed_ = on;
    refusal_ = std::move(refusal);
  }
  // The refusal text if the last line had a file literal refused, else "".
  // Cleared by take_refusal().
  std::string take_refusal() { return std::exchange(refused_, std::string()); }

  Status begin(const dlist::FileRef& ref) override {
    if (!allowed_) {
      refused_ = refusal_;
      return Status(Code::kPermissionDenied, refusal_);
    }
    Status ok = check_partition(ref.partition);
    if (!ok) return ok;
    auto msg = reserve_.begin_upload(ref.partition, ref.guid);
    if (!msg.ok()) return msg.status();
    msg_ = std::move(*msg);
    guid_ = ref.guid;
    return Status::success();
  }
  Status write(std::string_view bytes) override { return msg_->write(bytes); }
  Result<std::string> finish() override { return reserve_.finish_upload(guid_, std::move(msg_)); }
  void discard() override { msg_.reset(); }

 private:
  ReserveList& reserve_;
  std::unique_ptr<UploadFile> msg_;
  std::string guid_;
  bool allowed_ = false;
  std::string refusal_;
  std::string refused_;
};

// Applies the RECORD members of an APPLY MAILBOX line while the line is
// parsed (a dlist::MemberSink). It starts at the first member, from the
// mailbox fields read so far, and only for an authenticated admin; a line
// whose fields before RECORD do not make a plain mailbox is left to the
// usual whole-line path. After the first error the remaining members are
// dropped and finish() reports that error.
class RecordStream : public dlist::MemberSink {
 public:
  explicit RecordStream(Replica& replica) : replica_(replica) {}

  void enable(bool on) { enabled_ = on; }
  bool started() const { return started_; }

  bool member(const std::vector<Value>& line, const Value& head, Value& member) override {
    if (declined_) return false;
    if (!started_) {
      if (!enabled_ || line.size() != 2 || word_of(line[0]) != "APPLY" ||
          (word_of(line[1]) != "MAILBOX" && word_of(line[1]) != "LOCAL_MAILBOX")) {
        declined_ = true;
        return false;
      }
      auto m = mailbox_from_dlist(head);
      if (!m.ok() || !(m->mbtype.empty() || m->mbtype == "e")) {
        declined_ = true;
        return false;
      }
      started_ = true;
      head_ = std::move(*m);
      auto apply = replica_.begin_mailbox(head_);
      if (apply.ok())
        apply_ = std::move(*apply);
      else
        error_ = apply.status();
    }
    if (!error_) return true;
    auto item = record_from_dlist(member);
    error_ = item.ok() ? apply_->add(*item) : item.status();
    return true;
  }

  // The line is complete; `m` is its whole MAILBOX item, whose RECORD list
  // the parser left empty. REQUIRES: started().
  Status finish(const MailboxState& m) {
    Status s = error_;
    if (s) {
      MailboxState fields = m;
      fields.records.reset();
      s = fields == head_ ? apply_->finish(m)
                          : Status(Code::kProtocolBadParameters,
                                   "APPLY MAILBOX: mailbox fields after the RECORD list");
    }
    reset();
    return s;
  }

  // Drops an unfinished apply (rolled back) and readies for the next line.
  void reset() {
    apply_.reset();
    head_ = MailboxState();
    error_ = Status::success();
    started_ = false;
    declined_ = false;
  }

 private:
  Replica& replica_;
  bool enabled_ = false;
  bool started_ = false;
  bool declined_ = false;
  MailboxState head_;
  std::unique_ptr<MailboxApply> apply_;
  Status error_;
};

SyncServer::SyncServer(store::Instance& instance, net::Stream& stream, net::SaslServer* sasl,
                       ServerOptions options)
    : inst_(instance),
      io_(stream),
      wire_(stream),
      sasl_(sasl),
      opts_(std::move(options)),
      reserve_(instance),
      replica_(instance, reserve_),
      records_(std::make_unique<RecordStream>(replica_)),
      sink_(std::make_unique<UploadSink>(reserve_)),
      parser_(std::make_unique<dlist::Parser>(sink_.get())) {
  parser_->stream_members("RECORD", records_.get());
}

SyncServer::~SyncServer() = default;

void SyncServer::reply(const std::string& line) {
  Status s = io_.write_flush(line);
  if (!s) {
    spdlog::info("sync_server {}: write failed: {}", opts_.peer, s.to_string());
    state_ = State::kDone;
  }
}

Status SyncServer::send_banner() {
  std::string b;
  if (state_ != State::kAuthenticated && sasl_ != nullptr) {
    auto mechs = sasl_->mechanisms();
    if (!mechs.empty()) {
      b += "* SASL";
      for (const auto& m : mechs) b += " " + m;
      b += "\r\n";
    }
  }
  if (opts_.tls != nullptr && !io_.tls() && state_ != State::kAuthenticated) b += "* STARTTLS\r\n";
  // Cyrus 3.6 stops offering COMPRESS after STARTTLS; deflate above TLS
  // still saves the link's bytes, and a Cyrus client handles either.
  if (!io_.compressed()) b += "* COMPRESS DEFLATE\r\n";
  // No "* SIEVE-MAILBOX": sieve scripts travel as legacy APPLY SIEVE items
  // into the user's sieve directory (sync/sieve.h), because this store has
  // no sieve-type mailbox to hold a replicated #sieve folder.
  b += "* OK " + opts_.servername + " Cyrus sync server replimail\r\n";
  return io_.write_flush(b);
}

void SyncServer::run() {
  // A replica does not re-log what it receives (unless sync_log_chain).
  inst_.synclog().suppress();
  if (opts_.preauth) {
    state_ = State::kAuthenticated;
    admin_ = true;
  }
  Status s = send_banner();
  if (!s) return;
  if (state_ == State::kGreeting) state_ = State::kUnauthenticated;
  if (state_ != State::kAuthenticated) parser_->set_limits(preauth_limits());
  while (state_ != State::kDone) {
    const bool trusted = state_ == State::kAuthenticated && admin_;
    records_->enable(trusted);
    sink_->allow(trusted, state_ == State::kAuthenticated ? "Permission denied"
                                                          : "Please authenticate first");
    const bool was_authenticated = state_ == State::kAuthenticated;
    auto ev = wire_.read_line(*parser_);
    if (!ev.ok()) {
      if (!io_.eof())
        spdlog::info("sync_server {}: connection ended: {}", opts_.peer, ev.status().to_string());
      break;
    }
    if (*ev == dlist::Parser::Event::kBadLine) {
      spdlog::warn("sync_server {}: bad input: {}", opts_.peer, parser_->error().to_string());
      records_->reset();
      std::string refusal = sink_->take_refusal();
      if (!refusal.empty())
        reply(dlist::no_line(refusal));
      else
        reply(dlist::bad_line("IMAP_PROTOCOL_ERROR Failed to parse line: " +
                              parser_->error().message()));
      if (parser_->lost()) {
        spdlog::warn("sync_server {}: input cannot be resynchronised; closing", opts_.peer);
        reply(dlist::bye_line("Too much unparsable input"));
        state_ = State::kDone;
      }
      if (!was_authenticated) preauth_refused();
      continue;
    }
    dispatch(parser_->take_line());
    records_->reset();
  }
  // A file literal cut off by the peer is discarded by the parser; only
  // then can the staging directory go. An APPLY MAILBOX cut off mid-list
  // is rolled back first (its transaction unlinks the files it linked).
  records_->reset();
  parser_.reset();
  reserve_.clear();
}

namespace {

// replimail_sync_commands_total and replimail_sync_errors_total{command,
// kind} (common/stats.h): GET/APPLY/RESTORE and the item's kind, one of
// csync's (a kind the peer made up counts as "other").
void count_sync_command(const std::string& cmd, std::string_view key, const Status& result) {
  static const std::initializer_list<std::string_view> kKinds = {
      "ACTIVATE_SIEVE", "ANNOTATION", "EXPUNGE",  "FULLMAILBOX", "LSUB",     "MAILBOX",
      "MAILBOXES",      "MESSAGE",    "META",     "QUOTA",       "RENAME",   "RESERVE",
      "SEEN",           "SIEVE",      "SUB",      "UNACTIVATE_SIEVE", "UNANNOTATION",
      "UNMAILBOX",      "UNQUOTA",    "UNSIEVE",  "UNSUB",       "UNUSER",   "USER"};
  std::string kind = to_upper(key);
  if (kind.starts_with("LOCAL_")) kind = kind.substr(6);
  if (std::find(kKinds.begin(), kKinds.end(), kind) == kKinds.end()) kind = "other";
  const exposition::Labels labels = {{"command", cmd}, {"kind", kind}};
  stats::counter("replimail_sync_commands_total",
                 "csync commands sync_server answered, per command and kind.", labels)
      .add();
  if (!result) {
    stats::counter("replimail_sync_errors_total",
                   "csync commands sync_server refused (NO), per command and kind.", labels)
        .add();
  }
}

}  // namespace

// The verb table: the one place that names the csync commands the server
// knows. A verb is added here; dispatch() makes the state checks its row
// asks for, in Cyrus's wording, and calls its handler.
struct SyncServer::Verb {
  enum class Needs {
    kAnyState,    // handled in any state; the handler checks what it needs
    kTlsOffered,  // as kAnyState, but unrecognized unless STARTTLS is offered
    kAdmin,       // an authenticated admin; one keyed item (GET MAILBOXES ...)
  };
  std::string_view name;
  Needs needs;
  // kAnyState and kTlsOffered: answers the whole line itself.
  void (*line)(SyncServer& s, const std::vector<Value>& line) = nullptr;
  // kAdmin: the status line after any untagged data (OK, or NO with the
  // error's code), counted in the sync command metrics.
  Status (*item)(SyncServer& s, const Value& item) = nullptr;
  // kAdmin: a change, refused at once in read-only mode.
  bool changes = false;
};

const SyncServer::Verb* SyncServer::find_verb(std::string_view name) {
  using S = SyncServer;
  using L = std::vector<Value>;
  using N = Verb::Needs;
  static const Verb kVerbs[] = {
      {"NOOP", N::kAnyState, [](S& s, const L&) { s.reply(dlist::ok_line("Noop completed")); }},
      {"EXIT", N::kAnyState,
       [](S& s, const L&) {
         s.reply(dlist::ok_line("Finished"));
         s.state_ = State::kDone;
       }},
      {"RESTART", N::kAnyState,
       [](S& s, const L&) {
         s.reserve_.clear();
         s.reply(dlist::ok_line("Restarting"));
       }},
      {"AUTHENTICATE", N::kAnyState, [](S& s, const L& l) { s.authenticate(l); }},
      {"COMPRESS", N::kAnyState, [](S& s, const L& l) { s.compress(l); }},
      {"STARTTLS", N::kTlsOffered, [](S& s, const L& l) { s.starttls(l); }},
      {"GET", N::kAdmin, nullptr, [](S& s, const Value& v) { return s.get(v); }, false},
      {"APPLY", N::kAdmin, nullptr, [](S& s, const Value& v) { return s.apply(v); }, true},
      {"RESTORE", N::kAdmin, nullptr, [](S& s, const Value& v) { return s.apply(v); }, true},
  };
  for (const Verb& v : kVerbs) {
    if (v.name == name) return &v;
  }
  return nullptr;
}

void SyncServer::dispatch(std::vector<Value> line) {
  if (line.empty()) return reply(dlist::bad_line("Null command"));
  std::string cmd = word_of(line[0]);
  const Verb* verb = find_verb(cmd);
  if (verb != nullptr && verb->needs == Verb::Needs::kTlsOffered && opts_.tls == nullptr) {
    verb = nullptr;
  }
  if (verb == nullptr) {
    reply(dlist::bad_line("IMAP_PROTOCOL_ERROR Unrecognized command"));
    if (state_ != State::kAuthenticated) preauth_refused();
    return;
  }
  if (verb->needs != Verb::Needs::kAdmin) return verb->line(*this, line);
  if (state_ != State::kAuthenticated) {
    reply(dlist::no_line("Please authenticate first"));
    preauth_refused();
    return;
  }
  if (!admin_) return reply(dlist::no_line("Permission denied"));
  item_command(*verb, cmd, std::move(line));
}

void SyncServer::item_command(const Verb& verb, const std::string& cmd, std::vector<Value> line) {
  if (line.size() < 2) return reply(dlist::bad_line("Missing required argument to " + cmd));
  auto item = dlist::keyed(std::move(line), 1);
  if (!item.ok())
    return reply(dlist::bad_line("IMAP_PROTOCOL_ERROR Failed to parse " + cmd + " line"));
  // A replica being fenced (read-only mode) refuses every change up front,
  // before a RESERVE stages anything; GET goes on. The store refuses too
  // (store::Instance::check_writable), so this only makes the answer early.
  if (verb.changes) {
    if (Status w = inst_.check_writable(); !w) {
      spdlog::info("sync_server {}: {} {} refused: read-only mode", opts_.peer, cmd, item->key());
      return reply(dlist::no_line(w.code()));
    }
  }
  Status s = verb.item(*this, *item);
  count_sync_command(cmd, item->key(), s);
  if (!s) {
    spdlog::warn("sync_server {}: {} {}: {}", opts_.peer, cmd, item->key(), s.to_string());
    return reply(dlist::no_line(s.code()));
  }
  reply(dlist::ok_line());
}

void SyncServer::preauth_refused() {
  if (state_ == State::kDone || ++preauth_refusals_ < kPreauthRefusals) return;
  spdlog::warn("sync_server {}: {} refused lines before authentication; closing", opts_.peer,
               preauth_refusals_);
  reply(dlist::bye_line("Too many errors before authentication"));
  state_ = State::kDone;
}

void SyncServer::authenticate(const std::vector<Value>& line) {
  if (state_ == State::kAuthenticated) return reply(dlist::bad_line("Already authenticated"));
  if (line.size() < 2 || line.size() > 3)
    return reply(dlist::bad_line("Missing required argument to Authenticate"));
  if (sasl_ == nullptr) return reply(dlist::bad_line("Invalid mechanism"));
  std::string mech = to_upper(word_of(line[1]));
  if ((mech == "PLAIN" || mech == "LOGIN") && !io_.tls()) {
    auto offered = sasl_->mechanisms();
    if (std::find(offered.begin(), offered.end(), mech) == offered.end()) {
      spdlog::warn("sync_server {}: {} refused before TLS (allowplaintext: no)", opts_.peer, mech);
      return reply(dlist::no_line(opts_.tls != nullptr
                                      ? "Encryption needed to use mechanism " + mech +
                                            ": STARTTLS first (allowplaintext: no)"
                                      : "Mechanism " + mech +
                                            " needs TLS, which this server has not "
                                            "(allowplaintext: no, no tls_server_cert)"));
    }
  }
  net::SaslExchange exchange(authenticate_wording(), opts_.login);
  std::optional<std::string_view> initial;
  if (line.size() == 3) {
    auto raw = line[2].str();
    if (!raw) return reply(std::string(kBadInitial));
    initial = *raw;
  }
  if (auto bad = exchange.take_initial(initial)) return reply(bad->line);
  if (opts_.login && !opts_.login->before_attempt("").allowed()) {
    spdlog::warn("sync_server {}: authentication refused: locked out", opts_.peer);
    return reply(dlist::no_line("Too many failed logins, try again later"));
  }
  net::SaslOutcome outcome = exchange.start(*sasl_, mech);
  while (outcome.kind == net::SaslOutcome::Kind::kChallenge) {
    reply(outcome.line);
    if (state_ == State::kDone) return;
    auto ev = wire_.read_line(*parser_);
    if (!ev.ok()) {
      state_ = State::kDone;
      return;
    }
    if (*ev == dlist::Parser::Event::kBadLine)
      return reply(dlist::no_line("Error reading client response: malformed line"));
    auto resp = parser_->take_line();
    std::string text = resp.empty() ? std::string() : std::string(resp[0].str().value_or(""));
    outcome = exchange.respond(text);
  }
  if (outcome.kind == net::SaslOutcome::Kind::kFailed)
    spdlog::warn("sync_server {}: authentication failed: {}", opts_.peer, outcome.reason);
  if (outcome.kind != net::SaslOutcome::Kind::kOk) return reply(outcome.line);
  if (opts_.login && !opts_.login->succeeded(outcome.user, false).allowed()) {
    spdlog::warn("sync_server {}: login {} refused: locked out", opts_.peer, outcome.user);
    return reply(dlist::no_line("Too many failed logins, try again later"));
  }
  user_ = outcome.user;
  admin_ = inst_.config().is_admin(user_);
  state_ = State::kAuthenticated;
  parser_->set_limits(dlist::Limits());
  spdlog::info("sync_server {}: login {}{}", opts_.peer, user_, admin_ ? " (admin)" : "");
  reply(dlist::ok_line("Success (no protection)"));
}

void SyncServer::starttls(const std::vector<Value>& line) {
  if (line.size() > 1) return reply(dlist::bad_line("Unexpected extra arguments to Starttls"));
  if (state_ == State::kAuthenticated)
    return reply(dlist::bad_line("Can't Starttls after authentication"));
  if (io_.tls()) return reply(dlist::bad_line("Already did a successful Starttls"));
  reply(dlist::ok_line("Begin TLS negotiation now"));
  if (state_ == State::kDone) return;
  // A peer may not pipeline after STARTTLS: such bytes came in clear.
  if (size_t dropped = io_.discard_input(); dropped > 0)
    spdlog::warn("csync: {} bytes pipelined after STARTTLS dropped", dropped);
  Status s = io_.start_tls_server(*opts_.tls, tls_handshake_timeout(io_));
  if (!s) {
    // The peer's state is unknown: nothing more can be said to it.
    spdlog::info("sync_server {}: STARTTLS failed: {}", opts_.peer, s.to_string());
    state_ = State::kDone;
    return;
  }
  spdlog::info("sync_server {}: TLS {}", opts_.peer, io_.tls_description());
  if (opts_.sasl_after_tls) {
    tls_sasl_ = opts_.sasl_after_tls();
    sasl_ = tls_sasl_.get();
  }
  if (!send_banner()) state_ = State::kDone;
}

void SyncServer::compress(const std::vector<Value>& line) {
  std::string alg = line.size() > 1 ? word_of(line[1]) : std::string();
  if (io_.compressed()) return reply(dlist::no_line("Compression already active: DEFLATE"));
  if (alg != "DEFLATE") return reply(dlist::no_line("Unknown compression algorithm: " + alg));
  reply(dlist::ok_line("DEFLATE active"));
  Status s = io_.start_compression();
  if (!s) {
    spdlog::error("sync_server {}: compression: {}", opts_.peer, s.to_string());
    state_ = State::kDone;
  }
}

Status SyncServer::untagged(const std::string& key, Value v) {
  v.set_key(key);
  return dlist::write_untagged(v, wire_);
}

Status SyncServer::get(const Value& item) {
  const std::string key = to_upper(item.key());
  if (key == "USER" || key == "META") {
    auto userid = name_arg(item, check_userid);
    if (!userid.ok()) return userid.status();
    auto u = replica_.get_user(*userid, key == "USER");
    if (!u.ok()) return u.status();
    for (const auto& m : u->mailboxes) {
      Status s = untagged("MAILBOX", to_dlist(m, MailboxForm::kReply));
      if (!s) return s;
    }
    for (const auto& q : u->quotas) {
      Status s = untagged("QUOTA", to_dlist(q));
      if (!s) return s;
    }
    for (const auto& seen : u->seen) {
      Status s = untagged("SEEN", to_dlist(seen, false));
      if (!s) return s;
    }
    if (!u->lsub.empty()) {
      Status s = untagged("LSUB", atom_list(u->lsub));
      if (!s) return s;
    }
    for (const auto& script : u->sieve) {
      Status s = untagged("SIEVE", to_dlist(script));
      if (!s) return s;
    }
    return Status::success();
  }
  if (key == "MAILBOXES" || key == "UNIQUEIDS") {
    auto names = names_arg(item, key == "MAILBOXES" ? check_mboxname : check_uniqueid);
    if (!names.ok()) return names.status();
    auto list =
        key == "MAILBOXES" ? replica_.get_mailboxes(*names) : replica_.get_uniqueids(*names);
    if (!list.ok()) return list.status();
    for (const auto& m : *list) {
      Status s = untagged("MAILBOX", to_dlist(m, MailboxForm::kReply));
      if (!s) return s;
    }
    return Status::success();
  }
  if (key == "FULLMAILBOX") {
    auto name = name_arg(item, check_mboxname);
    if (!name.ok()) return name.status();
    auto m = replica_.get_fullmailbox(*name);
    if (!m.ok()) return m.status();
    return untagged("MAILBOX", to_dlist(*m, MailboxForm::kReply));
  }
  if (key == "QUOTA") {
    auto root = name_arg(item, check_mboxname);
    if (!root.ok()) return root.status();
    auto q = replica_.get_quota(*root);
    if (!q.ok()) return q.status().code() == Code::kNotFound ? Status::success() : q.status();
    return untagged("QUOTA", to_dlist(*q));
  }
  if (key == "ANNOTATION") {
    // "" asks for the server annotations.
    auto name = name_arg(
        item, [](std::string_view n) { return n.empty() ? Status::success() : check_mboxname(n); });
    if (!name.ok()) return name.status();
    auto list = replica_.get_annotations(*name);
    if (!list.ok()) return list.status();
    for (const auto& a : *list) {
      Status s = untagged("ANNOTATION", to_dlist(a, true));
      if (!s) return s;
    }
    return Status::success();
  }
  if (key == "FETCH") {
    auto name = item.find_str("MBOXNAME");
    auto uid = item.find_num("UID");
    auto g = item.find("GUID");
    if (!name || !uid || g == nullptr || !g->guid())
      return Status(Code::kProtocolBadParameters, "FETCH needs MBOXNAME, GUID and UID");
    if (Status ok = check_mboxname(*name); !ok) return ok;
    auto mbox = inst_.open_mailbox(*name);
    if (!mbox.ok()) return mbox.status();
    auto rec = (*mbox)->record(static_cast<uint32_t>(*uid));
    if (!rec.ok() || rec->guid != *g->guid() || rec->expunged())
      return Status(Code::kMailboxNonexistent, "no such message");
    dlist::FileRef ref{(*mbox)->entry().partition, rec->guid, rec->size,
                       (*mbox)->message_path(rec->uid)};
    return untagged("MESSAGE", Value::file(ref));
  }
  return Status(Code::kProtocolError, "unknown GET " + key);
}

Status SyncServer::apply(const Value& item) {
  std::string key = to_upper(item.key());
  if (key.starts_with("LOCAL_")) key = key.substr(6);
  if (key == "RESERVE") {
    auto r = reserve_from_dlist(item);
    if (!r.ok()) return r.status();
    auto missing = reserve_.reserve(r->partition, r->mboxnames, r->guids);
    if (!missing.ok()) return missing.status();
    if (missing->empty()) return Status::success();
    Value l = Value::list();
    for (const auto& g : *missing) l.push(Value::guid(g));
    return untagged("MISSING", std::move(l));
  }
  if (key == "MESSAGE") {
    // The file literals were staged while the line was parsed; they are
    // made durable together (group commit, ReserveList::sync_uploads).
    if (!item.is_list()) return Status(Code::kProtocolBadParameters, "MESSAGE is not a list");
    return reserve_.sync_uploads();
  }
  if (key == "MAILBOX") {
    auto m = mailbox_from_dlist(item);
    if (!m.ok()) return m.status();
    if (records_->started()) return records_->finish(*m);
    return replica_.apply_mailbox(*m);
  }
  if (key == "UNMAILBOX") {
    auto name = name_arg(item, check_mboxname);
    if (!name.ok()) return name.status();
    return replica_.apply_unmailbox(*name);
  }
  if (key == "RENAME") {
    auto r = rename_from_dlist(item);
    if (!r.ok()) return r.status();
    return replica_.apply_rename(*r);
  }
  if (key == "EXPUNGE") {
    auto e = expunge_from_dlist(item);
    if (!e.ok()) return e.status();
    return replica_.apply_expunge(*e);
  }
  if (key == "SUB" || key == "UNSUB") {
    auto s = sub_from_dlist(item);
    if (!s.ok()) return s.status();
    return replica_.apply_sub(*s, key == "SUB");
  }
  if (key == "SEEN") {
    auto s = seen_from_dlist(item, true);
    if (!s.ok()) return s.status();
    return replica_.apply_seen(*s);
  }
  if (key == "QUOTA") {
    auto q = quota_from_dlist(item);
    if (!q.ok()) return q.status();
    return replica_.apply_quota(*q);
  }
  if (key == "UNQUOTA") {
    auto root = name_arg(item, check_mboxname);
    if (!root.ok()) return root.status();
    return replica_.apply_unquota(*root);
  }
  if (key == "ANNOTATION" || key == "UNANNOTATION") {
    auto a = annotation_from_dlist(item, key == "ANNOTATION");
    if (!a.ok()) return a.status();
    return replica_.apply_annotation(*a);
  }
  if (key == "SIEVE" || key == "UNSIEVE" || key == "ACTIVATE_SIEVE" || key == "UNACTIVATE_SIEVE") {
    auto r = sieve_from_dlist(item, key);
    if (!r.ok()) return r.status();
    if (key == "SIEVE") return replica_.apply_sieve(*r);
    if (key == "UNSIEVE") return replica_.apply_unsieve(*r);
    if (key == "ACTIVATE_SIEVE") return replica_.apply_activate_sieve(*r);
    return replica_.apply_unactivate_sieve(*r);
  }
  if (key == "UNUSER") {
    auto userid = name_arg(item, check_userid);
    if (!userid.ok()) return userid.status();
    return replica_.apply_unuser(*userid);
  }
  if (key == "FORCE") {
    replica_.set_force(true);
    return Status::success();
  }
  if (key == "CAPABILITIES") {
    // None of the capabilities a client may enable (SIEVE-MAILBOX in 3.6)
    // is offered, so nothing is enabled and no ENABLED item is sent.
    auto caps = atoms_from_dlist(item);
    return caps.ok() ? Status::success() : caps.status();
  }
  return Status(Code::kProtocolError, "unknown APPLY " + key);
}

}  // namespace replimail::sync
