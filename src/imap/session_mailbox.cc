// Mailbox-level commands: CREATE, DELETE, RENAME, (UN)SUBSCRIBE, LIST, LSUB,
// STATUS, NAMESPACE.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "common/ascii.h"
#include "imap/format.h"
#include "imap/session.h"
#include "store/acl.h"
#include "store/mboxname.h"
#include "store/record.h"
#include "store/staged_message.h"
#include "store/user_delete.h"

namespace replimail::imap {
namespace {

constexpr std::string_view kImplicitOwnerRights = "lkxan";
constexpr std::string_view kSpecialUseEntry = "/specialuse";

// RFC 5258's options (and RFC 6154's SPECIAL-USE, RFC 5819's STATUS, RFC
// 8440's MYRIGHTS, RFC 9590's METADATA); any other is BAD, as in Cyrus 3.6.
const std::set<std::string> kListSelectionOptions = {"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH",
                                                     "SPECIAL-USE"};
const std::set<std::string> kListReturnOptions = {"SUBSCRIBED", "CHILDREN", "SPECIAL-USE",
                                                  "STATUS", "MYRIGHTS", "METADATA"};

Status denied() { return Status(Code::kPermissionDenied, "permission denied"); }
Status nonexistent() { return Status(Code::kMailboxNonexistent, "mailbox does not exist"); }

// IMAP LIST pattern match: '*' matches anything, '%' anything but `sep`.
bool match(std::string_view pat, std::string_view name, char sep) {
  while (!pat.empty()) {
    char p = pat[0];
    if (p == '*' || p == '%') {
      pat.remove_prefix(1);
      for (size_t i = 0; i <= name.size(); ++i) {
        if (match(pat, name.substr(i), sep)) return true;
        if (i < name.size() && p == '%' && name[i] == sep) return false;
      }
      return false;
    }
    if (name.empty() || name[0] != p) return false;
    pat.remove_prefix(1);
    name.remove_prefix(1);
  }
  return name.empty();
}

// INBOX is case-insensitive in names and patterns.
bool list_match(std::string_view pat, const std::string& name, char sep) {
  if (match(pat, name, sep)) return true;
  if (name == "INBOX" || name.starts_with("INBOX" + std::string(1, sep))) {
    if (pat.size() >= 5 && iequals(pat.substr(0, 5), "INBOX")) {
      return match(std::string("INBOX") + std::string(pat.substr(5)), name, sep);
    }
  }
  return false;
}

}  // namespace

Result<std::string> Session::mailbox_arg(const Value& v) const {
  if (!v.is_astring()) return Status(Code::kProtocolError, "Invalid mailbox name");
  return ns_.to_internal(v.text);
}

std::string Session::external(const std::string& name) const {
  auto ext = ns_.to_external(name);
  return ext ? *ext : name;
}

std::string Session::rights_of(const store::MailboxEntry& e) const {
  if (is_admin_) return std::string(store::kOwnerRights);
  // Mailboxes Cyrus's delayed delete moved under deletedprefix are for
  // administrators only, whatever their ACL says.
  std::string deleted = instance_.config().get("deletedprefix");
  if (deleted.empty()) deleted = "DELETED";
  if (e.name == deleted || e.name.starts_with(deleted + ".")) return "";
  bool owner = store::mboxname_owner(e.name) == userid_;
  std::string out;
  for (char c : store::kOwnerRights) {
    if (store::acl_has_right(e.acl, userid_, c) ||
        (owner && kImplicitOwnerRights.find(c) != std::string_view::npos)) {
      out += c;
    }
  }
  return out;
}

Result<store::MailboxEntry> Session::visible(const std::string& name) {
  auto e = instance_.lookup(name);
  if (!e.ok()) return e.status();
  std::string r = rights_of(*e);
  if (r.find('l') == std::string::npos && r.find('r') == std::string::npos) return nonexistent();
  return e;
}

void Session::cmd_create(const Command& cmd) {
  if (cmd.args.empty() || cmd.args.size() > 2 || !cmd.args[0].is_astring()) {
    return tagged(cmd, "BAD", "Invalid CREATE arguments");
  }
  std::string ext = cmd.args[0].text;
  if (!ext.empty() && ext.back() == ns_.separator()) ext.pop_back();
  auto name = ns_.to_internal(ext);
  if (!name.ok()) return tagged_error(cmd, name.status());
  std::string specialuse;
  if (cmd.args.size() == 2) {
    const Value& p = cmd.args[1];
    if (!p.is_list() || p.items.size() != 2 || !p.items[0].is_atom("USE") ||
        !p.items[1].is_list()) {
      return tagged(cmd, "BAD", "Invalid CREATE parameters");
    }
    static const char* kUses[] = {"\\All",  "\\Archive", "\\Drafts", "\\Flagged",
                                  "\\Junk", "\\Sent",    "\\Trash"};
    for (const Value& u : p.items[1].items) {
      bool known = false;
      for (const char* k : kUses) known = known || iequals(u.text, k);
      if (!known) return tagged(cmd, "NO", "[USEATTR] Unsupported special-use attribute");
      specialuse += (specialuse.empty() ? "" : " ") + u.text;
    }
  }
  if (!is_admin_) {
    if (store::mboxname_is_inbox(*name) || *name == "user") return tagged_error(cmd, denied());
    bool allowed = false;
    for (std::string p = store::mboxname_parent(*name); !p.empty(); p = store::mboxname_parent(p)) {
      auto parent = instance_.lookup(p);
      if (!parent.ok()) continue;
      allowed = rights_of(*parent).find('k') != std::string::npos;
      break;
    }
    if (!allowed) return tagged_error(cmd, denied());
  }
  // Cyrus 3.6 makes the missing parents too ("CREATE Archive/2026/Q4" gives
  // Archive and Archive/2026, listed and selectable, kept when the leaf goes):
  // here they are real mailboxes, created first, so each is logged and
  // replicated like any other. Not above the owner's INBOX nor "user".
  if (instance_.lookup(*name).ok()) return tagged_error(cmd, Status(Code::kMailboxExists, *name));
  std::vector<std::string> missing;
  for (std::string p = store::mboxname_parent(*name); !p.empty(); p = store::mboxname_parent(p)) {
    if (p == "user" || store::mboxname_is_inbox(p) || instance_.lookup(p).ok()) break;
    missing.push_back(p);
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    auto parent = instance_.create_mailbox(*it);
    if (!parent.ok() && parent.status().code() != Code::kMailboxExists) {
      return tagged_error(cmd, parent.status());
    }
  }
  auto created = instance_.create_mailbox(*name);
  if (!created.ok()) return tagged_error(cmd, created.status());
  if (!specialuse.empty()) {
    std::string owner = store::mboxname_owner(*name);
    Status st = instance_.set_annotation(*name, kSpecialUseEntry, owner, specialuse);
    if (!st.is_ok()) return tagged_error(cmd, st);
  }
  tagged(cmd, "OK", "[MAILBOXID (" + created->uniqueid + ")] Completed");
}

void Session::cmd_delete(const Command& cmd) {
  if (cmd.args.size() != 1) return tagged(cmd, "BAD", "Invalid DELETE arguments");
  auto name = mailbox_arg(cmd.args[0]);
  if (!name.ok()) return tagged_error(cmd, name.status());
  auto e = visible(*name);
  if (!e.ok()) return tagged_error(cmd, e.status());
  if (rights_of(*e).find('x') == std::string::npos) return tagged_error(cmd, denied());
  if (store::mboxname_is_inbox(*name) && !is_admin_) {
    return tagged(cmd, "NO", "[CANNOT] Cannot delete INBOX");
  }
  if (!store::mboxname_is_inbox(*name)) {
    // Cyrus 3.6 refuses a mailbox with children (RFC 3501 §6.3.4 lets a
    // server choose): NO [HASCHILDREN], nothing deleted.
    bool children = false;
    Status ls = instance_.mailboxes().list(*name, false, [&](const store::MailboxEntry& c) {
      if (c.is_real() && store::mboxname_is_child(*name, c.name)) children = true;
      return !children;
    });
    if (!ls.is_ok()) return tagged_error(cmd, ls);
    if (children) return tagged(cmd, "NO", "[HASCHILDREN] Mailbox has inferior hierarchical names");
  }
  if (selected_ && selected_->name() == *name) {
    selected_.reset();
    state_ = State::kAuthenticated;
  }
  if (store::mboxname_is_inbox(*name)) {
    // An administrator's DELETE user/alice deletes the user (mailboxes, seen
    // state, subscriptions, quota root; UNUSER for the replicas).
    Status st = store::delete_user(instance_, store::mboxname_owner(*name));
    if (!st.is_ok()) return tagged_error(cmd, st);
    return tagged(cmd, "OK", "Completed");
  }
  // delete_mode: delayed (Cyrus's default) keeps it under deletedprefix.
  Status st = store::remove_mailbox(instance_, *name);
  if (!st.is_ok()) return tagged_error(cmd, st);
  tagged(cmd, "OK", "Completed");
}

void Session::cmd_rename(const Command& cmd) {
  if (cmd.args.size() != 2) return tagged(cmd, "BAD", "Invalid RENAME arguments");
  auto from = mailbox_arg(cmd.args[0]);
  if (!from.ok()) return tagged_error(cmd, from.status());
  auto to = mailbox_arg(cmd.args[1]);
  if (!to.ok()) return tagged_error(cmd, to.status());
  auto e = visible(*from);
  if (!e.ok()) return tagged_error(cmd, e.status());
  if (rights_of(*e).find('x') == std::string::npos) return tagged_error(cmd, denied());
  if (!is_admin_) {
    bool allowed = false;
    for (std::string p = store::mboxname_parent(*to); !p.empty(); p = store::mboxname_parent(p)) {
      auto parent = instance_.lookup(p);
      if (!parent.ok()) continue;
      allowed = rights_of(*parent).find('k') != std::string::npos;
      break;
    }
    if (!allowed) return tagged_error(cmd, denied());
  }
  if (store::mboxname_is_inbox(*from)) {
    // RFC 3501 §6.3.5, as Cyrus 3.6: the messages of INBOX move to a new
    // mailbox (flags, keywords and dates kept, in UID order), INBOX stays,
    // empty, and its children stay where they are. Through the store like
    // any append and expunge, so both are logged and replicated.
    if (instance_.lookup(*to).ok()) return tagged_error(cmd, Status(Code::kMailboxExists, *to));
    auto src = instance_.open_mailbox(*from);
    if (!src.ok()) return tagged_error(cmd, src.status());
    std::vector<store::IndexRecord> recs;
    Status rs = (*src)->for_each_record(0, [&](const store::IndexRecord& r) {
      if (!r.expunged()) recs.push_back(r);
      return true;
    });
    if (!rs.is_ok()) return tagged_error(cmd, rs);
    auto created = instance_.create_mailbox(*to);
    if (!created.ok()) return tagged_error(cmd, created.status());
    std::vector<std::unique_ptr<store::StagedMessage>> staged;
    std::vector<store::AppendRequest> reqs;
    std::vector<uint32_t> uids;
    for (const auto& r : recs) {
      auto fd = (*src)->open_message(r.uid);
      if (!fd.ok()) return tagged_error(cmd, fd.status());
      auto msg = instance_.stage_message(created->partition);
      Status st = msg.ok() ? store::stage_copy_from_fd(**msg, *fd) : msg.status();
      ::close(*fd);
      if (st.is_ok()) st = (*msg)->finish();
      if (!st.is_ok()) return tagged_error(cmd, st);
      store::AppendRequest a;
      a.mailbox = *to;
      a.message = msg->get();
      a.system_flags = r.system_flags;
      a.user_flags = r.user_flags;
      a.internaldate = r.internaldate;
      a.check_quota = false;  // the same messages, the same owner's quota
      staged.push_back(std::move(msg).value());
      reqs.push_back(std::move(a));
      uids.push_back(r.uid);
    }
    if (!reqs.empty()) {
      for (const auto& res : instance_.append(reqs)) {
        if (!res.status.is_ok()) return tagged_error(cmd, res.status);
      }
      Status st = instance_.expunge(*from, uids);
      if (!st.is_ok()) return tagged_error(cmd, st);
    }
    return tagged(cmd, "OK", "Completed");
  }
  if (selected_ &&
      (selected_->name() == *from || store::mboxname_is_child(*from, selected_->name()))) {
    selected_.reset();
    state_ = State::kAuthenticated;
  }
  Status st = instance_.rename_mailbox(*from, *to);
  if (!st.is_ok()) return tagged_error(cmd, st);
  tagged(cmd, "OK", "Completed");
}

void Session::cmd_subscribe(const Command& cmd, bool subscribe) {
  if (cmd.args.size() != 1) return tagged(cmd, "BAD", "Invalid arguments");
  auto name = mailbox_arg(cmd.args[0]);
  if (!name.ok()) return tagged_error(cmd, name.status());
  if (subscribe) {
    auto e = visible(*name);
    if (!e.ok()) return tagged_error(cmd, e.status());
  }
  Status st = instance_.set_subscribed(userid_, *name, subscribe);
  if (!st.is_ok()) return tagged_error(cmd, st);
  tagged(cmd, "OK", "Completed");
}

void Session::cmd_namespace(const Command& cmd) {
  reply("* NAMESPACE " + ns_.namespace_response());
  tagged(cmd, "OK", "Completed");
}

// A LIST or LSUB command's arguments (RFC 3501, RFC 5258's extended form).
struct ListRequest {
  bool lsub = false;
  std::set<std::string> select_opts, return_opts;
  std::string reference;
  std::vector<std::string> patterns;
  std::vector<Value> status_req;
  // RETURN (METADATA (entries)) or METADATA entry, as Cyrus 3.6 reads it:
  // no options (MAXSIZE is a syntax error there), the entries of every
  // METADATA option together; one that is not /shared or /private shows
  // no METADATA at all, as Cyrus does.
  std::vector<MetaName> meta_names;
  bool meta_invalid = false;

