#include "sync/server.h"

#include <spdlog/spdlog.h>
#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <span>
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

constexpr size_t kTrustedReadChunk = 256 * 1024;
constexpr size_t kPreauthReadChunk = 16 * 1024;

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
  // A replimail master sends its message cache with each record (CACHE);
  // Cyrus's sync_client ignores a capability it does not know.
  b += "* " + std::string(kCacheCapability) + "\r\n";
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
    // A master's uploads come in reads of kTrustedReadChunk: most message
    // files then arrive, and are written, in one piece.
    io_.set_read_chunk(trusted ? kTrustedReadChunk : kPreauthReadChunk);
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
// kind} (common/stats.h): GET/APPLY/RESTORE and the item's kind, a row of
// the verb's kind table ("other" for a kind the server does not know).
void count_sync_command(const std::string& cmd, std::string_view kind, const Status& result) {
  const exposition::Labels labels = {{"command", cmd}, {"kind", std::string(kind)}};
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

// A GET or APPLY item kind: the status line after any untagged data (OK, or
// NO with the error's code), counted in the sync command metrics under the
// row's name. `kind` is the row's name (one handler serves USER and META).
struct SyncServer::ItemKind {
  std::string_view name;
  Status (*handle)(SyncServer& s, const Value& item, std::string_view kind);
};

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
  // kAdmin: the item kinds it knows (its keyed item's key, one row each).
  std::span<const ItemKind> kinds = {};
  // kAdmin: a change, refused at once in read-only mode.
  bool changes = false;
  // kAdmin: a key may carry Cyrus's "LOCAL_" prefix (APPLY LOCAL_MAILBOX),
  // taken off before the lookup.
  bool local_prefix = false;
};

std::span<const SyncServer::ItemKind> SyncServer::get_kinds() {
  using S = SyncServer;
  using K = std::string_view;
  static const ItemKind kKinds[] = {
      {"USER", [](S& s, const Value& v, K) { return s.get_user(v, true); }},
      {"META", [](S& s, const Value& v, K) { return s.get_user(v, false); }},
      {"MAILBOXES", [](S& s, const Value& v, K k) { return s.get_mailboxes(v, k); }},
      {"UNIQUEIDS", [](S& s, const Value& v, K k) { return s.get_mailboxes(v, k); }},
      {"FULLMAILBOX",
       [](S& s, const Value& v, K) {
         auto name = name_arg(v, check_mboxname);
         if (!name.ok()) return name.status();
         auto m = s.replica_.get_fullmailbox(*name);
         if (!m.ok()) return m.status();
         return s.untagged("MAILBOX", to_dlist(*m, MailboxForm::kReply));
       }},
      {"QUOTA",
       [](S& s, const Value& v, K) {
         auto root = name_arg(v, check_mboxname);
         if (!root.ok()) return root.status();
         auto q = s.replica_.get_quota(*root);
         if (!q.ok()) return q.status().code() == Code::kNotFound ? Status::success() : q.status();
         return s.untagged("QUOTA", to_dlist(*q));
       }},
      {"ANNOTATION", [](S& s, const Value& v, K) { return s.get_annotations(v); }},
      {"FETCH", [](S& s, const Value& v, K) { return s.get_message(v); }},
  };
  return kKinds;
}

// Most APPLY kinds: the item parsed into its protocol type, then the
// replica's apply of it.
std::span<const SyncServer::ItemKind> SyncServer::apply_kinds() {
  using S = SyncServer;
  using K = std::string_view;
  static const ItemKind kKinds[] = {
      {"RESERVE", [](S& s, const Value& v, K) { return s.apply_reserve(v); }},
      {"MESSAGE",
       [](S& s, const Value& v, K) {
         // The file literals were staged while the line was parsed; they are
         // flushed together while the next command comes in, and APPLY
         // MAILBOX waits for that (ReserveList::start_sync). A NO here: the
         // last flush failed, and its files and these were dropped.
         if (!v.is_list()) return Status(Code::kProtocolBadParameters, "MESSAGE is not a list");
         return s.reserve_.start_sync();
       }},
      {"MAILBOX",
       [](S& s, const Value& v, K) {
         auto m = mailbox_from_dlist(v);
         if (!m.ok()) return m.status();
         if (s.records_->started()) return s.records_->finish(*m);
         return s.replica_.apply_mailbox(*m);
       }},
      {"UNMAILBOX",
       [](S& s, const Value& v, K) {
         auto name = name_arg(v, check_mboxname);
         return name.ok() ? s.replica_.apply_unmailbox(*name) : name.status();
       }},
      {"RENAME",
       [](S& s, const Value& v, K) {
         auto r = rename_from_dlist(v);
         return r.ok() ? s.replica_.apply_rename(*r) : r.status();
       }},
      {"EXPUNGE",
       [](S& s, const Value& v, K) {
         auto e = expunge_from_dlist(v);
         return e.ok() ? s.replica_.apply_expunge(*e) : e.status();
       }},
      {"SUB", [](S& s, const Value& v, K) { return s.apply_sub(v, true); }},
      {"UNSUB", [](S& s, const Value& v, K) { return s.apply_sub(v, false); }},
      {"SEEN",
       [](S& s, const Value& v, K) {
         auto seen = seen_from_dlist(v, true);
         return seen.ok() ? s.replica_.apply_seen(*seen) : seen.status();
       }},
      {"QUOTA",
       [](S& s, const Value& v, K) {
         auto q = quota_from_dlist(v);
         return q.ok() ? s.replica_.apply_quota(*q) : q.status();
       }},
      {"UNQUOTA",
       [](S& s, const Value& v, K) {
         auto root = name_arg(v, check_mboxname);
         return root.ok() ? s.replica_.apply_unquota(*root) : root.status();
       }},
      {"ANNOTATION", [](S& s, const Value& v, K) { return s.apply_annotation(v, true); }},
      {"UNANNOTATION", [](S& s, const Value& v, K) { return s.apply_annotation(v, false); }},
      {"SIEVE", [](S& s, const Value& v, K k) { return s.apply_sieve(v, k); }},
      {"UNSIEVE", [](S& s, const Value& v, K k) { return s.apply_sieve(v, k); }},
      {"ACTIVATE_SIEVE", [](S& s, const Value& v, K k) { return s.apply_sieve(v, k); }},
      {"UNACTIVATE_SIEVE", [](S& s, const Value& v, K k) { return s.apply_sieve(v, k); }},
      {"UNUSER",
       [](S& s, const Value& v, K) {
         auto userid = name_arg(v, check_userid);
         return userid.ok() ? s.replica_.apply_unuser(*userid) : userid.status();
       }},
      {"FORCE",
       [](S& s, const Value&, K) {
         s.replica_.set_force(true);
         return Status::success();
       }},
      {"CAPABILITIES",
       [](S&, const Value& v, K) {
         // None of the capabilities a client may enable (SIEVE-MAILBOX in
         // 3.6) is offered, so nothing is enabled and no ENABLED item is sent.
         auto caps = atoms_from_dlist(v);
         return caps.ok() ? Status::success() : caps.status();
       }},
  };
  return kKinds;
}

