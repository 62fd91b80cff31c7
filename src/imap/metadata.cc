#include "imap/metadata.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "common/ascii.h"

namespace replimail::imap {
namespace {

using S = MetaSource;
using T = MetaType;

#define CYRUS_NS "/vendor/cmu/cyrus-imapd/"

// Cyrus 3.6's mailbox_builtin_entries, in its order (the order matters: it
// is the order GETMETADATA walks them). Entries Cyrus computes from state
// replimail does not keep, and the proxy-only "server", are left out.
constexpr MetaEntry kMailboxEntries[] = {
    {"/check", S::kDb, T::kBoolean, true, true, false, true},
    {"/checkperiod", S::kDb, T::kUint, true, true, false, true},
    {"/comment", S::kDb, T::kString, true, true, false, true},
    {"/sort", S::kDb, T::kString, true, true, false, true},
    {"/specialuse", S::kDb, T::kString, false, true, false, true},
    {"/thread", S::kDb, T::kString, true, true, false, true},
    {CYRUS_NS "annotsize", S::kComputed, T::kString, true, false, false, false},
    {CYRUS_NS "archive", S::kDb, T::kUint, true, false, true, true},
    {CYRUS_NS "delete", S::kDb, T::kUint, true, false, true, true},
    {CYRUS_NS "duplicatedeliver", S::kComputed, T::kBoolean, true, false, false, false},
    {CYRUS_NS "expire", S::kDb, T::kUint, true, false, true, true},
    {CYRUS_NS "lastpop", S::kComputed, T::kString, true, false, false, false},
    {CYRUS_NS "hasalarms", S::kComputed, T::kBoolean, true, false, false, false},
    {CYRUS_NS "foldermodseq", S::kComputed, T::kUint, true, false, false, false},
    {CYRUS_NS "lastupdate", S::kComputed, T::kString, true, false, false, false},
    {CYRUS_NS "news2mail", S::kDb, T::kString, true, false, true, true},
    {CYRUS_NS "partition", S::kComputed, T::kString, true, false, false, false},
    {CYRUS_NS "pop3newuidl", S::kComputed, T::kBoolean, true, false, false, false},
    {CYRUS_NS "pop3showafter", S::kComputed, T::kString, true, false, false, false},
    {CYRUS_NS "search-fuzzy-always", S::kDb, T::kString, true, false, false, true},
    {CYRUS_NS "sharedseen", S::kComputed, T::kBoolean, true, false, false, false},
    {CYRUS_NS "sieve", S::kDb, T::kString, true, false, true, true},
    {CYRUS_NS "size", S::kComputed, T::kString, true, false, false, false},
    {CYRUS_NS "sortorder", S::kDb, T::kUint, false, true, false, true},
    {CYRUS_NS "squat", S::kDb, T::kBoolean, true, false, true, true},
    {CYRUS_NS "synccrcs", S::kComputed, T::kString, true, false, false, false},
    {CYRUS_NS "uniqueid", S::kComputed, T::kString, true, false, false, false},
};

// Cyrus 3.6's server_builtin_entries, without the ones computed from state
// replimail does not keep (freespace, usermodseq, usercounters). /motd and
// shutdown are files in Cyrus; here they are never set.
constexpr MetaEntry kServerEntries[] = {
    {"/admin", S::kDb, T::kString, true, false, true, true},
    {"/comment", S::kDb, T::kString, true, true, true, true},
    {"/motd", S::kFile, T::kString, true, false, false, false},
    {CYRUS_NS "expire", S::kDb, T::kUint, true, false, true, true},
    {CYRUS_NS "shutdown", S::kFile, T::kString, true, false, false, false},
    {CYRUS_NS "squat", S::kDb, T::kBoolean, true, false, true, true},
};

constexpr std::string_view kPartition = CYRUS_NS "partition";

#undef CYRUS_NS

template <size_t N>
const MetaEntry* find_in(const MetaEntry (&table)[N], std::string_view name) {
  for (const MetaEntry& e : table) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

bool has_wildcard(std::string_view s) {
  return s.find('*') != std::string_view::npos || s.find('%') != std::string_view::npos;
}

// Collects the response the way Cyrus's output_entryatt() does: a value
// per (entry, userid) at most once, only the requested kinds.
class Collector {
 public:
  Collector(bool want_shared, bool want_priv)
      : want_shared_(want_shared), want_priv_(want_priv) {}

  // Returns the kinds now found for the current entry.
  void output(const std::string& entry, bool shared, const std::string& value) {
    if (!seen_.insert({entry, shared}).second) return;
    if (shared && want_shared_) {
      out_.emplace_back("/shared" + entry, value);
      found_shared_ = true;
    }
    if (!shared && want_priv_) {
      out_.emplace_back("/private" + entry, value);
      found_priv_ = true;
    }
  }
  void reset_found() { found_shared_ = found_priv_ = false; }
  // An explicitly named entry: NIL for each requested kind not found.
  void nils(const std::string& entry) {
    if (want_priv_ && !found_priv_) output(entry, false, "");
    if (want_shared_ && !found_shared_) output(entry, true, "");
  }
  std::vector<std::pair<std::string, std::string>> take() { return std::move(out_); }

 private:
  bool want_shared_, want_priv_;
  bool found_shared_ = false, found_priv_ = false;
  std::set<std::pair<std::string, bool>> seen_;
  std::vector<std::pair<std::string, std::string>> out_;
};

}  // namespace

std::optional<MetaName> parse_metadata_name(std::string_view name) {
  std::string lower = to_lower(name);
  for (auto [prefix, shared] : {std::pair<std::string_view, bool>{"/private", false},
                                std::pair<std::string_view, bool>{"/shared", true}}) {
    if (lower.compare(0, prefix.size(), prefix) != 0) continue;
    if (lower.size() > prefix.size() && lower[prefix.size()] != '/') continue;
    MetaName n;
    n.shared = shared;
    n.entry = lower.substr(prefix.size());
    return n;
  }
  return std::nullopt;
}

const MetaEntry* find_metadata_entry(MetaScope scope, std::string_view name) {
  return scope == MetaScope::kServer ? find_in(kServerEntries, name)
                                     : find_in(kMailboxEntries, name);
}

std::optional<std::string> canon_metadata_value(MetaType type, std::string_view value) {
  auto ieq = [&](std::string_view word) { return iequals(value, word); };
  switch (type) {
    case MetaType::kString:
      return std::string(value);
    case MetaType::kBoolean:
      if (ieq("true")) return std::string("true");
      if (ieq("false")) return std::string("false");
      return std::nullopt;
    case MetaType::kUint: {
      // strtoul's digits, no sign, no overflow past 64 bits.
      if (value.empty() || value.size() > 20) return std::nullopt;
      if (!std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::nullopt;
      if (value.size() == 20 && value > "18446744073709551615") return std::nullopt;
      return std::string(value);
    }
  }
  return std::nullopt;
}

std::optional<std::string> canon_specialuse(std::string_view value) {
  static constexpr std::string_view kUses[] = {"\\Archive", "\\Drafts", "\\Important", "\\Junk",
                                               "\\Sent",    "\\Trash",  "\\Snoozed"};
  std::string out;
  size_t pos = 0;
  while (pos < value.size()) {
    size_t end = value.find(' ', pos);
    if (end == std::string_view::npos) end = value.size();
    std::string_view use = value.substr(pos, end - pos);
    pos = end + 1;
    if (use.empty()) continue;
    const std::string_view* found = nullptr;
    for (const auto& k : kUses) {
      if (iequals(k, use) || iequals(k.substr(1), use)) found = &k;
    }
    if (!found) return std::nullopt;
    if (!out.empty()) out += ' ';
    out += *found;
  }
  return out;
}

bool metadata_glob(std::string_view pattern, std::string_view name) {
  // Iterative matching with backtracking to the last '*' or '%'.
  size_t p = 0, n = 0;
  size_t star_p = std::string_view::npos, star_n = 0;
  bool star_any = false;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '*' || pattern[p] == '%')) {
      star_any = pattern[p] == '*';
      star_p = ++p;
      star_n = n;
    } else if (p < pattern.size() && pattern[p] == name[n]) {
      ++p;
      ++n;
    } else if (star_p != std::string_view::npos && (star_any || name[star_n] != '/')) {
      p = star_p;
      n = ++star_n;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && (pattern[p] == '*' || pattern[p] == '%')) ++p;
  return p == pattern.size();
}

std::vector<std::pair<std::string, std::string>> fetch_metadata(const MetaFetch& f) {
  bool want_shared = false, want_priv = false;
  std::vector<std::string> patterns;
  for (const MetaName& n : f.names) {
    (n.shared ? want_shared : want_priv) = true;
    patterns.push_back(n.entry);
    if (f.depth == 1) patterns.push_back(n.entry + "/%");
    if (f.depth < 0) patterns.push_back(n.entry + "/*");
  }
  // Cyrus builds its list of entries to fetch by prepending, pattern by
  // pattern and table entry by table entry, then walks it: the walk goes
  // backwards through what was added. A pattern that is not exactly a
  // table entry also reads the database with the pattern itself.
  struct Item {
    const MetaEntry* desc;  // null: the database, with `name` as a pattern
    std::string name;
  };
  std::vector<Item> items;
  for (const std::string& s : patterns) {
    bool exact = false;
    auto scan = [&](const auto& table) {
      for (const MetaEntry& e : table) {
        if (metadata_glob(s, e.name)) items.push_back({&e, std::string(e.name)});
        if (s == e.name) {
          exact = true;
          break;
        }
      }
    };
    if (f.scope == MetaScope::kServer) {
      scan(kServerEntries);
    } else {
      scan(kMailboxEntries);
    }
    if (!exact) items.push_back({nullptr, s});
  }
  Collector c(want_shared, want_priv);
  for (auto it = items.rbegin(); it != items.rend(); ++it) {
    const MetaEntry* d = it->desc;
    bool partition = d && d->name == kPartition;
    if (partition ? !f.may_lookup : !f.may_read) continue;
    if (d && d->source == MetaSource::kFile) {
      c.output(it->name, true, "");
      continue;
    }
    if (d && d->source == MetaSource::kComputed) {
      c.output(it->name, true, f.computed ? f.computed(it->name) : std::string());
      continue;
    }
    c.reset_found();
    for (const auto& s : f.stored) {
      if (!s.userid.empty() && s.userid != f.userid) continue;
      bool match = d ? s.entry == it->name : metadata_glob(it->name, s.entry);
      if (match) c.output(s.entry, s.userid.empty(), s.value);
    }
    if (!has_wildcard(it->name)) c.nils(it->name);
  }
  return c.take();
}

}  // namespace replimail::imap
