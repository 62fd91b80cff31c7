#include "sync/protocol.h"

#include <fmt/format.h>

#include <cstdlib>

#include "store/mboxname.h"

namespace replimail::sync {
namespace {

using dlist::Value;

// Cyrus's "unlimited" for the legacy LIMIT key.
constexpr uint64_t kUnlimited = 4294967295u;

Status bad(std::string_view what) {
  return Status(Code::kProtocolBadParameters, std::string(what));
}

// Reads the number `key` of kvlist `v` into `*out`. A missing key is an
// error only when `required`; a malformed one always is.
template <typename T>
Status get_num(const Value& v, std::string_view key, bool required, T* out) {
  const Value* f = v.find(key);
  if (f == nullptr) return required ? bad(fmt::format("missing {}", key)) : Status::success();
  auto n = f->num();
  if (!n) return bad(fmt::format("{} is not a number", key));
  *out = static_cast<T>(*n);
  return Status::success();
}

Status get_str(const Value& v, std::string_view key, bool required, std::string* out) {
  const Value* f = v.find(key);
  if (f == nullptr) return required ? bad(fmt::format("missing {}", key)) : Status::success();
  if (f->is_nil()) {
    out->clear();
    return Status::success();
  }
  auto s = f->str();
  if (!s) return bad(fmt::format("{} is not a string", key));
  *out = std::string(*s);
  return Status::success();
}

bool in_set(char c, std::string_view extra) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         extra.find(c) != std::string_view::npos;
}

Status bad_name(std::string_view what, std::string_view name, std::string_view why) {
  std::string shown(name.substr(0, 100));
  for (char& c : shown)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  return bad(fmt::format("{} \"{}\": {}", what, shown, why));
}

// The string `key` of `v` (as get_str), checked with `check` when present
// and not empty.
Status get_name(const Value& v, std::string_view key, bool required, std::string* out,
                Status (*check)(std::string_view)) {
  Status s = get_str(v, key, required, out);
  if (!s || out->empty()) return s;
  return check(*out);
}

Status need_kvlist(const Value& v, std::string_view what) {
  return v.is_kvlist() ? Status::success() : bad(fmt::format("{} is not a kvlist", what));
}

// CACHE of a RECORD (RecordItem::cache): the cache's version, then each of
// its strings as a literal (they hold any bytes, CRLFs in the header block).
Value cache_to_dlist(const store::MessageCache& c) {
  Value v = Value::kvlist();
  v.add("VERSION", Value::num(static_cast<uint64_t>(store::MessageCache::kVersion)));
  v.add("HEADER", Value::literal(c.header));
  v.add("ENVELOPE", Value::literal(c.envelope));
  v.add("BODYSTRUCTURE", Value::literal(c.bodystructure));
  v.add("BODY", Value::literal(c.body));
  v.add("SEGMENTS", Value::literal(c.text_segments));
  return v;
}

// A CACHE of another version is left out (nullopt): the replica then
// computes the cache from the file, as for a master that sends none.
Result<std::optional<store::MessageCache>> cache_from_dlist(const Value& v) {
  Status s = need_kvlist(v, "CACHE");
  int64_t version = 0;
  if (s) s = get_num(v, "VERSION", true, &version);
  if (!s) return s;
  store::MessageCache c;
  for (auto [key, out] : {std::pair{"HEADER", &c.header}, {"ENVELOPE", &c.envelope},
                          {"BODYSTRUCTURE", &c.bodystructure}, {"BODY", &c.body},
                          {"SEGMENTS", &c.text_segments}}) {
    if (s) s = get_str(v, key, true, out);
  }
  if (!s) return s;
  if (version != store::MessageCache::kVersion) return std::optional<store::MessageCache>();
  return std::optional<store::MessageCache>(std::move(c));
}

Value annotation_kv(std::string_view entry, std::string_view userid, uint64_t modseq,
                    std::string_view value) {
  Value a = Value::kvlist();
  a.add("ENTRY", Value::atom(std::string(entry)));
  a.add("USERID", Value::atom(std::string(userid)));
  a.add("MODSEQ", Value::num(modseq));
  a.add("VALUE", Value::atom(std::string(value)));
  return a;
}

Result<std::vector<AnnotationItem>> annotations_from(const Value& list) {
  if (!list.is_list()) return bad("ANNOTATIONS is not a list");
  std::vector<AnnotationItem> out;
  for (const Value& a : list.children()) {
    Status s = need_kvlist(a, "annotation");
    if (!s) return s;
    AnnotationItem item;
    s = get_name(a, "ENTRY", true, &item.entry, check_annotation_entry);
    if (s) s = get_name(a, "USERID", true, &item.userid, check_userid);
    if (s) s = get_num(a, "MODSEQ", false, &item.modseq);
    if (s) s = get_str(a, "VALUE", true, &item.value);
    if (!s) return s;
    out.push_back(std::move(item));
  }
  return out;
}

Value annotations_to(const std::vector<AnnotationItem>& items) {
  Value l = Value::list();
  for (const auto& a : items) l.push(annotation_kv(a.entry, a.userid, a.modseq, a.value));
  return l;
}

}  // namespace

