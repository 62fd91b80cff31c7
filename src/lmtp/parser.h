// LMTP wire syntax (RFC 2033 over RFC 5321 command syntax), as pure
// functions over bytes: no sockets, no disk, no configuration.
//
// Every function here accepts arbitrary input without crashing and with
// memory bounded by its input (the streaming transforms by a constant), so
// they can be fuzzed. A syntax error is a Status with
// Code::kProtocolBadParameters whose message is the human text of the reply
// ("Syntax error in parameters"); the session decides the reply code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace replimail::lmtp {

// Longest command line accepted, without its line ending. RFC 5321 asks for
// at least 512; Cyrus accepts more, and so do we.
inline constexpr size_t kMaxCommandLine = 4096;
// Longest SASL response line inside an AUTH exchange: RFC 4954 4 asks for
// at least 12288 octets (Kerberos tokens are large).
inline constexpr size_t kMaxAuthLine = 16384;

enum class Verb {
  kLhlo,
  kHelo,
  kEhlo,
  kMail,
  kRcpt,
  kData,
  kRset,
  kNoop,
  kQuit,
  kVrfy,
  kAuth,
  kStarttls,
  kUnknown,
};

// A command line split into its verb and the rest. `args` views into the
// line given to parse_command, with the single separating space removed.
struct Command {
  Verb verb = Verb::kUnknown;
  std::string_view args;
};

// Splits a command line (without CRLF). The verb is case-insensitive; a verb
// followed by anything but a space or the end of line is kUnknown.
Command parse_command(std::string_view line);

// A mailbox address, as used for delivery.
struct Address {
  std::string local;                  // the local part, unquoted ("john doe" for "\"john doe\"@x")
  std::string user;                   // local part before the first '+'
  std::optional<std::string> detail;  // after the first '+', if any (may be empty)
  std::string domain;                 // after '@', "" if none; "[1.2.3.4]" kept literally
};

// Parses an address without its angle brackets: `local[@domain]`, where the
// local part is a dot-string or a quoted string (RFC 5321 4.1.2).
Result<Address> parse_address(std::string_view text);

// MAIL FROM:<reverse-path> [SP param]*.
struct MailFrom {
  std::string reverse_path;         // without <>; "" for the null sender <>
  std::optional<uint64_t> size;     // SIZE=n (RFC 1870)
  std::string body;                 // BODY=7BIT|8BITMIME, upper-cased; "" if absent
  std::optional<std::string> auth;  // AUTH=xtext (RFC 4954), decoded; nullopt for <>
};
// `args` is what follows "MAIL " ("FROM:<a@b> SIZE=10").
Result<MailFrom> parse_mail_from(std::string_view args);

// RCPT TO:<forward-path> [SP param]*.
struct RcptTo {
  std::string path;  // without <>, as the client sent it
  Address address;
  bool ignorequota = false;  // Cyrus's IGNOREQUOTA parameter
};
// `args` is what follows "RCPT ".
Result<RcptTo> parse_rcpt_to(std::string_view args);

// AUTH mechanism [initial-response] (RFC 4954).
struct AuthArgs {
  std::string mechanism;  // upper-cased
  // The initial response still base64-encoded; "=" (an empty response) is
  // returned decoded as "" by base64_decode (common/base64.h).
  std::optional<std::string> initial_response;
};
Result<AuthArgs> parse_auth(std::string_view args);

// LHLO domain: returns the client's name (a domain or an address literal).
Result<std::string> parse_lhlo(std::string_view args);

// Reads the body of DATA: removes dot-stuffing, detects the terminating
// "CRLF.CRLF", and normalises line endings to CRLF (a bare LF becomes CRLF,
// a lone CR not followed by LF is dropped), so that a client sending bare
// LF is understood. Memory use is constant.
class DotDecoder {
 public:
  // Consumes bytes from `in` up to and including the terminating ".\r\n"
  // (or ".\n") line and appends the message bytes to `*out`. Returns how
  // many bytes of `in` were consumed; the rest belongs to the next command.
  // After done(), consumes nothing until reset().
  size_t feed(std::string_view in, std::string* out);
  bool done() const { return state_ == State::kDone; }
  // Prepares for the next message.
  void reset() { state_ = State::kLineStart; }

 private:
  enum class State { kLineStart, kMid, kCr, kDot, kDotCr, kDone };
  void text_byte(char c, std::string* out);
  State state_ = State::kLineStart;
};

// The sending side of DotDecoder: dot-stuffs a CRLF message streamed
// through feed() (a '.' starting a line is doubled) and ends it with the
// terminating line; a message not ending in CRLF gets one first. Memory use
// is constant.
class DotEncoder {
 public:
  void feed(std::string_view in, std::string* out);
  // Appends the end of the message: "[CRLF].CRLF".
  void finish(std::string* out);

 private:
  bool line_start_ = true;
};

// One line of a reply the client side reads (RFC 5321 4.2): "250-text"
// (more lines follow) or "250 text" (the last), a bare "250" too.
struct ReplyLine {
  int code = 0;
  bool last = true;
  std::string text;  // after the separator
};
// kProtocolError for a line that is not a reply.
Result<ReplyLine> parse_reply_line(std::string_view line);

// Removes every occurrence of one header field (e.g. "Return-Path", which
// the delivery agent supplies itself) from the header section of a CRLF
// message, streaming: the body and every other header pass untouched.
// Memory use is bounded by the length of the header name.
class HeaderStripper {
 public:
  explicit HeaderStripper(std::string name) : name_(std::move(name)) {}
  // Appends the filtered form of `in` to `*out`.
  void feed(std::string_view in, std::string* out);

 private:
  enum class State { kLineStart, kPrefix, kKeep, kDrop, kBody };
  void decide(std::string* out);
  std::string name_;
  State state_ = State::kLineStart;
  bool dropping_field_ = false;  // the current field (with continuations) is dropped
  std::string prefix_;
};

}  // namespace replimail::lmtp
