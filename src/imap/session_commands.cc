// The command table and dispatch: the one place that names the IMAP
// commands the session knows. A command is added here (with its handler
// declared in session.h); the state checks, the UID prefix, the no-argument
// grammar and the commands counter all follow from its row.
#include "common/stats.h"
#include "imap/session.h"

namespace replimail::imap {

// The state a command needs; what is answered when it is missing.
enum class Session::Needs {
  kAnyState,          // CAPABILITY, NOOP, LOGOUT, ID
  kNotAuthenticated,  // otherwise BAD "Already authenticated"
  kAuthenticated,     // otherwise BAD "Please login first"
  kSelected,          // as kAuthenticated, then BAD "Please select a mailbox first"
};

struct Session::CommandSpec {
  std::string_view name;  // upper case, as parse_command() gives it
  Needs needs;
  // "UID <name>" exists; otherwise BAD "Unrecognized UID subcommand".
  bool uid = false;
  // The grammar takes no arguments (RFC 3501 §9 command-any, NAMESPACE,
  // CHECK, UNSELECT, STARTTLS): anything after the name is BAD "Unexpected
  // extra arguments to <name>", as Cyrus 3.6 answers.
  bool no_arguments = false;
  // The sequence-number form may not be followed by EXPUNGE responses
  // (RFC 3501 §7.4.1): the client may hold sequence numbers from it.
  bool holds_expunges = false;
  void (*run)(Session& s, const Command& cmd) = nullptr;
};

const Session::CommandSpec* Session::find_command(std::string_view name) {
  using S = Session;
  using C = Command;
  constexpr Needs kAny = Needs::kAnyState, kNotAuth = Needs::kNotAuthenticated,
                  kAuth = Needs::kAuthenticated, kSel = Needs::kSelected;
  // name, needs, uid, no arguments, holds expunges, handler
  static const CommandSpec kCommands[] = {
      {"CAPABILITY", kAny, false, true, false, [](S& s, const C& c) { s.cmd_capability(c); }},
      {"NOOP", kAny, false, true, false, [](S& s, const C& c) { s.tagged(c, "OK", "Completed"); }},
      {"LOGOUT", kAny, false, true, false, [](S& s, const C& c) { s.cmd_logout(c); }},
      {"ID", kAny, false, false, false, [](S& s, const C& c) { s.cmd_id(c); }},

      {"LOGIN", kNotAuth, false, false, false, [](S& s, const C& c) { s.cmd_login(c); }},
      {"AUTHENTICATE", kNotAuth, false, false, false,
       [](S& s, const C& c) { s.cmd_authenticate(c); }},
      {"STARTTLS", kNotAuth, false, true, false, [](S& s, const C& c) { s.cmd_starttls(c); }},

      {"ENABLE", kAuth, false, false, false, [](S& s, const C& c) { s.cmd_enable(c); }},
      {"COMPRESS", kAuth, false, false, false, [](S& s, const C& c) { s.cmd_compress(c); }},
      {"UNAUTHENTICATE", kAuth, false, false, false,
       [](S& s, const C& c) { s.cmd_unauthenticate(c); }},
      {"SELECT", kAuth, false, false, false, [](S& s, const C& c) { s.cmd_select(c); }},
      {"EXAMINE", kAuth, false, false, false, [](S& s, const C& c) { s.cmd_select(c); }},
      {"CREATE", kAuth, false, false, false, [](S& s, const C& c) { s.cmd_create(c); }},
      {"DELETE", kAuth, false, false, false, [](S& s, const C& c) { s.cmd_delete(c); }},
      {"RENAME", kAuth, false, false, false, [](S& s, const C& c) { s.cmd_rename(c); }},
      {"SUBSCRIBE", kAuth, false, false, false, [](S& s, const C& c) { s.cmd_subscribe(c, true); }},
      {"UNSUBSCRIBE", kAuth, false, false, false,
       [](S& s, const C& c) { s.cmd_subscribe(c, false); }},
      {"LIST", kAuth, false, false, false, [](S& s, const C& c) { s.cmd_list(c, false); }},
      {"LSUB", kAuth, false, false, false, [](S& s, const C& c) { s.cmd_list(c, true); }},
      {"STATUS", kAuth, false, false, false, [](S& s, const C& c) { s.cmd_status(c); }},
      {"APPEND", kAuth, false, false, false, [](S& s, const C& c) { s.cmd_append(c); }},
      {"NAMESPACE", kAuth, false, true, false, [](S& s, const C& c) { s.cmd_namespace(c); }},
      {"IDLE", kAuth, false, false, false, [](S& s, const C& c) { s.cmd_idle(c); }},
      {"GETACL", kAuth, false, false, false, [](S& s, const C& c) { s.cmd_getacl(c); }},
      {"SETACL", kAuth, false, false, false, [](S& s, const C& c) { s.cmd_setacl(c, false); }},
      {"DELETEACL", kAuth, false, false, false, [](S& s, const C& c) { s.cmd_setacl(c, true); }},
      {"MYRIGHTS", kAuth, false, false, false, [](S& s, const C& c) { s.cmd_myrights(c); }},
      {"LISTRIGHTS", kAuth, false, false, false, [](S& s, const C& c) { s.cmd_listrights(c); }},
      {"GETQUOTA", kAuth, false, false, false, [](S& s, const C& c) { s.cmd_getquota(c, true); }},
      {"GETQUOTAROOT", kAuth, false, false, false,
       [](S& s, const C& c) { s.cmd_getquota(c, false); }},
      {"SETQUOTA", kAuth, false, false, false, [](S& s, const C& c) { s.cmd_setquota(c); }},
      {"GETMETADATA", kAuth, false, false, false, [](S& s, const C& c) { s.cmd_getmetadata(c); }},
      {"SETMETADATA", kAuth, false, false, false, [](S& s, const C& c) { s.cmd_setmetadata(c); }},

      {"CHECK", kSel, false, true, false, [](S& s, const C& c) { s.tagged(c, "OK", "Completed"); }},
      {"CLOSE", kSel, false, false, false, [](S& s, const C& c) { s.cmd_close(c, true); }},
      {"UNSELECT", kSel, false, true, false, [](S& s, const C& c) { s.cmd_close(c, false); }},
      {"EXPUNGE", kSel, true, false, false, [](S& s, const C& c) { s.cmd_expunge(c); }},
      {"SEARCH", kSel, true, false, true, [](S& s, const C& c) { s.cmd_search(c); }},
      {"SORT", kSel, true, false, true, [](S& s, const C& c) { s.cmd_sort(c); }},
      {"THREAD", kSel, true, false, true, [](S& s, const C& c) { s.cmd_thread(c); }},
      {"FETCH", kSel, true, false, true, [](S& s, const C& c) { s.cmd_fetch(c); }},
      {"STORE", kSel, true, false, true, [](S& s, const C& c) { s.cmd_store(c); }},
      {"COPY", kSel, true, false, false, [](S& s, const C& c) { s.cmd_copy(c, false); }},
      {"MOVE", kSel, true, false, false, [](S& s, const C& c) { s.cmd_copy(c, true); }},
  };
  for (const CommandSpec& spec : kCommands) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

bool Session::holds_expunges(const Command& cmd) {
  if (cmd.uid) return false;
  const CommandSpec* spec = find_command(cmd.name);
  return spec != nullptr && spec->holds_expunges;
}

void Session::dispatch(const Command& cmd) {
  const CommandSpec* spec = find_command(cmd.name);
  // replimail_commands_total (common/stats.h): the table's commands by name
  // ("UID FETCH" apart from "FETCH"), every other one as "other".
  if (spec == nullptr) {
    stats::count_command("other");
  } else {
    stats::count_command(cmd.uid ? "UID " + cmd.name : cmd.name);
  }
  if (cmd.uid && (spec == nullptr || !spec->uid)) {
    return tagged(cmd, "BAD", "Unrecognized UID subcommand");
  }
  if (spec == nullptr) return tagged(cmd, "BAD", "Unrecognized command");
  if (spec->no_arguments && !cmd.args.empty()) {
    return tagged(cmd, "BAD", "Unexpected extra arguments to " + cmd.name);
  }
  const bool logged_in = state_ != State::kNotAuthenticated;
  switch (spec->needs) {
    case Needs::kAnyState:
      break;
    case Needs::kNotAuthenticated:
      if (logged_in) return tagged(cmd, "BAD", "Already authenticated");
      break;
    case Needs::kAuthenticated:
      if (!logged_in) return tagged(cmd, "BAD", "Please login first");
      break;
    case Needs::kSelected:
      if (!logged_in) return tagged(cmd, "BAD", "Please login first");
      if (state_ != State::kSelected) return tagged(cmd, "BAD", "Please select a mailbox first");
      break;
  }
  spec->run(*this, cmd);
}

void Session::cmd_logout(const Command& cmd) {
  // RFC 3501 §6.1.3: after BYE only the tagged OK. The state changes first
  // so that tagged() reports no more changes of the mailbox.
  state_ = State::kLogout;
  // The session stops counting toward maxlogins_* before the client hears
  // BYE, so that a login right after LOGOUT is not refused.
  if (options_.login) options_.login->logged_out();
  reply("* BYE LOGOUT received");
  tagged(cmd, "OK", "Completed");
}

}  // namespace replimail::imap
