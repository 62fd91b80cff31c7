// The dlist parser: wire bytes to values, incrementally.
//
// A Parser reads one line at a time: a sequence of values separated by
// spaces and ended by LF or CRLF. `APPLY MAILBOX %(...)` gives three values,
// the atoms APPLY and MAILBOX and the kvlist; keyed() turns the last two into
// the keyed item Cyrus calls the command's dlist. Bytes can be fed in chunks
// of any size; feed() says when a line is complete.
//
// Reader rules (Cyrus dlist_parse): `(` list, `%(` kvlist of `KEY value`
// pairs, `{n}` / `{n+}` literal, `%{partition guid size}` file literal, `\`
// flag, `"..."` quoted string with backslash escapes, bare atom, bare NIL.
// Inside lists any of SP, TAB, CR, LF separates values.
//
// File literal bytes are never held in memory: they go to the FileSink as
// they arrive, so sync_server can stream a 50 MB message into a staging
// file. Without a sink a file literal is an error.
//
// Hard limits (Limits) bound nesting, token and literal sizes and the memory
// a line may hold. A malformed line is consumed to its end (literals and
// file literals inside it are skipped, not parsed as lines) and reported as
// kBadLine, so the server can answer BAD and carry on with the next line.
// A bad line that would skip more literal bytes than Limits::max_skip is
// reported at once instead, and the parser is lost(): where the next line
// starts is unknown, so the caller must close the connection.
//
// Not thread-safe; one Parser per connection direction.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "dlist/value.h"

namespace replimail::dlist {

// Receives the bytes of file literals. The sequence for one file is
// begin(), write()* (ref.size bytes in total), finish(); or, if the file or
// its line fails, discard() at any point after begin(). Files finished
// before a later error on the same line stay with the sink (the caller's
// staging cleanup removes them, as Cyrus's per-connection staging does).
class FileSink {
 public:
  virtual ~FileSink() = default;
  // A file literal starts; `ref.path` is empty. An error fails the line
  // (and nothing is to be discarded).
  virtual Status begin(const FileRef& ref) = 0;
  virtual Status write(std::string_view bytes) = 0;
  // Every byte arrived. Returns where the file now is (stored in the
  // parsed value's FileRef::path).
  virtual Result<std::string> finish() = 0;
  virtual void discard() = 0;
};

// Keeps files in memory, keyed by GUID (tests and small tools only). The
// path it reports is "memory:<guid>".
class MemoryFileSink : public FileSink {
 public:
  Status begin(const FileRef& ref) override;
  Status write(std::string_view bytes) override;
  Result<std::string> finish() override;
  void discard() override;
  const std::map<std::string, std::string>& files() const { return files_; }

 private:
  std::string guid_;
  std::string data_;
  std::map<std::string, std::string> files_;
};

// Takes, one at a time, the members of a list that would make a line too
// big to hold: `APPLY MAILBOX %(... RECORD (...))` with 100,000 records.
// See Parser::stream_members().
class MemberSink {
 public:
  virtual ~MemberSink() = default;
  // A member of the streamed list is complete. `line`: the line's values
  // before the kvlist (`APPLY`, `MAILBOX`); `head`: the kvlist's members
  // read so far (those before the list). Returns true if it took `member`
  // (the line then does not hold it), false to leave it in the list.
  virtual bool member(const std::vector<Value>& line, const Value& head, Value& member) = 0;
};

struct Limits {
  size_t max_depth = 64;                 // nested lists/kvlists
  size_t max_token = 64 * 1024;          // one atom, quoted string, key or status text
  uint64_t max_literal = 64 << 20;       // one in-memory {n} literal
  uint64_t max_file = UINT32_MAX;        // one file literal (32 bits, as Cyrus)
  size_t max_values = 1 << 20;           // values in one line
  uint64_t max_line_memory = 256 << 20;  // bytes of strings one line may hold
  uint64_t max_skip = UINT64_MAX;        // literal bytes one bad line may skip
};

class Parser {
 public:
  enum class Event {
    kNeedMore,  // every byte fed was consumed; the line is not complete
    kLine,      // a line is complete: take_line()
    kBadLine,   // a malformed line was consumed to its end: error()
  };
  struct Fed {
    Event event;
    size_t consumed;  // bytes of the chunk used; feed the rest again
  };

  // `sink` may be null (file literals are then errors); it must outlive the
  // parser. With `status_lines`, a line whose first value (or second, after a
  // tag or `*`) is the atom OK, NO, BAD or BYE keeps the rest of the line as
  // one raw text atom, as response lines are free text.
  explicit Parser(FileSink* sink = nullptr, Limits limits = {}, bool status_lines = false);
  // Discards a file literal left half-received.
  ~Parser();
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  // From now on, each member of a list that is the value of key `key` in a
  // kvlist that is itself a value of the line (not nested deeper) goes to
  // `sink` as soon as it is complete; what the sink takes is not held, nor
  // counted against the line's limits. If the line turns out malformed
  // after members were taken, the line is still reported as kBadLine; the
  // sink's owner must then drop what it received. `sink` must outlive the
  // parser.
  void stream_members(std::string key, MemberSink* sink);

