// The dlist printer: values to wire bytes exactly as Cyrus 3.6 writes them.
//
//   NIL                    NIL
//   atom                   bare atom, "quoted" or {n+} literal (astring rules below)
//   literal                {n+} CRLF bytes
//   flag, num, hex64, guid raw text (\Seen, 42, 00000000000000ff, 40 hex)
//   list                   (a b c)
//   kvlist                 %(KEY value KEY value)
//   file                   %{partition guid size} CRLF then the file's bytes
//
// Astring rules (Cyrus prot_printastring): empty -> ""; bare if shorter than
// 1024 bytes, no byte below 0x1F, 0x7F or 8-bit, none of SP { ( ) " % * \,
// and not the word NIL; else quoted, without escapes, if shorter than 1024
// bytes with no 8-bit byte, CR, LF, NUL, " % or \; else a literal. Literals
// always use the non-synchronizing {n+} form, as both ends of csync do.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "dlist/value.h"

namespace replimail::dlist {

// Where printed bytes go. write_file() sends a file literal's body; the
// default reads `ref.path` in chunks and passes them to write(), so a large
// message is never held in memory. REQUIRES of write_file: the file at
// ref.path holds ref.size bytes (a mismatch is kIoError).
class Output {
 public:
  virtual ~Output() = default;
  virtual Status write(std::string_view bytes) = 0;
  virtual Status write_file(const FileRef& ref);
};

// Collects output in a string (tests, small replies).
class StringOutput : public Output {
 public:
  Status write(std::string_view bytes) override;
  const std::string& str() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// Appends `s` in the astring form to `out`.
void append_astring(std::string_view s, std::string* out);

// Prints a value (its key is not printed).
Status print_value(const Value& v, Output& out);
// Prints "KEY value" (the top-level form: `MAILBOX %(...)`).
Status print_item(const Value& v, Output& out);

// Prints one keyed item member by member, so that its list is never held
// whole, byte for byte what print_item() prints for the same value built
// whole: either a kvlist whose last member is the list (APPLY MAILBOX with
// its RECORD list), `KEY %(<head's members> LISTKEY (m1 m2 ...))`, or a
// plain list (APPLY MESSAGE with its files), `KEY (m1 m2 ...)`.
// Usage: open() or open_list(), add() or add_file() per member, close().
// Not thread-safe.
class StreamedItem {
 public:
  explicit StreamedItem(Output& out) : out_(out) {}
  // Prints `head` (a keyed kvlist) and the list's key, up to its "(".
  Status open(const Value& head, std::string_view list_key);
  // Prints `key (`.
  Status open_list(std::string_view key);
  Status add(const Value& member);
  // A file literal whose bytes the caller holds: what add() prints for
  // Value::file(ref), without reading ref.path. REQUIRES: bytes.size() ==
  // ref.size.
  Status add_file(const FileRef& ref, std::string_view bytes);
  // Prints "))" (or ")" after open_list()).
  Status close();

 private:
  Output& out_;
  std::string buf_;
  bool first_ = true;
  bool plain_ = false;
};

// print_value / print_item into a string. File literals read their files.
Result<std::string> to_wire(const Value& v);
Result<std::string> item_to_wire(const Value& v);

}  // namespace replimail::dlist
