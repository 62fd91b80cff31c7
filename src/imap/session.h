// The IMAP4rev1 server protocol state machine (RFC 3501 with LITERAL+,
// SASL-IR, ID, ENABLE, IDLE, NAMESPACE, UIDPLUS, MOVE, UNSELECT, CONDSTORE,
// QRESYNC, ACL/RIGHTS, QUOTA, LIST-EXTENDED, LIST-STATUS, SPECIAL-USE,
// ESEARCH, SORT, THREAD, ESORT), over bytes: the caller feeds what it reads from the client and
// writes back what take_output() returns; tick() lets an IDLE session notice
// other sessions' changes. No sockets (net::run_session moves the bytes and
// starts TLS or compression when the session asks: net/session_loop.h), so
// a whole conversation can be unit-tested as a transcript.
//
// Framing is a CommandReader's: the assembled command goes to
// parse_command(). An APPEND's message literals are not assembled but
// streamed, as they arrive, to staging files on the target mailbox's
// partition (so a 50 MB message never sits in memory); the command then
// carries an empty literal in each one's place. After login, lines over
// kMaxLine, message literals over max_message, other literals over
// max_literal and commands over max_command get NO [TOOBIG] (a refused
// non-synchronising literal's bytes are skipped), and the session carries
// on. Before login every literal is limited to kMaxPreauthLiteral and a
// command to kMaxLine, and a refused literal gets BAD; a non-synchronising
// one also ends the connection (BYE), as Cyrus does, rather than being read.
//
// Every change goes through store::Instance (so the sync log records it);
// every mailbox access is checked against the mailbox's ACL.
//
// Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "imap/command_reader.h"
#include "imap/message_check.h"
#include "imap/metadata.h"
#include "imap/namespace.h"
#include "imap/parser.h"
#include "imap/quota_warning.h"
#include "imap/selected.h"
#include "imap/sort.h"
#include "net/login_policy.h"
#include "net/sasl.h"
#include "net/session_loop.h"
#include "store/instance.h"

namespace replimail::imap {

// Before login: the largest literal (RFC 7888's LITERAL- bound).
inline constexpr uint64_t kMaxPreauthLiteral = 4096;
// What a size option of 0 ("unlimited" in Cyrus: a large internal limit)
// stands for: the most a command may hold in memory.
inline constexpr uint64_t kMaxInternalLimit = 16 * 1024 * 1024;
// Cyrus's maxmessagesize 0 ("unlimited"): the largest message a 32-bit
// RFC822.SIZE can state, advertised as APPENDLIMIT=4294967295.
inline constexpr uint64_t kUnlimitedMessage = UINT32_MAX;

// One message of an APPEND (session_append.cc).
struct AppendItem;

struct SessionOptions {
  std::string servername = "localhost";
  // Largest APPEND message (streamed to disk); Cyrus's maxmessagesize,
  // advertised as APPENDLIMIT (RFC 7889).
  uint64_t max_message = 64 * 1024 * 1024;
  // Largest other literal (held in memory); Cyrus's maxliteral.
  uint64_t max_literal = 128 * 1024;
  // Largest command held in memory, lines and literals (APPEND messages
  // excepted); Cyrus's maxargssize.
  uint64_t max_command = kMaxInternalLimit;
  // Cyrus's maxword and maxquoted (a line bounds both to kMaxLine anyway).
  ParseLimits parse;
  // STARTTLS may be offered (a certificate is configured).
  bool tls_available = false;
  // The connection is already encrypted (imaps) or local.
  bool secure = false;
  // allowplaintext: LOGIN and PLAIN without TLS.
  bool allow_plaintext = true;
  NamespaceOptions ns;
  // quotawarn, quotawarnkb, quotawarnmsg: alerts on SELECT.
  QuotaWarnOptions quota_warn;
  // failedloginpause, failure budgets, maxlogins_*; null: none.
  net::LoginPolicy* login = nullptr;
};

// Makes the SASL server for the connection; `secure` says whether the channel
// is encrypted (called again after STARTTLS).
using SaslFactory = std::function<std::unique_ptr<net::SaslServer>(bool secure)>;

// LIST's arguments and candidates (session_mailbox.cc).
struct ListRequest;
struct ListScan;

class Session : public net::PushSession, private CommandReader::Sink {
 public:
  // The states of a connection; every transition happens in session.cc.
  enum class State {
    kNotAuthenticated,
    kAuthenticating,  // inside AUTHENTICATE, waiting for a client response line
    kAuthenticated,
    kSelected,
    kIdle,  // inside IDLE, waiting for DONE
    kLogout,
  };