Status check_uniqueid(std::string_view uniqueid) {
  if (uniqueid.empty() || uniqueid.size() > 64)
    return bad_name("uniqueid", uniqueid, "must be 1 to 64 characters");
  for (char c : uniqueid)
    if (!in_set(c, "-_")) return bad_name("uniqueid", uniqueid, "only letters, digits, - and _");
  return Status::success();
}

Status check_partition(std::string_view partition) {
  if (partition.empty() || partition.size() > 64)
    return bad_name("partition", partition, "must be 1 to 64 characters");
  if (partition.front() == '.') return bad_name("partition", partition, "starts with '.'");
  for (char c : partition)
    if (!in_set(c, "-_.")) return bad_name("partition", partition, "only letters, digits, -, _, .");
  return Status::success();
}

Status check_mboxname(std::string_view name) {
  Status s = store::validate_mboxname(name);
  return s ? s : bad(s.message());
}

Status check_userid(std::string_view userid) {
  Status s = store::validate_userid(userid);
  return s ? s : bad(s.message());
}

Status check_sieve_name(std::string_view filename) {
  if (filename.empty() || filename.size() > 255)
    return bad_name("sieve script", filename, "must be 1 to 255 bytes");
  if (filename.front() == '.') return bad_name("sieve script", filename, "starts with '.'");
  for (char c : filename) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) return bad_name("sieve script", filename, "not printable ASCII");
    if (c == '/') return bad_name("sieve script", filename, "contains '/'");
  }
  return Status::success();
}

Status check_annotation_entry(std::string_view entry) {
  if (entry.size() < 2 || entry.size() > 1024 || entry.front() != '/')
    return bad_name("annotation entry", entry, "must be '/' and 1 to 1023 more bytes");
  for (char c : entry) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return bad_name("annotation entry", entry, "control character");
    if (c == '*' || c == '%') return bad_name("annotation entry", entry, "wildcard character");
  }
  std::string_view rest = entry.substr(1);
  while (true) {
    size_t slash = rest.find('/');
    std::string_view comp = rest.substr(0, slash);
    if (comp.empty() || comp == "." || comp == "..")
      return bad_name("annotation entry", entry, "empty, '.' or '..' component");
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return Status::success();
}

