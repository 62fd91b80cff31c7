// GETMETADATA and SETMETADATA (RFC 5464), answered as Cyrus 3.6 answers
// them; the entry table and the walk are in metadata.cc. Values live in the
// annotation database (store/annotations.h) and every change goes through
// Instance::set_annotation(), which writes the sync log.
#include <sys/stat.h>

#include <algorithm>

#include "imap/format.h"
#include "imap/metadata.h"
#include "imap/session.h"
#include "store/record.h"

namespace replimail::imap {
namespace {

// RFC 5464 options as Cyrus reads them: nullopt if `v` is not a list of
// known options with valid values (then it is not an options list at all).
std::optional<MetaOptions> parse_options(const Value& v) {
  if (!v.is_list() || v.items.empty() || v.items.size() % 2 != 0) return std::nullopt;
  MetaOptions o;
  for (size_t i = 0; i < v.items.size(); i += 2) {
    const Value& name = v.items[i];
    const std::string& value = v.items[i + 1].text;
    if (name.is_atom("MAXSIZE")) {
      auto n = canon_metadata_value(MetaType::kUint, value);
      if (!n) return std::nullopt;
      o.maxsize = std::stoull(*n);
    } else if (name.is_atom("DEPTH")) {
      if (value == "0") {
        o.depth = 0;
      } else if (value == "1") {
        o.depth = 1;
      } else if (iequals(value, "infinity")) {
        o.depth = -1;
      } else {
        return std::nullopt;
      }
    } else {
      return std::nullopt;
    }
  }
  return o;
}

std::string nil_or_string(const std::string& v) { return v.empty() ? "NIL" : cyrus_string(v); }

// An index file's last change (Cyrus's lastupdate: cyrus.index's mtime);
// SQLite writes its WAL first.
int64_t index_mtime(const std::string& dir) {
  int64_t t = 0;
  for (const char* f : {"/cyrus.index.db", "/cyrus.index.db-wal"}) {
    struct stat st {};
    if (::stat((dir + f).c_str(), &st) == 0) t = std::max<int64_t>(t, st.st_mtime);
  }
  return t;
}

}  // namespace

void Session::cmd_getmetadata(const Command& cmd) {
  const auto& a = cmd.args;
  if (a.size() < 2 || a.size() > 3) {
    return tagged(cmd, "BAD", "Missing arguments to Getmetadata");
  }
  MetaOptions opts;
  const Value* mailbox = &a[0];
  if (a.size() == 3) {
    auto first = parse_options(a[0]);
    auto second = parse_options(a[1]);
    if (first && second) return tagged(cmd, "BAD", "Too many option lists for Getmetadata");
    if (!first && !second) return tagged(cmd, "BAD", "Missing arguments to Getmetadata");
    opts = first ? *first : *second;
    mailbox = first ? &a[1] : &a[0];
  }
  if (!mailbox->is_astring()) return tagged(cmd, "BAD", "Invalid mailbox name");
  std::vector<const Value*> entries;
  if (a.back().is_list()) {
    for (const Value& v : a.back().items) entries.push_back(&v);
  } else {
    entries.push_back(&a.back());
  }
  std::vector<MetaName> names;
  for (const Value* v : entries) {
    auto n = v->is_astring() ? parse_metadata_name(v->text) : std::nullopt;
    if (!n) return tagged(cmd, "BAD", "entry must begin with /shared or /private");
    names.push_back(std::move(*n));
  }
  if (names.empty()) return tagged(cmd, "BAD", "Missing arguments to Getmetadata");

  std::string internal;
  if (!mailbox->text.empty()) {
    auto name = mailbox_arg(*mailbox);
    if (!name.ok()) return tagged_error(cmd, name.status());
    internal = *name;
    auto e = instance_.lookup(internal);
    if (!e.ok() || !e->is_real()) return tagged(cmd, "NO", "Mailbox does not exist");
  }
  uint64_t biggest = 0;
  auto line = metadata_list(internal, std::move(names), opts, &biggest);
  if (!line.ok()) return tagged_error(cmd, line.status());
  if (!line->empty()) {
    std::string ext = internal.empty() ? "" : external(internal);
    reply("* METADATA " + imap_astring(ext) + " " + *line);
  }
  if (opts.maxsize && biggest > *opts.maxsize + 1) {
    return tagged(cmd, "OK", "[METADATA LONGENTRIES " + std::to_string(biggest) + "] Completed");
  }
  tagged(cmd, "OK", "Completed");
}

Result<std::string> Session::metadata_list(const std::string& internal, std::vector<MetaName> names,
                                           const MetaOptions& opts, uint64_t* biggest) {
  MetaFetch f;
  f.depth = opts.depth;
  f.userid = userid_;
  f.names = std::move(names);
  if (internal.empty()) {
    f.scope = MetaScope::kServer;
  } else {
    auto e = instance_.lookup(internal);
    if (!e.ok()) return e.status();
    std::string rights = rights_of(*e);
    f.may_lookup = rights.find('l') != std::string::npos;
    f.may_read = f.may_lookup && rights.find('r') != std::string::npos;
    auto mbox = instance_.open_mailbox(internal);
    if (!mbox.ok()) return mbox.status();
    auto c = (*mbox)->counters();
    if (!c.ok()) return c.status();
    const store::MailboxEntry entry = (*mbox)->entry();
    const std::string dir = (*mbox)->dir();
    auto all = instance_.annotations().list(internal);
    if (!all.ok()) return all.status();
    uint64_t annot_bytes = 0;
    for (const auto& x : *all) annot_bytes += x.value.size();
    const store::MailboxCounters counters = *c;
    f.computed = [=](std::string_view name) -> std::string {
      static constexpr std::string_view ns = "/vendor/cmu/cyrus-imapd/";
      std::string_view n = name.substr(ns.size());
      auto option = [&](char letter) {
        return counters.options.find(letter) != std::string::npos ? "true" : "false";
      };
      auto date = [](int64_t t) { return t ? format_date_time(t) : std::string(); };
      if (n == "annotsize") return std::to_string(annot_bytes);
      if (n == "duplicatedeliver") return option('D');
      if (n == "lastpop") return date(counters.pop3_last_login);
      if (n == "hasalarms") return option('A');
      if (n == "foldermodseq") return std::to_string(entry.foldermodseq);
      if (n == "lastupdate") return date(index_mtime(dir));
      if (n == "partition") return entry.partition;
      if (n == "pop3newuidl") return option('P');
      if (n == "pop3showafter") return date(counters.pop3_show_after);
      if (n == "sharedseen") return option('S');
      if (n == "size") return std::to_string(counters.quota_used);
      if (n == "synccrcs") {
        return std::to_string(counters.sync_crc) + " " + std::to_string(counters.sync_crc_annot);
      }
      if (n == "uniqueid") return entry.uniqueid;
      return std::string();
    };
  }
  auto stored = instance_.annotations().list(internal);
  if (!stored.ok()) return stored.status();
  for (const auto& s : *stored) f.stored.push_back({s.entry, s.userid, s.value});

  // MAXSIZE n leaves out values longer than n; Cyrus's LONGENTRIES names
  // the longest one left out, but only when it is longer than n + 1.
  std::string line;
  for (const auto& [name, value] : fetch_metadata(f)) {
    if (opts.maxsize && value.size() > *opts.maxsize) {
      if (biggest) *biggest = std::max<uint64_t>(*biggest, value.size());
      continue;
    }
    line += line.empty() ? "(" : " ";
    line += cyrus_string(name) + " " + nil_or_string(value);
  }
  if (!line.empty()) line += ")";
  return line;
}

void Session::cmd_setmetadata(const Command& cmd) {
  const auto& a = cmd.args;
  if (a.size() < 2 || !a[0].is_astring() || !a[1].is_list()) {
    return tagged(cmd, "BAD", "Missing metadata entry list");
  }
  if (a.size() > 2) return tagged(cmd, "BAD", "Unexpected extra arguments to Setmetadata");
  if (a[1].items.empty()) return tagged(cmd, "BAD", "Missing metadata entry");
  if (a[1].items.size() % 2 != 0) return tagged(cmd, "BAD", "Missing metadata entry");
  struct Change {
    MetaName name;
    std::string value;  // "" deletes
  };
  std::vector<Change> changes;
  for (size_t i = 0; i < a[1].items.size(); i += 2) {
    const Value& k = a[1].items[i];
    const Value& v = a[1].items[i + 1];
    auto n = k.is_astring() ? parse_metadata_name(k.text) : std::nullopt;
    if (!n) return tagged(cmd, "BAD", "entry must begin with /shared or /private");
    if (v.is_list()) return tagged(cmd, "BAD", "Invalid value for Setmetadata");
    // NIL (the atom) deletes; so does the empty string, as in Cyrus.
    std::string value = v.is_atom("NIL") ? std::string() : v.text;
    changes.push_back({std::move(*n), std::move(value)});
  }
  MetaScope scope = MetaScope::kMailbox;
  std::string internal;
  std::string rights;
  if (a[0].text.empty()) {
    scope = MetaScope::kServer;
  } else {
    auto name = mailbox_arg(a[0]);
    if (!name.ok()) return tagged_error(cmd, name.status());
    internal = *name;
    auto e = instance_.lookup(internal);
    if (!e.ok() || !e->is_real()) return tagged(cmd, "NO", "Mailbox does not exist");
    rights = rights_of(*e);
    // Without 'l' the mailbox is not there for this user (as in Cyrus).
    if (rights.find('l') == std::string::npos) return tagged(cmd, "NO", "Mailbox does not exist");
  }
  // Everything is checked before anything is written (Cyrus stores the
  // command's entries in one transaction).
  for (Change& c : changes) {
    const MetaEntry* d = find_metadata_entry(scope, c.name.entry);
    if (!d || !d->settable || (c.name.shared ? !d->shared : !d->priv)) {
      return tagged(cmd, "NO", "Permission denied");
    }
    if (!c.value.empty()) {
      auto v = canon_metadata_value(d->type, c.value);
      if (!v) return tagged(cmd, "NO", "Invalid annotation value");
      c.value = std::move(*v);
      if (c.name.entry == "/specialuse") {
        auto use = canon_specialuse(c.value);
        if (!use) return tagged(cmd, "NO", "Invalid annotation entry");
        c.value = std::move(*use);
      }
    }
  }
  for (const Change& c : changes) {
    const MetaEntry* d = find_metadata_entry(scope, c.name.entry);
    bool may = is_admin_;
    if (!may && scope == MetaScope::kServer) {
      may = !c.name.shared;
    } else if (!may) {
      auto has = [&](char r) { return rights.find(r) != std::string::npos; };
      may = has('l') && (!c.name.shared || (has('r') && has('w') && (!d->admin || has('a'))));
    }
    if (!may) return tagged(cmd, "NO", "Permission denied");
  }
  for (const Change& c : changes) {
    Status st = instance_.set_annotation(internal, c.name.entry, c.name.shared ? "" : userid_,
                                         c.value);
    if (!st.is_ok()) return tagged_error(cmd, st);
  }
  tagged(cmd, "OK", "Completed");
}

}  // namespace replimail::imap
