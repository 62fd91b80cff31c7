// Rights (RFC 4314: GETACL, SETACL, DELETEACL, MYRIGHTS, LISTRIGHTS) and
// quota (RFC 2087/9208: GETQUOTA, GETQUOTAROOT, SETQUOTA).
#include "imap/format.h"
#include "imap/session.h"
#include "store/acl.h"
#include "store/mboxname.h"

namespace replimail::imap {
namespace {

Status denied() { return Status(Code::kPermissionDenied, "permission denied"); }

// Cyrus's canonical rights string from RFC 4314 letters; the obsolete 'c'
// and 'd' expand as Cyrus expands them. nullopt on an unknown letter.
std::optional<std::string> canonical_rights(std::string_view given) {
  std::string want;
  for (char c : given) {
    if (c == 'c') {
      want += "kc";
    } else if (c == 'd') {
      want += "ted";
    } else if (store::kOwnerRights.find(c) != std::string_view::npos || (c >= '0' && c <= '9')) {
      want += c;
    } else {
      return std::nullopt;
    }
  }
  std::string out;
  for (char c : store::kOwnerRights) {
    if (want.find(c) != std::string::npos) out += c;
  }
  for (char c = '0'; c <= '9'; ++c) {
    if (want.find(c) != std::string::npos) out += c;
  }
  return out;
}

}  // namespace

void Session::cmd_getacl(const Command& cmd) {
  if (cmd.args.size() != 1) return tagged(cmd, "BAD", "Invalid GETACL arguments");
  auto name = mailbox_arg(cmd.args[0]);
  if (!name.ok()) return tagged_error(cmd, name.status());
  auto e = visible(*name);
  if (!e.ok()) return tagged_error(cmd, e.status());
  if (rights_of(*e).find('a') == std::string::npos) return tagged_error(cmd, denied());
  std::string line = "* ACL " + imap_astring(external(*name));
  for (const auto& [id, rights] : store::parse_acl(e->acl)) {
    line += ' ';
    line += imap_astring(id);
    line += ' ';
    line += imap_astring(rights);
  }
  reply(line);
  tagged(cmd, "OK", "Completed");
}

void Session::cmd_setacl(const Command& cmd, bool remove) {
  if (cmd.args.size() != (remove ? 2u : 3u)) return tagged(cmd, "BAD", "Invalid arguments");
  for (const Value& v : cmd.args) {
    if (!v.is_astring()) return tagged(cmd, "BAD", "Invalid arguments");
  }
  auto name = mailbox_arg(cmd.args[0]);
  if (!name.ok()) return tagged_error(cmd, name.status());
  auto e = visible(*name);
  if (!e.ok()) return tagged_error(cmd, e.status());
  if (rights_of(*e).find('a') == std::string::npos) return tagged_error(cmd, denied());
  const std::string& id = cmd.args[1].text;
  if (id.empty()) return tagged(cmd, "BAD", "Empty identifier");
  auto acl = store::parse_acl(e->acl);
  if (remove) {
    acl.erase(id);
  } else {
    std::string_view given = cmd.args[2].text;
    char mode = 0;
    if (!given.empty() && (given[0] == '+' || given[0] == '-')) {
      mode = given[0];
      given.remove_prefix(1);
    }
    auto rights = canonical_rights(given);
    if (!rights) return tagged(cmd, "BAD", "[INVALID] Invalid rights");
    std::string current = acl.count(id) ? acl[id] : "";
    std::string next;
    if (mode == '+') {
      next = *canonical_rights(current + *rights);
    } else if (mode == '-') {
      for (char c : current) {
        if (rights->find(c) == std::string::npos) next += c;
      }
    } else {
      next = *rights;
    }
    if (next.empty()) {
      acl.erase(id);
    } else {
      acl[id] = next;
    }
  }
  Status st = instance_.set_acl(*name, store::format_acl(acl));
  if (!st.is_ok()) return tagged_error(cmd, st);
  tagged(cmd, "OK", "Completed");
}

void Session::cmd_myrights(const Command& cmd) {
  if (cmd.args.size() != 1) return tagged(cmd, "BAD", "Invalid MYRIGHTS arguments");
  auto name = mailbox_arg(cmd.args[0]);
  if (!name.ok()) return tagged_error(cmd, name.status());
  auto e = visible(*name);
  if (!e.ok()) return tagged_error(cmd, e.status());
  reply("* MYRIGHTS " + imap_astring(external(*name)) + " " + imap_astring(rights_of(*e)));
  tagged(cmd, "OK", "Completed");
}

void Session::cmd_listrights(const Command& cmd) {
  if (cmd.args.size() != 2 || !cmd.args[1].is_astring()) {
    return tagged(cmd, "BAD", "Invalid LISTRIGHTS arguments");
  }
  auto name = mailbox_arg(cmd.args[0]);
  if (!name.ok()) return tagged_error(cmd, name.status());
  auto e = visible(*name);
  if (!e.ok()) return tagged_error(cmd, e.status());
  if (rights_of(*e).find('a') == std::string::npos) return tagged_error(cmd, denied());
  const std::string& id = cmd.args[1].text;
  bool owner = store::mboxname_owner(*name) == id;
  // The owner always holds the implicit owner rights; anything else may be
  // granted one letter at a time.
  std::string line = "* LISTRIGHTS " + imap_astring(external(*name)) + " " + imap_astring(id) +
                     " " + (owner ? "\"lkxan\"" : "\"\"");
  for (char c : std::string_view("lrswipkxtecdan")) {
    if (owner && std::string_view("lkxan").find(c) != std::string_view::npos) continue;
    line += ' ';
    line += c;
  }
  line += " 0 1 2 3 4 5 6 7 8 9";
  reply(line);
  tagged(cmd, "OK", "Completed");
}

std::string Session::quota_response(const store::QuotaRoot& q) const {
  std::string items;
  if (q.storage_limit_kib >= 0) {
    // Whole KiB used, rounded down as Cyrus does.
    items += "STORAGE " + std::to_string(q.storage_used / 1024) + " " +
             std::to_string(q.storage_limit_kib);
  }
  if (q.message_limit >= 0) {
    if (!items.empty()) items += ' ';
    items += "MESSAGE " + std::to_string(q.message_used) + " " + std::to_string(q.message_limit);
  }
  return "* QUOTA " + imap_astring(external(q.root)) + " (" + items + ")";
}

void Session::cmd_getquota(const Command& cmd, bool by_root) {
  if (cmd.args.size() != 1) return tagged(cmd, "BAD", "Invalid arguments");
  auto name = mailbox_arg(cmd.args[0]);
  if (!name.ok()) return tagged_error(cmd, name.status());
  if (by_root) {
    auto q = instance_.quota().get(*name);
    if (!q.ok()) {
      if (q.status().code() == Code::kNotFound) {
        return tagged(cmd, "NO", "[NONEXISTENT] Quota root does not exist");
      }
      return tagged_error(cmd, q.status());
    }
    if (!is_admin_ && store::mboxname_owner(*name) != userid_) {
      return tagged_error(cmd, denied());
    }
    reply(quota_response(*q));
    return tagged(cmd, "OK", "Completed");
  }
  auto e = visible(*name);
  if (!e.ok()) return tagged_error(cmd, e.status());
  auto root = instance_.quota().find_root(*name);
  if (!root.ok()) return tagged_error(cmd, root.status());
  std::string line = "* QUOTAROOT " + imap_astring(external(*name));
  if (*root) {
    line += ' ';
    line += imap_astring(external((*root)->root));
  }
  reply(line);
  if (*root) reply(quota_response(**root));
  tagged(cmd, "OK", "Completed");
}

void Session::cmd_setquota(const Command& cmd) {
  if (cmd.args.size() != 2 || !cmd.args[1].is_list()) {
    return tagged(cmd, "BAD", "Invalid SETQUOTA arguments");
  }
  if (!is_admin_) return tagged_error(cmd, denied());
  auto name = mailbox_arg(cmd.args[0]);
  if (!name.ok()) return tagged_error(cmd, name.status());
  const auto& items = cmd.args[1].items;
  if (items.size() % 2 != 0) return tagged(cmd, "BAD", "Invalid quota list");
  int64_t storage = -1, messages = -1;
  for (size_t i = 0; i < items.size(); i += 2) {
    std::string res = to_upper(items[i].text);
    const std::string& v = items[i + 1].text;
    int64_t n = 0;
    if (v.empty() || v.size() > 18 || v.find_first_not_of("0123456789") != std::string::npos) {
      if (v != "-1") return tagged(cmd, "BAD", "Invalid quota limit");
      n = -1;
    } else {
      n = std::stoll(v);
    }
    if (res == "STORAGE") {
      storage = n;
    } else if (res == "MESSAGE") {
      messages = n;
    } else {
      return tagged(cmd, "NO", "[UNKNOWN-RESOURCE] Unsupported quota resource " + res);
    }
  }
  // As Cyrus 3.6: the mailbox must exist, and an empty list leaves a quota
  // root without limits (GETQUOTA then answers "()"), it does not remove it.
  auto e = instance_.lookup(*name);
  if (!e.ok()) return tagged_error(cmd, e.status());
  Status st = instance_.set_quota(*name, storage, messages);
  if (!st.is_ok()) return tagged_error(cmd, st);
  tagged(cmd, "OK", "Completed");
}

}  // namespace replimail::imap