Value to_dlist(const RecordItem& item) {
  const store::IndexRecord& r = item.record;
  Value v = Value::kvlist();
  v.add("UID", Value::num(r.uid));
  v.add("MODSEQ", Value::num(r.modseq));
  v.add("LAST_UPDATED", Value::num(static_cast<uint64_t>(r.last_updated)));
  Value flags = Value::list();
  for (auto& f : store::system_flag_names(r.system_flags)) flags.push(Value::flag(f));
  for (const auto& f : r.user_flags) flags.push(Value::atom(f));
  v.add("FLAGS", std::move(flags));
  v.add("INTERNALDATE", Value::num(static_cast<uint64_t>(r.internaldate)));
  v.add("SIZE", Value::num(r.size));
  v.add("GUID", r.guid.size() == 40 ? Value::guid(r.guid) : Value::atom(r.guid));
  Value annots = annotations_to(item.annotations);
  if (r.savedate != 0)
    annots.push(annotation_kv(kSavedateEntry, "", 0, std::to_string(r.savedate)));
  if (r.createdmodseq != 0)
    annots.push(annotation_kv(kCreatedModseqEntry, "", 0, std::to_string(r.createdmodseq)));
  if (annots.size() > 0) v.add("ANNOTATIONS", std::move(annots));
  if (item.cache) v.add("CACHE", cache_to_dlist(*item.cache));
  return v;
}

Result<RecordItem> record_from_dlist(const Value& v) {
  Status s = need_kvlist(v, "RECORD item");
  if (!s) return s;
  RecordItem item;
  store::IndexRecord& r = item.record;
  s = get_num(v, "UID", true, &r.uid);
  if (s) s = get_num(v, "MODSEQ", true, &r.modseq);
  if (s) s = get_num(v, "LAST_UPDATED", true, &r.last_updated);
  if (s) s = get_num(v, "INTERNALDATE", true, &r.internaldate);
  if (s) s = get_num(v, "SIZE", true, &r.size);
  if (!s) return s;
  const Value* g = v.find("GUID");
  if (g == nullptr || !g->guid()) return bad("RECORD without a valid GUID");
  r.guid = *g->guid();
  const Value* flags = v.find("FLAGS");
  if (flags == nullptr || !flags->is_list()) return bad("RECORD without FLAGS list");
  for (const Value& f : flags->children()) {
    auto name = f.str();
    if (!name || name->empty()) return bad("malformed flag");
    if ((*name)[0] == '\\') {
      // Unknown system flags are ignored, as Cyrus does (after logging).
      r.system_flags |= store::system_flag_bit(*name);
    } else {
      r.user_flags.emplace_back(*name);
    }
  }
  if (const Value* a = v.find("ANNOTATIONS")) {
    auto annots = annotations_from(*a);
    if (!annots.ok()) return annots.status();
    for (auto& x : *annots) {
      bool shared = x.userid.empty();
      if (shared && x.entry == kSavedateEntry) {
        r.savedate = std::strtoll(x.value.c_str(), nullptr, 10);
      } else if (shared && x.entry == kCreatedModseqEntry) {
        r.createdmodseq = std::strtoull(x.value.c_str(), nullptr, 10);
      } else if (shared && x.entry == kThridEntry) {
        // Conversation ids are not kept by this store.
      } else {
        item.annotations.push_back(std::move(x));
      }
    }
  }
  if (const Value* c = v.find("CACHE")) {
    auto cache = cache_from_dlist(*c);
    if (!cache.ok()) return cache.status();
    item.cache = std::move(*cache);
  }
  return item;
}