  // The greeting is queued at once.
  Session(store::Instance& instance, SaslFactory sasl, SessionOptions options);
  ~Session() override;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void feed(std::string_view bytes) override;
  std::string take_output() override;
  // Reports other sessions' changes while in IDLE (call about once a second).
  void tick() override;

  State state() const { return state_; }
  bool closed() const override { return state_ == State::kLogout; }
  const std::string& userid() const { return userid_; }
  // STARTTLS was accepted: the caller flushes output, runs the TLS handshake
  // and then calls tls_started().
  bool wants_starttls() const { return starttls_pending_; }
  void tls_started() override;
  // A FETCH or STORE answering many messages hands its output to `write`
  // every kEarlyWriteAt bytes: the client reads the first messages while
  // the rest are made, and the session's memory stays flat in the mailbox's
  // size.
  void set_early_writer(const std::function<bool(std::string_view)>& write) override {
    early_writer_ = write;
  }
  static constexpr size_t kEarlyWriteAt = 64 * 1024;
  // COMPRESS DEFLATE was accepted (RFC 4978): the caller flushes output,
  // switches its transport to deflate, inflates the bytes returned here
  // (what feed() was given after the command, sent compressed) and feeds
  // them back.
  bool wants_compression() const { return compress_pending_; }
  std::string compression_started() override;
  Upgrade upgrade() const override {
    if (starttls_pending_) return Upgrade::kStartTls;
    return compress_pending_ ? Upgrade::kCompress : Upgrade::kNone;
  }

 private:
  // ---- framing (session.cc): what the CommandReader delivers ----
  void command(std::string_view bytes) override;
  void raw_line(std::string_view line) override;
  void go_ahead() override;
  void refused(std::string_view tag, CommandReader::Refusal why, bool synchronising) override;
  // Streams a message literal of `size` bytes (a literal8 if `binary`) for
  // the APPEND in `command_so_far` to a staging file (session_append.cc).
  void message_begin(std::string_view command_so_far, uint64_t size, bool binary) override;
  void message_data(std::string_view bytes) override;
  void message_end() override;
  ReaderLimits reader_limits() const;
  void execute(std::string_view bytes);

  // ---- the command table (session_commands.cc) ----
  // Every command the session knows is one row there (name, the state it
  // needs, whether "UID <name>" exists, whether it takes no arguments,
  // whether its sequence form holds back EXPUNGE responses, handler);
  // dispatch() makes the checks the row asks for and runs the handler.
  enum class Needs;
  struct CommandSpec;
  static const CommandSpec* find_command(std::string_view name);
  void dispatch(const Command& cmd);
  // RFC 3501 §7.4.1: `cmd` is the sequence-number form of a command after
  // which no EXPUNGE response may be sent.
  static bool holds_expunges(const Command& cmd);
  void reply(std::string_view line);
  void tagged(const Command& cmd, std::string_view status, std::string_view text);
  void tagged_error(const Command& cmd, const Status& st);
  std::string capabilities() const;
  // Forgets the current command's staged messages.
  void drop_staged();
  // True (and the session ends with BYE) when the logged-in user is fenced
  // (store::Instance::user_fenced: a move to another slot).
  bool bye_if_fenced();