  Fed feed(std::string_view data);
  // The values of the completed line. REQUIRES: the last event was kLine.
  std::vector<Value> take_line();
  // Why the last line was bad. REQUIRES: the last event was kBadLine.
  const Status& error() const { return error_; }
  // True while part of a line has been consumed.
  bool mid_line() const { return mid_line_; }
  // A bad line exceeded Limits::max_skip: every later feed() reports
  // kBadLine and consumes everything.
  bool lost() const { return lost_; }
  // New limits from the next line on. REQUIRES: !mid_line().
  void set_limits(Limits limits) { limits_ = limits; }

 private:
  enum class St {
    kSep,
    kAfterValue,
    kCr,
    kAtom,
    kQuoted,
    kQuotedEsc,
    kPercent,
    kLitHeader,
    kLitEol,
    kLitBody,
    kFileHeader,
    kFileEol,
    kFileBody,
    kText,
    kSkip,
    kSkipHeader,
    kSkipEol,
    kSkipBody,
  };
  struct Frame {
    Value value;
    std::optional<std::string> key;  // kvlist: key read, value pending
    bool streamed = false;           // members go to member_sink_
  };

  void reset();
  bool top() const { return stack_.size() == 1; }
  bool expecting_key() const;
  // Adds a finished value to the innermost container.
  void complete(Value v);
  bool open(Value container);
  void close();
  // Enters error recovery; the current byte is looked at again.
  void fail(std::string message);
  // As fail(), after a literal header whose `body` bytes must be skipped.
  void fail_skip(std::string message, uint64_t body);
  // Accounts for `body` more bytes to skip; false (and lost()) past
  // Limits::max_skip.
  bool may_skip(uint64_t body);
  bool hold(size_t n);
  // kAtom and kQuoted in bulk: appends to token_ the run of bytes from
  // data[i] for which `plain` holds, as far as the limits allow, advancing
  // `i`; the byte after the run goes through the per-byte path.
  template <typename Plain>
  void take_run(std::string_view data, size_t& i, Plain plain);
  void finish_atom();
  void finish_file_header();
  bool status_word_here() const;

  // The state machine, one function per state (or pair of states). Each
  // looks at data[i] (c), advancing `i` past what it consumes; one that
  // returns an event has found the LF that ends the line, not consumed.
  std::optional<Event> step(std::string_view data, size_t& i);
  std::optional<Event> on_separator(char c, size_t& i);  // kSep, kAfterValue
  void start_value(char c);                              // c opens a value
  void on_atom(char c, size_t& i);
  std::optional<Event> on_text(char c, size_t& i);
  void on_quoted(char c, size_t& i);  // kQuoted, kQuotedEsc
  void on_percent(char c, size_t& i);
  void on_literal_header(char c, size_t& i);
  void on_literal_eol(char c, size_t& i);          // kLitEol, kFileEol
  void on_body(std::string_view data, size_t& i);  // kLitBody, kFileBody
  void on_file_header(char c, size_t& i);
  std::optional<Event> on_skip(char c, size_t& i);
  std::optional<Event> on_skip_header(char c, size_t& i);
  void on_skip_eol(char c, size_t& i);
  void on_skip_body(std::string_view data, size_t& i);
  // The file literal's header is read: hands it to the sink.
  void open_file();
  // Every byte of the {n} literal or file literal arrived: the value is
  // complete.
  void end_literal();
  void end_file();

  FileSink* sink_;
  MemberSink* member_sink_ = nullptr;
  std::string member_key_;
  // values_ and held_ when the streamed list opened: restored after each
  // member taken, so that only what the line holds counts.
  size_t stream_values_ = 0;
  uint64_t stream_held_ = 0;
  Limits limits_;
  bool status_lines_;

  St st_ = St::kSep;
  std::vector<Frame> stack_;
  std::string token_;
  bool flag_ = false;
  bool plus_ = false;
  bool seen_cr_ = false;
  bool skip_file_header_ = false;
  bool file_open_ = false;  // sink_->begin() done, finish()/discard() not yet
  uint64_t remaining_ = 0;
  FileRef file_;
  size_t values_ = 0;
  uint64_t held_ = 0;
  char prev_ = 0;
  bool mid_line_ = false;
  bool failed_ = false;
  bool lost_ = false;
  uint64_t skipped_ = 0;  // literal bytes this bad line has skipped or will skip
  Status error_;
  std::vector<Value> line_;
};

// Parses one whole line (its LF / CRLF optional at the very end).
// kProtocolError if it is malformed, incomplete, or followed by more bytes.
Result<std::vector<Value>> parse_line(std::string_view bytes, FileSink* sink = nullptr,
                                      Limits limits = {});

// The keyed item of a command or untagged line: values[at] must be an atom
// (the key) and values[at + 1] the value, with nothing after. For
// `APPLY MAILBOX %(...)`, keyed(values, 1) is the kvlist with key MAILBOX.
Result<Value> keyed(std::vector<Value> values, size_t at);

}  // namespace replimail::dlist