Value to_dlist(const MailboxState& m, MailboxForm form) {
  Value v = Value::kvlist();
  v.add("UNIQUEID", Value::atom(m.uniqueid));
  v.add("MBOXNAME", Value::atom(m.mboxname));
  if (!m.mbtype.empty()) v.add("MBOXTYPE", Value::atom(m.mbtype));
  if (m.intermediate() && form == MailboxForm::kApply) {
    v.add("HIGHESTMODSEQ", Value::num(m.highestmodseq));
    v.add("CREATEDMODSEQ", Value::num(m.createdmodseq));
    v.add("FOLDERMODSEQ", Value::num(m.foldermodseq));
    return v;
  }
  v.add("SYNC_CRC", Value::num(m.sync_crc));
  if (m.sync_crc_annot && !m.intermediate()) v.add("SYNC_CRC_ANNOT", Value::num(*m.sync_crc_annot));
  v.add("LAST_UID", Value::num(m.last_uid));
  v.add("HIGHESTMODSEQ", Value::num(m.intermediate() ? 0 : m.highestmodseq));
  v.add("RECENTUID", Value::num(m.recentuid));
  v.add("RECENTTIME", Value::num(static_cast<uint64_t>(m.recenttime)));
  v.add("LAST_APPENDDATE", Value::num(static_cast<uint64_t>(m.last_appenddate)));
  v.add("POP3_LAST_LOGIN", Value::num(static_cast<uint64_t>(m.pop3_last_login)));
  v.add("POP3_SHOW_AFTER", Value::num(static_cast<uint64_t>(m.pop3_show_after)));
  if (m.xconvmodseq != 0) v.add("XCONVMODSEQ", Value::num(m.xconvmodseq));
  if (m.raclmodseq != 0) v.add("RACLMODSEQ", Value::num(m.raclmodseq));
  v.add("UIDVALIDITY", Value::num(m.uidvalidity));
  v.add("PARTITION", Value::atom(m.partition));
  v.add("ACL", m.acl.empty() && m.intermediate() ? Value::nil() : Value::atom(m.acl));
  v.add("OPTIONS", Value::atom(m.options));
  if (!m.quotaroot.empty()) v.add("QUOTAROOT", Value::atom(m.quotaroot));
  if (m.createdmodseq != 0) v.add("CREATEDMODSEQ", Value::num(m.createdmodseq));
  if (m.foldermodseq != 0) v.add("FOLDERMODSEQ", Value::num(m.foldermodseq));
  if (!m.annotations.empty()) v.add("ANNOTATIONS", annotations_to(m.annotations));
  if (m.since_modseq) {
    v.add("SINCE_MODSEQ", Value::num(*m.since_modseq));
    v.add("SINCE_CRC", Value::num(m.since_crc));
    v.add("SINCE_CRC_ANNOT", Value::num(m.since_crc_annot));
  }
  if (m.records) {
    Value recs = Value::list();
    for (const auto& r : *m.records) recs.push(to_dlist(r));
    v.add("RECORD", std::move(recs));
  }
  return v;
}