  std::string verb() const { return lsub ? "LSUB" : "LIST"; }
  bool selects(const char* o) const { return select_opts.count(o) > 0; }
  bool returns(const char* o) const { return return_opts.count(o) > 0; }
  bool only_subscribed() const { return lsub || selects("SUBSCRIBED"); }
  bool want_subscribed() const { return only_subscribed() || returns("SUBSCRIBED"); }
  bool recursive() const { return selects("RECURSIVEMATCH") && selects("SUBSCRIBED"); }
  bool wildcard_only_star() const {
    for (const auto& pat : patterns) {
      if (pat.find('%') != std::string::npos) return false;
    }
    return true;
  }
  bool matches(const std::string& ext, char sep) const {
    for (const auto& pat : patterns) {
      if (list_match(reference + pat, ext, sep)) return true;
    }
    return false;
  }
};

// The names a LIST looks at, by external name.
struct ListScan {
  struct Item {
    std::string internal;
    bool exists = false;
    bool has_children = false;
  };
  std::map<std::string, Item> items;
  // Ancestors of items that are not items themselves: \Noselect
  // placeholders for '%' patterns.
  std::map<std::string, Item> parents;
  // Names above a subscribed mailbox (LSUB, LIST (SUBSCRIBED RECURSIVEMATCH)).
  std::set<std::string> sub_parents;
};

namespace {

Status bad_list(std::string text) { return Status(Code::kProtocolError, std::move(text)); }

Status parse_list_metadata(const Value& m, ListRequest* req) {
  std::vector<const Value*> entries;
  if (m.is_list()) {
    for (const Value& v : m.items) entries.push_back(&v);
  } else {
    entries.push_back(&m);
  }
  if (entries.empty()) return bad_list("Missing metadata entry");
  for (const Value* v : entries) {
    if (v->is_list()) return bad_list("Missing metadata entry");
    auto n = v->is_atom("NIL") ? std::nullopt : parse_metadata_name(v->text);
    if (!n) {
      req->meta_invalid = true;
      continue;
    }
    bool dup = false;
    for (const MetaName& x : req->meta_names) {
      dup = dup || (x.shared == n->shared && x.entry == n->entry);
    }
    if (!dup) req->meta_names.push_back(std::move(*n));
  }
  return Status::success();
}

Status parse_list_return(const std::vector<Value>& items, ListRequest* req) {
  for (size_t j = 0; j < items.size(); ++j) {
    std::string o = to_upper(items[j].text);
    if (!kListReturnOptions.count(o)) {
      return bad_list("Invalid List return option \"" + to_lower(items[j].text) + "\"");
    }
    req->return_opts.insert(o);
    if (o == "STATUS" && j + 1 < items.size() && items[j + 1].is_list()) {
      req->status_req = items[++j].items;
    }
    if (o == "METADATA") {
      if (j + 1 >= items.size()) return bad_list("Missing metadata entry");
      Status st = parse_list_metadata(items[++j], req);
      if (!st.is_ok()) return st;
    }
  }
  return Status::success();
}

// kProtocolError with the text of the BAD answer if `a` is not good.
Status parse_list(const std::vector<Value>& a, ListRequest* req) {
  size_t i = 0;
  if (!req->lsub && i < a.size() && a[i].is_list()) {
    for (const Value& v : a[i].items) {
      std::string o = to_upper(v.text);
      if (!kListSelectionOptions.count(o)) {
        return bad_list("Invalid List selection option \"" + to_lower(v.text) + "\"");
      }
      req->select_opts.insert(o);
    }
    // RFC 5258 §3.1: RECURSIVEMATCH needs an option it can recurse on.
    if (req->selects("RECURSIVEMATCH") &&
        !(req->selects("SUBSCRIBED") || req->selects("SPECIAL-USE"))) {
      return bad_list("Invalid combination of selection options");
    }
    ++i;
  }
  if (i + 2 > a.size() || !a[i].is_astring()) return bad_list("Invalid LIST arguments");
  req->reference = a[i++].text;
  if (a[i].is_list()) {
    for (const Value& v : a[i].items) req->patterns.push_back(v.text);
  } else {
    req->patterns.push_back(a[i].text);
  }
  ++i;
  if (!req->lsub && i + 1 < a.size() && a[i].is_atom("RETURN") && a[i + 1].is_list()) {
    Status st = parse_list_return(a[i + 1].items, req);
    if (!st.is_ok()) return st;
    i += 2;
  }
  if (i != a.size()) return bad_list("Invalid LIST arguments");
  return Status::success();
}

}  // namespace

void Session::cmd_list(const Command& cmd, bool lsub) {
  ListRequest req;
  req.lsub = lsub;
  if (Status st = parse_list(cmd.args, &req); !st.is_ok()) {
    return tagged(cmd, "BAD", st.message());
  }
  const char sep = ns_.separator();
  if (req.patterns.size() == 1 && req.patterns[0].empty()) {
    reply("* " + req.verb() + " (\\Noselect) \"" + std::string(1, sep) + "\" \"\"");
    return tagged(cmd, "OK", "Completed");
  }
  std::set<std::string> subscribed;
  if (req.want_subscribed()) {
    auto subs = instance_.userdata().subscriptions(userid_);
    if (subs.ok()) subscribed.insert(subs->begin(), subs->end());
  }
  ListScan scan;
  if (Status st = list_scan(req, subscribed, &scan); !st.is_ok()) return tagged_error(cmd, st);
  for (const auto& [ext, it] : scan.items) {
    if (req.matches(ext, sep)) list_item(req, scan, ext, subscribed.count(it.internal) > 0);
  }
  if (!req.wildcard_only_star()) {
    for (const auto& [ext, it] : scan.parents) {
      if (!req.matches(ext, sep)) continue;
      reply("* " + req.verb() + " (\\Noselect \\HasChildren) \"" + std::string(1, sep) + "\" " +
            imap_astring(ext));
    }
  }
  tagged(cmd, "OK", "Completed");
}

Status Session::list_scan(const ListRequest& req, const std::set<std::string>& subscribed,
                          ListScan* scan) {
  auto& items = scan->items;
  Status st = instance_.mailboxes().list("", false, [&](const store::MailboxEntry& e) {
    if (!e.is_real()) return true;
    if (rights_of(e).find('l') == std::string::npos) return true;
    auto ext = ns_.to_external(e.name);
    if (!ext) return true;
    ListScan::Item& it = items[*ext];
    it.internal = e.name;
    it.exists = true;
    return true;
  });
  if (!st.is_ok()) return st;
  if (req.only_subscribed()) {
    for (const auto& s : subscribed) {
      auto ext = ns_.to_external(s);
      if (ext && !items.count(*ext)) items[*ext].internal = s;
    }
  }
  const char sep = ns_.separator();
  // Names above a subscribed mailbox. With a '%' pattern LSUB lists those
  // not subscribed themselves as \Noselect (RFC 3501 §6.3.9), and LIST
  // (SUBSCRIBED RECURSIVEMATCH) with CHILDINFO (RFC 5258 §3.5), as Cyrus
  // 3.6 does; with '*' alone the subscribed children answer for themselves.
  if ((req.lsub || req.recursive()) && !req.wildcard_only_star()) {
    for (const auto& s : subscribed) {
      auto ext = ns_.to_external(s);
      if (!ext) continue;
      for (size_t p = ext->find(sep); p != std::string::npos; p = ext->find(sep, p + 1)) {
        std::string anc = ext->substr(0, p);
        scan->sub_parents.insert(anc);
        if (!items.count(anc)) {
          auto internal = ns_.to_internal(anc);
          if (internal.ok()) items[anc].internal = *internal;
        }
      }
    }
  }
  // Ancestors: \HasChildren, and \Noselect placeholders for '%' patterns.
  for (const auto& [ext, it] : items) {
    for (size_t p = ext.find(sep); p != std::string::npos; p = ext.find(sep, p + 1)) {
      std::string anc = ext.substr(0, p);
      auto found = items.find(anc);
      if (found != items.end()) {
        found->second.has_children = true;
      } else if (!req.only_subscribed()) {
        scan->parents[anc].has_children = true;
      }
    }
  }
  return Status::success();
}

void Session::list_item(const ListRequest& req, const ListScan& scan, const std::string& ext,
                        bool is_sub) {
  const ListScan::Item& it = scan.items.at(ext);
  const bool lsub = req.lsub;
  const bool sub_parent = scan.sub_parents.count(ext) > 0;
  if (req.only_subscribed() && !is_sub && !sub_parent) return;
  std::string specialuse;
  if (it.exists && (req.returns("SPECIAL-USE") || req.selects("SPECIAL-USE") || !lsub)) {
    auto ann = instance_.annotations().get(it.internal, kSpecialUseEntry,
                                           store::mboxname_owner(it.internal));
    if (ann.ok()) specialuse = ann->value;
  }
  if (req.selects("SPECIAL-USE") && specialuse.empty()) return;
  const std::string sep(1, ns_.separator());
  if (lsub && !is_sub) {
    return reply("* LSUB (\\Noselect \\HasChildren) \"" + sep + "\" " + imap_astring(ext));
  }
  std::string attrs;
  auto add = [&](std::string_view s) {
    if (!attrs.empty()) attrs += ' ';
    attrs += s;
  };
  if (!it.exists) add(lsub ? "\\Noselect" : "\\NonExistent");
  if (!lsub) add(it.has_children ? "\\HasChildren" : "\\HasNoChildren");
  if (req.want_subscribed() && is_sub && !lsub) add("\\Subscribed");
  if (!specialuse.empty()) add(specialuse);
  std::string childinfo = req.recursive() && sub_parent ? " (CHILDINFO (\"SUBSCRIBED\"))" : "";
  reply("* " + req.verb() + " (" + attrs + ") \"" + sep + "\" " + imap_astring(ext) + childinfo);
  if (!it.exists) return;
  if (!req.status_req.empty()) {
    auto s = status_items(it.internal, req.status_req);
    if (s.ok()) reply("* STATUS " + imap_astring(ext) + " (" + *s + ")");
  }
  if (req.returns("MYRIGHTS")) {
    auto e = instance_.lookup(it.internal);
    if (e.ok()) reply("* MYRIGHTS " + imap_astring(ext) + " " + imap_astring(rights_of(*e)));
  }
  if (!req.meta_names.empty() && !req.meta_invalid) {
    auto m = metadata_list(it.internal, req.meta_names, MetaOptions{}, nullptr);
    if (m.ok() && !m->empty()) reply("* METADATA " + imap_astring(ext) + " " + *m);
  }
}

Result<std::string> Session::status_items(const std::string& name,
                                          const std::vector<Value>& items) {
  auto e = visible(name);
  if (!e.ok()) return e.status();
  if (rights_of(*e).find('r') == std::string::npos) return denied();
  auto mbox = instance_.open_mailbox(name);
  if (!mbox.ok()) return mbox.status();
  auto c = (*mbox)->counters();
  if (!c.ok()) return c.status();
  bool owner = store::mboxname_owner(name) == userid_;
  std::string out;
  for (const Value& v : items) {
    std::string item = to_upper(v.text);
    if (item == "MAILBOXID") {
      if (!out.empty()) out += ' ';
      out += "MAILBOXID (" + e->uniqueid + ")";
      continue;
    }
    uint64_t value = 0;
    if (item == "MESSAGES") {
      value = c->exists;
    } else if (item == "UIDNEXT") {
      value = c->last_uid + 1;
    } else if (item == "UIDVALIDITY") {
      value = c->uidvalidity;
    } else if (item == "HIGHESTMODSEQ") {
      value = c->highestmodseq;
    } else if (item == "SIZE") {
      value = c->quota_used;
    } else if (item == "RECENT" || item == "UNSEEN") {
      std::set<uint32_t> seen;
      if (!owner && item == "UNSEEN") {
        auto rec = instance_.userdata().seen(userid_, e->uniqueid);
        if (rec.ok() && !rec->seenuids.empty()) {
          auto set = parse_sequence_set(rec->seenuids);
          if (set.ok()) {
            Status st = (*mbox)->for_each_record(0, [&](const store::IndexRecord& r) {
              if (set->contains(r.uid, c->last_uid)) seen.insert(r.uid);
              return true;
            });
            if (!st.is_ok()) return st;
          }
        }
      }
      Status st = (*mbox)->for_each_record(0, [&](const store::IndexRecord& r) {
        if (r.expunged()) return true;
        if (item == "RECENT") {
          value += r.uid > c->recentuid;
        } else {
          bool is_seen = owner ? (r.system_flags & store::kFlagSeen) != 0 : seen.count(r.uid) > 0;
          value += !is_seen;
        }
        return true;
      });
      if (!st.is_ok()) return st;
    } else {
      return Status(Code::kProtocolError, "Invalid STATUS item " + v.text.substr(0, 64));
    }
    if (!out.empty()) out += ' ';
    out += item + " " + std::to_string(value);
  }
  return out;
}

void Session::cmd_status(const Command& cmd) {
  if (cmd.args.size() != 2 || !cmd.args[1].is_list() || cmd.args[1].items.empty()) {
    return tagged(cmd, "BAD", "Invalid STATUS arguments");
  }
  auto name = mailbox_arg(cmd.args[0]);
  if (!name.ok()) return tagged_error(cmd, name.status());
  auto s = status_items(*name, cmd.args[1].items);
  if (!s.ok()) return tagged_error(cmd, s.status());
  reply("* STATUS " + imap_astring(external(*name)) + " (" + *s + ")");
  tagged(cmd, "OK", "Completed");
}

}  // namespace replimail::imap