  // ---- connection and authentication (session.cc) ----
  void cmd_capability(const Command& cmd);
  void cmd_logout(const Command& cmd);
  void cmd_login(const Command& cmd);
  void cmd_authenticate(const Command& cmd);
  void auth_response(std::string_view line);
  void auth_step(const net::SaslOutcome& outcome);
  void login_done(const std::string& user);
  void cmd_starttls(const Command& cmd);
  void cmd_compress(const Command& cmd);
  void cmd_unauthenticate(const Command& cmd);
  void cmd_id(const Command& cmd);
  void cmd_enable(const Command& cmd);
  // A CONDSTORE-enabling command (RFC 7162 §3.1) other than ENABLE and
  // SELECT (CONDSTORE): the first one tells the selected mailbox's
  // HIGHESTMODSEQ, as "* OK [HIGHESTMODSEQ n] CONDSTORE enabled by <what>".
  void enable_condstore(std::string_view what);
  void cmd_idle(const Command& cmd);
  void idle_line(std::string_view line);

  // ---- mailboxes (session_mailbox.cc) ----
  Result<std::string> mailbox_arg(const Value& v) const;
  std::string rights_of(const store::MailboxEntry& e) const;
  // The entry of `name` if the user may see it ('l' or 'r'); otherwise
  // kMailboxNonexistent, hiding its existence.
  Result<store::MailboxEntry> visible(const std::string& name);
  std::string external(const std::string& name) const;
  void cmd_create(const Command& cmd);
  void cmd_delete(const Command& cmd);
  void cmd_rename(const Command& cmd);
  void cmd_subscribe(const Command& cmd, bool subscribe);
  void cmd_list(const Command& cmd, bool lsub);
  // LIST's candidates: the mailboxes the user may list, subscribed names
  // and their ancestors, as `req` asks.
  Status list_scan(const ListRequest& req, const std::set<std::string>& subscribed, ListScan* scan);
  // The responses for `ext`, one of scan.items that a pattern matched.
  void list_item(const ListRequest& req, const ListScan& scan, const std::string& ext, bool is_sub);
  void cmd_status(const Command& cmd);
  Result<std::string> status_items(const std::string& name, const std::vector<Value>& items);
  void cmd_namespace(const Command& cmd);

  // ---- METADATA (session_metadata.cc) ----
  void cmd_getmetadata(const Command& cmd);
  void cmd_setmetadata(const Command& cmd);
  // The "(entry value ...)" list of a METADATA response for `internal`
  // ("" for the server entries), "" when nothing is shown; `biggest` (if
  // not null) gets the longest value MAXSIZE left out.
  Result<std::string> metadata_list(const std::string& internal, std::vector<MetaName> names,
                                    const MetaOptions& opts, uint64_t* biggest);

  // ---- APPEND and MULTIAPPEND (session_append.cc) ----
  void cmd_append(const Command& cmd);
  // Gives `sink` the bytes a CATENATE URL names (RFC 4469; a URL without a
  // mailbox means the selected one). "" when done, else the text of the NO
  // answer, with [BADURL] unless `*badurl` was set false; an error status
  // from `sink` or the store.
  Result<std::string> catenate_url(std::string_view url,
                                   const std::function<Status(std::string_view)>& sink,
                                   bool* badurl);
  // Builds the CATENATE message `item` into `out` and checks it whole;
  // false once the command is answered (NO, BAD or an error).
  bool catenate(const Command& cmd, const AppendItem& item, store::StagedMessage& out);
  // Appends `items` (each with its file) to `name` in one transaction and
  // answers the command (APPENDUID, or why nothing was appended).
  void append_items(const Command& cmd, const std::string& name,
                    const std::vector<AppendItem>& items);

  // ---- rights and quota (session_admin.cc) ----
  void cmd_getacl(const Command& cmd);
  void cmd_setacl(const Command& cmd, bool remove);
  void cmd_myrights(const Command& cmd);
  void cmd_listrights(const Command& cmd);
  void cmd_getquota(const Command& cmd, bool by_root);
  void cmd_setquota(const Command& cmd);
  std::string quota_response(const store::QuotaRoot& q) const;