Result<MailboxState> mailbox_from_dlist(const Value& v) {
  Status s = need_kvlist(v, "MAILBOX");
  if (!s) return s;
  MailboxState m;
  s = get_name(v, "UNIQUEID", true, &m.uniqueid, check_uniqueid);
  if (s) s = get_str(v, "MBOXNAME", true, &m.mboxname);
  if (s) s = check_mboxname(m.mboxname);
  if (s) s = get_str(v, "MBOXTYPE", false, &m.mbtype);
  if (s) s = get_num(v, "HIGHESTMODSEQ", true, &m.highestmodseq);
  if (!s) return s;
  if (m.mbtype == "e") m.mbtype.clear();
  bool real = !m.intermediate();
  s = get_num(v, "SYNC_CRC", false, &m.sync_crc);
  if (s && v.find("SYNC_CRC_ANNOT") != nullptr) {
    uint32_t a = 0;
    s = get_num(v, "SYNC_CRC_ANNOT", true, &a);
    m.sync_crc_annot = a;
  }
  if (s) s = get_num(v, "LAST_UID", real, &m.last_uid);
  if (s) s = get_num(v, "RECENTUID", real, &m.recentuid);
  if (s) s = get_num(v, "RECENTTIME", real, &m.recenttime);
  if (s) s = get_num(v, "LAST_APPENDDATE", real, &m.last_appenddate);
  if (s) s = get_num(v, "POP3_LAST_LOGIN", real, &m.pop3_last_login);
  if (s) s = get_num(v, "POP3_SHOW_AFTER", false, &m.pop3_show_after);
  if (s) s = get_num(v, "XCONVMODSEQ", false, &m.xconvmodseq);
  if (s) s = get_num(v, "RACLMODSEQ", false, &m.raclmodseq);
  if (s) s = get_num(v, "UIDVALIDITY", real, &m.uidvalidity);
  if (s) s = get_name(v, "PARTITION", real, &m.partition, check_partition);
  if (s) s = get_str(v, "ACL", real, &m.acl);
  if (s) s = get_str(v, "OPTIONS", real, &m.options);
  if (s) s = get_name(v, "QUOTAROOT", false, &m.quotaroot, check_mboxname);
  if (s) s = get_num(v, "CREATEDMODSEQ", false, &m.createdmodseq);
  if (s) s = get_num(v, "FOLDERMODSEQ", false, &m.foldermodseq);
  if (!s) return s;
  if (const Value* a = v.find("ANNOTATIONS")) {
    auto annots = annotations_from(*a);
    if (!annots.ok()) return annots.status();
    m.annotations = std::move(*annots);
  }
  if (v.find("SINCE_MODSEQ") != nullptr) {
    uint64_t since = 0;
    s = get_num(v, "SINCE_MODSEQ", true, &since);
    if (s) s = get_num(v, "SINCE_CRC", false, &m.since_crc);
    if (s) s = get_num(v, "SINCE_CRC_ANNOT", false, &m.since_crc_annot);
    if (!s) return s;
    m.since_modseq = since;
  }
  if (const Value* recs = v.find("RECORD")) {
    if (!recs->is_list()) return bad("RECORD is not a list");
    std::vector<RecordItem> items;
    items.reserve(recs->size());
    for (const Value& r : recs->children()) {
      auto item = record_from_dlist(r);
      if (!item.ok()) return item.status();
      items.push_back(std::move(*item));
    }
    m.records = std::move(items);
  }
  return m;
}

Value to_dlist(const QuotaItem& q) {
  Value v = Value::kvlist();
  v.add("ROOT", Value::atom(q.root));
  v.add("LIMIT",
        Value::num(q.storage_kib >= 0 ? static_cast<uint64_t>(q.storage_kib) : kUnlimited));
  if (q.storage_kib >= 0) v.add("STORAGE", Value::num(static_cast<uint64_t>(q.storage_kib)));
  if (q.messages >= 0) v.add("MESSAGE", Value::num(static_cast<uint64_t>(q.messages)));
  v.add("MODSEQ", Value::num(q.modseq));
  return v;
}

Result<QuotaItem> quota_from_dlist(const Value& v) {
  Status s = need_kvlist(v, "QUOTA");
  if (!s) return s;
  QuotaItem q;
  uint64_t limit = kUnlimited;
  s = get_str(v, "ROOT", true, &q.root);
  if (s) s = check_mboxname(q.root);
  if (s) s = get_num(v, "LIMIT", false, &limit);
  if (s) s = get_num(v, "MODSEQ", false, &q.modseq);
  if (!s) return s;
  q.storage_kib = limit == kUnlimited ? -1 : static_cast<int64_t>(limit);
  if (v.find("STORAGE") != nullptr) {
    s = get_num(v, "STORAGE", true, &q.storage_kib);
    if (!s) return s;
  }
  if (v.find("MESSAGE") != nullptr) {
    s = get_num(v, "MESSAGE", true, &q.messages);
    if (!s) return s;
  }
  return q;
}

Value to_dlist(const SeenItem& s, bool with_userid) {
  Value v = Value::kvlist();
  if (with_userid) v.add("USERID", Value::atom(s.userid));
  v.add("UNIQUEID", Value::atom(s.seen.uniqueid));
  v.add("LASTREAD", Value::num(static_cast<uint64_t>(s.seen.lastread)));
  v.add("LASTUID", Value::num(s.seen.lastuid));
  v.add("LASTCHANGE", Value::num(static_cast<uint64_t>(s.seen.lastchange)));
  v.add("SEENUIDS", Value::atom(s.seen.seenuids));
  return v;
}

