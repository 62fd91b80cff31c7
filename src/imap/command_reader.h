// Splits what an IMAP client sends into commands (RFC 3501 §2.2.1 and
// §4.3, RFC 7888 LITERAL+): command lines and the literals they announce,
// with every byte held in memory bounded. Pure: no sockets, no disk.
//
// A command's lines are kept together with its literals inline in wire form
// ("{5}\r\nhello") and handed over whole, for parse_command(). APPEND's
// message literals are not kept: their bytes go to the sink as they arrive
// (the session streams them to staging files) and an empty literal "{0}"
// stands in for each. Whether a literal is an APPEND message is decided
// once per command, at its first literal, from the command's first line
// (later literals of an APPEND are messages), so the work per input byte is
// bounded whatever the number of literals: bytes_examined() counts it (each
// byte scanned, parsed, copied, forwarded or skipped).
//
// Limits: a line (literals excluded) over `line`, a message literal over
// `message`, another literal over `literal`, and a command whose kept bytes
// would pass `command` are refused. A refused synchronising literal is never
// invited; a refused non-synchronising one is read and thrown away, as is
// the rest of its command. Either way the sink hears of it, and the reader
// goes on with the next command.
//
// Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace replimail::imap {

struct ReaderLimits {
  uint64_t line = 64 * 1024;
  uint64_t literal = 128 * 1024;
  uint64_t message = 64 * 1024 * 1024;
  uint64_t command = 16 * 1024 * 1024;
};

class CommandReader {
 public:
  enum class Refusal {
    kLineTooLong,  // the sink answers "* BAD"; no tag is known
    kLiteralTooLarge,
    kMessageTooLarge,
    kCommandTooLarge,
  };

  // What the reader tells its user. Every call but message_data() ends a
  // step of feed().
  class Sink {
   public:
    virtual ~Sink() = default;
    // A complete command (without its final CRLF).
    virtual void command(std::string_view bytes) = 0;
    // A line read in raw-line mode (without CRLF; literals not interpreted).
    virtual void raw_line(std::string_view line) = 0;
    // A synchronising literal is accepted: send "+ go ahead".
    virtual void go_ahead() = 0;
    // An APPEND message literal of `size` bytes starts; `command_so_far`
    // ends with the "{0}" standing in for it. Its bytes follow through
    // message_data(), then message_end().
    virtual void message_begin(std::string_view command_so_far, uint64_t size, bool binary) = 0;
    virtual void message_data(std::string_view bytes) = 0;
    virtual void message_end() = 0;
    // The command being read (tag `tag`, "" if none) is dropped: answer it.
    // `synchronising`: the literal refused (if any) was never invited, so
    // the client sends nothing more of this command.
    virtual void refused(std::string_view tag, Refusal why, bool synchronising) = 0;
  };

  explicit CommandReader(ReaderLimits limits = {}) : limits_(limits) {}

  // Takes effect from the next command.
  void set_limits(const ReaderLimits& limits) { limits_ = limits; }
  // Lines are handed over as raw_line() (an AUTHENTICATE response, IDLE's
  // DONE) instead of being read as commands.
  void set_raw_lines(bool raw) { raw_lines_ = raw; }

  // Reads from `bytes` until they are used up or one step ended (a sink
  // call other than message_data()); returns how many bytes were used, so
  // the caller can change modes or stop between steps.
  size_t feed(std::string_view bytes, Sink& sink);

  // Forgets everything partly read (after STARTTLS).
  void reset();

  // Bytes held for the command being read and the current line.
  size_t held() const { return pending_.size() + line_.size(); }
  uint64_t bytes_examined() const { return examined_; }

 private:
  // A complete line (CRLF stripped); true if it ended a step.
  bool on_line(std::string_view line, Sink& sink);
  bool on_command_line(std::string_view line, Sink& sink);
  // Drops the command; `pushed`: a non-synchronising literal of `skip`
  // bytes, and the rest of the command after it, are on their way.
  void refuse(std::string_view tag, Refusal why, bool synchronising, bool pushed, uint64_t skip,
              Sink& sink);
  void drop_command();

  ReaderLimits limits_;
  bool raw_lines_ = false;
  std::string line_;              // a line not yet terminated
  bool discarding_line_ = false;  // the current line went over limits_.line
  std::string pending_;           // the command assembled so far
  uint64_t literal_left_ = 0;     // literal bytes still to read
  bool literal_is_message_ = false;
  uint64_t skip_left_ = 0;  // bytes of a refused literal still to discard
  bool drop_rest_ = false;  // the lines that follow end a refused command
  // Of the command being read: is it an APPEND, and how many literals it
  // has had.
  bool append_ = false;
  size_t literals_ = 0;
  uint64_t examined_ = 0;
};

}  // namespace replimail::imap
