// RFC 5464 METADATA as Cyrus 3.6 answers it, as pure functions: the entry
// names it knows (server and mailbox), the validation of names and values,
// and the GETMETADATA walk that decides which entries are shown, in which
// order, and where an explicit NIL appears. The session supplies the stored
// annotations (store/annotations.h: entry without the /shared or /private
// prefix, userid "" for shared) and the computed values.
//
// Cyrus's rules kept here: an entry name is lower-cased and must begin with
// /shared or /private; only entries of its built-in table can be set
// (annotation_allow_undefined is off by default), others are "Permission
// denied"; GETMETADATA lists the table's entries that match a DEPTH pattern
// with NIL when unset, and an explicitly named entry with NIL for each
// requested kind (shared, private) it has no value for.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace replimail::imap {

enum class MetaScope { kServer, kMailbox };
enum class MetaType { kString, kBoolean, kUint };
// Where a value comes from: the annotation database, a file Cyrus keeps
// (always empty here: NIL), or computed from the mailbox.
enum class MetaSource { kDb, kFile, kComputed };

struct MetaEntry {
  std::string_view name;  // "/comment", "/vendor/cmu/cyrus-imapd/size"
  MetaSource source;
  MetaType type;
  bool shared;      // may hold a shared value
  bool priv;        // may hold a private value
  bool admin;       // setting the shared value needs the 'a' right
  bool settable;
};

// "/shared/Comment" → {shared, "/comment"}; "/private" → {private, ""}.
struct MetaName {
  bool shared = false;
  std::string entry;
};
std::optional<MetaName> parse_metadata_name(std::string_view name);

// The built-in entry `name` of `scope`, or null.
const MetaEntry* find_metadata_entry(MetaScope scope, std::string_view name);

// The value as stored (booleans lower-cased), or nullopt if `value` is not
// of `type` (Cyrus's "Invalid annotation value").
std::optional<std::string> canon_metadata_value(MetaType type, std::string_view value);

// A /specialuse value as Cyrus 3.6 stores it: each space-separated
// attribute one of \\Archive \\Drafts \\Important \\Junk \\Sent \\Trash
// \\Snoozed (any case, the backslash optional), written its way; nullopt
// if one is not ("Invalid annotation entry").
std::optional<std::string> canon_specialuse(std::string_view value);

// Cyrus's glob over '/'-separated names: '*' matches anything, '%' anything
// but '/'.
bool metadata_glob(std::string_view pattern, std::string_view name);

// GETMETADATA options (RFC 5464 §4.2).
struct MetaOptions {
  std::optional<uint64_t> maxsize;
  int depth = 0;  // 0, 1, or -1 for infinity
};

// One GETMETADATA over one scope.
struct MetaFetch {
  MetaScope scope = MetaScope::kMailbox;
  std::vector<MetaName> names;  // as requested
  int depth = 0;
  std::string userid;  // whose private values are shown
  // Stored annotations of the scope, sorted by entry then userid.
  struct Stored {
    std::string entry;
    std::string userid;
    std::string value;
  };
  std::vector<Stored> stored;
  // Mailbox rights: 'l' and 'r' (or admin) show entries; 'l' alone shows
  // the partition only, as Cyrus does.
  bool may_read = true;
  bool may_lookup = true;
  // Value of a computed entry ("" shows NIL).
  std::function<std::string(std::string_view entry)> computed;
};

// The (full name, value) pairs of the METADATA response, in Cyrus's order;
// an empty value is NIL.
std::vector<std::pair<std::string, std::string>> fetch_metadata(const MetaFetch& f);

}  // namespace replimail::imap