Result<SeenItem> seen_from_dlist(const Value& v, bool with_userid) {
  Status s = need_kvlist(v, "SEEN");
  if (!s) return s;
  SeenItem item;
  if (with_userid) s = get_str(v, "USERID", true, &item.userid);
  if (s && with_userid) s = check_userid(item.userid);
  if (s) s = get_str(v, "UNIQUEID", true, &item.seen.uniqueid);
  if (s) s = check_uniqueid(item.seen.uniqueid);
  if (s) s = get_num(v, "LASTREAD", true, &item.seen.lastread);
  if (s) s = get_num(v, "LASTUID", true, &item.seen.lastuid);
  if (s) s = get_num(v, "LASTCHANGE", true, &item.seen.lastchange);
  if (s) s = get_str(v, "SEENUIDS", true, &item.seen.seenuids);
  if (!s) return s;
  return item;
}

Value atom_list(const std::vector<std::string>& items) {
  Value l = Value::list();
  for (const auto& i : items) l.push(Value::atom(i));
  return l;
}

Result<std::vector<std::string>> atoms_from_dlist(const Value& v) {
  if (!v.is_list()) return bad("expected a list");
  std::vector<std::string> out;
  for (const Value& c : v.children()) {
    auto s = c.str();
    if (!s) return bad("expected a list of strings");
    out.emplace_back(*s);
  }
  return out;
}

Value to_dlist(const ReserveRequest& r) {
  Value v = Value::kvlist();
  v.add("PARTITION", Value::atom(r.partition));
  v.add("MBOXNAME", atom_list(r.mboxnames));
  Value g = Value::list();
  for (const auto& guid : r.guids) g.push(Value::guid(guid));
  v.add("GUID", std::move(g));
  return v;
}

Result<ReserveRequest> reserve_from_dlist(const Value& v) {
  Status s = need_kvlist(v, "RESERVE");
  if (!s) return s;
  ReserveRequest r;
  s = get_str(v, "PARTITION", true, &r.partition);
  if (s) s = check_partition(r.partition);
  if (!s) return s;
  const Value* names = v.find("MBOXNAME");
  const Value* guids = v.find("GUID");
  if (names == nullptr || guids == nullptr) return bad("RESERVE needs MBOXNAME and GUID");
  auto n = atoms_from_dlist(*names);
  if (!n.ok()) return n.status();
  for (const auto& name : *n) {
    s = check_mboxname(name);
    if (!s) return s;
  }
  r.mboxnames = std::move(*n);
  if (!guids->is_list()) return bad("GUID is not a list");
  for (const Value& g : guids->children()) {
    auto guid = g.guid();
    if (!guid) return bad("malformed GUID in RESERVE");
    r.guids.push_back(*guid);
  }
  return r;
}

Value to_dlist(const RenameRequest& r) {
  Value v = Value::kvlist();
  v.add("OLDMBOXNAME", Value::atom(r.oldname));
  v.add("NEWMBOXNAME", Value::atom(r.newname));
  v.add("PARTITION", Value::atom(r.partition));
  if (r.uidvalidity != 0) v.add("UIDVALIDITY", Value::num(r.uidvalidity));
  return v;
}

Result<RenameRequest> rename_from_dlist(const Value& v) {
  Status s = need_kvlist(v, "RENAME");
  if (!s) return s;
  RenameRequest r;
  s = get_str(v, "OLDMBOXNAME", true, &r.oldname);
  if (s) s = check_mboxname(r.oldname);
  if (s) s = get_str(v, "NEWMBOXNAME", true, &r.newname);
  if (s) s = check_mboxname(r.newname);
  if (s) s = get_name(v, "PARTITION", true, &r.partition, check_partition);
  if (s) s = get_num(v, "UIDVALIDITY", false, &r.uidvalidity);
  if (!s) return s;
  return r;
}