  // ---- the selected mailbox (session_select.cc) ----
  void cmd_select(const Command& cmd);
  void cmd_close(const Command& cmd, bool expunge);
  void cmd_expunge(const Command& cmd);
  void cmd_store(const Command& cmd);
  void cmd_copy(const Command& cmd, bool move);
  void cmd_search(const Command& cmd);
  // Calls `fn(seq, message, headers)` in sequence order for every message of
  // the selected mailbox that `key` matches (the index answering the text
  // keys it covers); `headers` is the message's header alone, parsed from
  // its message cache at most once (what SORT and THREAD read), null if it
  // cannot be read. Stops at, and returns, the first error of `fn`.
  using MatchFn = std::function<Status(uint32_t seq, const MessageView& message,
                                       const std::function<const mime::Message*()>& headers)>;
  Status for_each_match(const SearchKey& key, const MatchFn& fn);
  // Writes the message cache rows computed for records that had none.
  void flush_cache_fills();
  void cmd_fetch(const Command& cmd);
  Status fetch_one(uint32_t seq, const FetchRequest& req, bool uid_cmd, std::string* out);
  Status expunge_uids(const std::vector<uint32_t>& uids);
  std::vector<uint32_t> saved_or(const SequenceSet& set, bool uid,
                                 std::vector<uint32_t> resolved) const;

  // ---- SORT, THREAD, ESORT (session_sort.cc) ----
  void cmd_sort(const Command& cmd);
  void cmd_thread(const Command& cmd);
  // The messages `req` selects, in sequence order, each message file read
  // at most once (for the search and, if `with_headers`, the sort data);
  // `*max_modseq` raised to their highest MODSEQ.
  Status select_for_sort(const SearchRequest& req, bool with_headers,
                         std::vector<SortMessage>* out, uint64_t* max_modseq);

  store::Instance& instance_;
  QuotaAlertPacer quota_alerts_;
  SaslFactory sasl_factory_;
  std::unique_ptr<net::SaslServer> sasl_;
  SessionOptions options_;
  net::SaslExchange auth_;  // AUTHENTICATE's exchange
  State state_ = State::kNotAuthenticated;
  State state_before_idle_ = State::kAuthenticated;

  std::string out_;
  std::function<bool(std::string_view)> early_writer_;
  bool early_write_failed_ = false;
  // Hands out_ to the early writer once it holds kEarlyWriteAt bytes; false
  // once a write failed (the connection is gone: stop making the answer).
  bool write_early();
  CommandReader reader_;
  // The current command's APPEND messages, in order; the literal being read
  // goes to the last one. A null file or a non-OK `staging_status_` means
  // staging failed and the APPEND will answer NO. `staging_partition_` is
  // the target's partition, looked up at the first message.
  struct StagedLiteral {
    std::unique_ptr<store::StagedMessage> file;
    MessageCheck check;
  };
  std::vector<StagedLiteral> staged_;
  Status staging_status_;
  std::string staging_partition_;

  std::string userid_;
  // When userid_ logged in (bye_if_fenced: a move away after it).
  std::chrono::system_clock::time_point logged_in_at_{};
  bool is_admin_ = false;
  Namespace ns_;
  bool starttls_pending_ = false;
  bool compress_pending_ = false;
  bool compressed_ = false;
  std::string after_compress_;  // fed after COMPRESS, still deflated
  bool condstore_ = false;
  bool qresync_ = false;
  std::string auth_tag_;
  std::string idle_tag_;
  std::unique_ptr<SelectedMailbox> selected_;
  std::vector<uint32_t> saved_uids_;  // SEARCHRES `$`
  // UIDs whose FLAGS this command sent (FETCH, STORE), in the order sent:
  // the refresh after it leaves them out. A vector, not a set: a FETCH of
  // 100,000 messages adds 100,000 of them.
  std::vector<uint32_t> quiet_uids_;
};

}  // namespace replimail::imap
