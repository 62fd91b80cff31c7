// A dlist value: the replication wire format's data model (Cyrus dlist.c).
//
// A value is a scalar (NIL, atom, literal, flag, number, hex64, GUID), a
// list of unkeyed values, a kvlist of keyed values, or a file literal
// reference `%{partition guid size}` whose bytes live outside the value
// (in a staging file; see FileSink in dlist/parser.h). Every value carries
// a key, which is empty except for kvlist members and keyed top-level items
// such as the `MAILBOX %(...)` of `APPLY MAILBOX %(...)`.
//
// As in Cyrus, the parser stores every scalar as text and conversion happens
// on demand: num() of the atom "42" is 42; guid() checks for 40 hex digits.
// Values are plain data: copyable, comparable, not thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace replimail::dlist {

// A message file on the wire: `%{partition guid size}` then `size` bytes.
// `path` is where the bytes are (filled in by a FileSink when parsing; the
// file to send when printing).
struct FileRef {
  std::string partition;
  std::string guid;  // 40 lower-case hex digits
  uint64_t size = 0;
  std::string path;

  bool operator==(const FileRef&) const = default;
};

// True if `s` is exactly 40 hex digits (either case), as Cyrus requires.
bool is_guid(std::string_view s);

class Value {
 public:
  enum class Kind { kNil, kAtom, kLiteral, kFlag, kNum, kHex64, kGuid, kList, kKvList, kFile };

  Value() = default;  // NIL

  static Value nil() { return Value(); }
  // A string, printed by the astring rules (bare, quoted or literal).
  static Value atom(std::string s);
  // A string always printed as a `{n+}` literal (may hold any bytes).
  static Value literal(std::string s);
  // A system flag such as `\Seen`, printed raw.
  static Value flag(std::string s);
  static Value num(uint64_t n);
  // 16 lower-case hex digits on the wire.
  static Value hex64(uint64_t n);
  // REQUIRES: is_guid(g). Printed lower case.
  static Value guid(std::string_view g);
  static Value list();
  static Value kvlist();
  static Value file(FileRef ref);

  Kind kind() const { return kind_; }
  const std::string& key() const { return key_; }
  void set_key(std::string key) { key_ = std::move(key); }

  bool is_nil() const { return kind_ == Kind::kNil; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_kvlist() const { return kind_ == Kind::kKvList; }
  bool is_container() const { return is_list() || is_kvlist(); }
  bool is_file() const { return kind_ == Kind::kFile; }
  bool is_scalar() const { return !is_nil() && !is_container() && !is_file(); }

  // The text of a scalar (numbers in decimal, hex64 as 16 hex digits);
  // nullopt for NIL, containers and files.
  std::optional<std::string_view> str() const;
  // A number: kNum, or a scalar that is all decimal digits and fits.
  std::optional<uint64_t> num() const;
  // num() limited to 32 bits (UIDs, dates in Cyrus's num32 fields).
  std::optional<uint32_t> num32() const;
  // kHex64, or a scalar of 1..16 hex digits.
  std::optional<uint64_t> hex64() const;
  // A GUID in lower case, from kGuid or a 40-hex-digit scalar.
  std::optional<std::string> guid() const;
  const FileRef* file() const { return is_file() ? &file_ : nullptr; }

  // Members of a list or kvlist, in order.
  const std::vector<Value>& children() const { return children_; }
  std::vector<Value>& children() { return children_; }
  size_t size() const { return children_.size(); }

  // Appends an unkeyed member. REQUIRES: is_list(). Returns the member; the
  // reference is valid until the next push/add on this container.
  Value& push(Value v);
  // Appends a keyed member. REQUIRES: is_kvlist(). Returns the member, valid
  // as push()'s.
  Value& add(std::string key, Value v);
  // The first member of a kvlist with `key`; nullptr if none (or not a kvlist).
  const Value* find(std::string_view key) const;
  // find() then str() / num().
  std::optional<std::string_view> find_str(std::string_view key) const;
  std::optional<uint64_t> find_num(std::string_view key) const;

  bool operator==(const Value&) const = default;

 private:
  Kind kind_ = Kind::kNil;
  std::string key_;
  std::string text_;
  std::vector<Value> children_;
  FileRef file_;
};

// A readable one-line rendering for logs and test failures (files shown as
// their header, literals as their length).
std::string debug_string(const Value& v);

}  // namespace replimail::dlist