Value to_dlist(const ExpungeRequest& e) {
  Value v = Value::kvlist();
  v.add("MBOXNAME", Value::atom(e.mboxname));
  v.add("UNIQUEID", Value::atom(e.uniqueid));
  Value uids = Value::list();
  for (uint32_t u : e.uids) uids.push(Value::num(u));
  v.add("UID", std::move(uids));
  return v;
}

Result<ExpungeRequest> expunge_from_dlist(const Value& v) {
  Status s = need_kvlist(v, "EXPUNGE");
  if (!s) return s;
  ExpungeRequest e;
  s = get_str(v, "MBOXNAME", true, &e.mboxname);
  if (s) s = check_mboxname(e.mboxname);
  if (s) s = get_name(v, "UNIQUEID", true, &e.uniqueid, check_uniqueid);
  if (!s) return s;
  const Value* uids = v.find("UID");
  if (uids == nullptr || !uids->is_list()) return bad("EXPUNGE without UID list");
  for (const Value& u : uids->children()) {
    auto n = u.num32();
    if (!n) return bad("malformed UID in EXPUNGE");
    e.uids.push_back(*n);
  }
  return e;
}

Value to_dlist(const SubRequest& s) {
  Value v = Value::kvlist();
  v.add("USERID", Value::atom(s.userid));
  v.add("MBOXNAME", Value::atom(s.mboxname));
  return v;
}

Result<SubRequest> sub_from_dlist(const Value& v) {
  Status s = need_kvlist(v, "SUB");
  if (!s) return s;
  SubRequest r;
  s = get_str(v, "USERID", true, &r.userid);
  if (s) s = check_userid(r.userid);
  if (s) s = get_str(v, "MBOXNAME", true, &r.mboxname);
  if (s) s = check_mboxname(r.mboxname);
  if (!s) return s;
  return r;
}

Value to_dlist(const SieveItem& item) {
  Value v = Value::kvlist();
  v.add("FILENAME", Value::atom(item.filename));
  v.add("LAST_UPDATE", Value::num(static_cast<uint64_t>(item.last_update)));
  v.add("GUID", Value::guid(item.guid));
  v.add("ISACTIVE", Value::num(item.active ? 1 : 0));
  return v;
}

Result<SieveRequest> sieve_from_dlist(const Value& v, std::string_view command) {
  Status s = need_kvlist(v, command);
  if (!s) return s;
  SieveRequest r;
  const bool upload = command == "SIEVE";
  s = get_str(v, "USERID", true, &r.userid);
  if (s) s = check_userid(r.userid);
  if (s) s = get_name(v, "FILENAME", command != "UNACTIVATE_SIEVE", &r.filename, check_sieve_name);
  if (s) s = get_num(v, "LAST_UPDATE", upload, &r.last_update);
  if (s) s = get_str(v, "CONTENT", upload, &r.content);
  if (!s) return s;
  return r;
}

Value to_dlist(const ServerAnnotation& a, bool with_value) {
  Value v = Value::kvlist();
  v.add("MBOXNAME", Value::atom(a.mboxname));
  v.add("ENTRY", Value::atom(a.entry));
  v.add("USERID", Value::atom(a.userid));
  if (with_value) v.add("VALUE", Value::atom(a.value));
  return v;
}

Result<ServerAnnotation> annotation_from_dlist(const Value& v, bool with_value) {
  Status s = need_kvlist(v, "ANNOTATION");
  if (!s) return s;
  ServerAnnotation a;
  s = get_name(v, "MBOXNAME", true, &a.mboxname, check_mboxname);
  if (s) s = get_name(v, "ENTRY", true, &a.entry, check_annotation_entry);
  if (s) s = get_name(v, "USERID", true, &a.userid, check_userid);
  if (s && with_value) s = get_str(v, "VALUE", true, &a.value);
  if (!s) return s;
  return a;
}

}  // namespace replimail::sync