const SyncServer::ItemKind* SyncServer::find_kind(const Verb& verb, std::string_view key) {
  std::string kind = to_upper(key);
  if (verb.local_prefix && kind.starts_with("LOCAL_")) kind = kind.substr(6);
  for (const ItemKind& k : verb.kinds) {
    if (k.name == kind) return &k;
  }
  return nullptr;
}

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
         s.reserve_.restart();
         s.reply(dlist::ok_line("Restarting"));
       }},
      {"AUTHENTICATE", N::kAnyState, [](S& s, const L& l) { s.authenticate(l); }},
      {"COMPRESS", N::kAnyState, [](S& s, const L& l) { s.compress(l); }},
      {"STARTTLS", N::kTlsOffered, [](S& s, const L& l) { s.starttls(l); }},
      {"GET", N::kAdmin, nullptr, get_kinds(), false},
      {"APPLY", N::kAdmin, nullptr, apply_kinds(), true, true},
      {"RESTORE", N::kAdmin, nullptr, apply_kinds(), true, true},
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
  const ItemKind* kind = find_kind(verb, item->key());
  Status s = kind != nullptr ? kind->handle(*this, *item, kind->name)
                             : Status(Code::kProtocolError, "unknown " + cmd + " " +
                                                                to_upper(item->key()));
  count_sync_command(cmd, kind != nullptr ? kind->name : "other", s);
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

Status SyncServer::get_user(const Value& item, bool with_mailboxes) {
  auto userid = name_arg(item, check_userid);
  if (!userid.ok()) return userid.status();
  auto u = replica_.get_user(*userid, with_mailboxes);
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

Status SyncServer::get_mailboxes(const Value& item, std::string_view kind) {
  bool by_name = kind == "MAILBOXES";
  auto names = names_arg(item, by_name ? check_mboxname : check_uniqueid);
  if (!names.ok()) return names.status();
  auto list = by_name ? replica_.get_mailboxes(*names) : replica_.get_uniqueids(*names);
  if (!list.ok()) return list.status();
  for (const auto& m : *list) {
    Status s = untagged("MAILBOX", to_dlist(m, MailboxForm::kReply));
    if (!s) return s;
  }
  return Status::success();
}

Status SyncServer::get_annotations(const Value& item) {
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

Status SyncServer::get_message(const Value& item) {
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

Status SyncServer::apply_reserve(const Value& item) {
  auto r = reserve_from_dlist(item);
  if (!r.ok()) return r.status();
  auto missing = reserve_.reserve(r->partition, r->mboxnames, r->guids);
  if (!missing.ok()) return missing.status();
  if (missing->empty()) return Status::success();
  Value l = Value::list();
  for (const auto& g : *missing) l.push(Value::guid(g));
  return untagged("MISSING", std::move(l));
}

Status SyncServer::apply_sub(const Value& item, bool subscribe) {
  auto s = sub_from_dlist(item);
  if (!s.ok()) return s.status();
  return replica_.apply_sub(*s, subscribe);
}

Status SyncServer::apply_annotation(const Value& item, bool set) {
  auto a = annotation_from_dlist(item, set);
  if (!a.ok()) return a.status();
  return replica_.apply_annotation(*a);
}

Status SyncServer::apply_sieve(const Value& item, std::string_view kind) {
  auto r = sieve_from_dlist(item, kind);
  if (!r.ok()) return r.status();
  if (kind == "SIEVE") return replica_.apply_sieve(*r);
  if (kind == "UNSIEVE") return replica_.apply_unsieve(*r);
  if (kind == "ACTIVATE_SIEVE") return replica_.apply_activate_sieve(*r);
  return replica_.apply_unactivate_sieve(*r);
}

}  // namespace replimail::sync
