#include "store/digest.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <map>
#include <set>

#include "store/acl.h"
#include "store/instance.h"
#include "store/mboxname.h"

namespace replimail::store {
namespace {

// One field: control bytes, space, bytes above 0x7e, backslash and '"' as
// \xHH, so a field never contains the separator; the empty string is "".
std::string field(std::string_view v) {
  if (v.empty()) return "\"\"";
  std::string out;
  for (unsigned char c : v) {
    if (c <= 0x20 || c >= 0x7f || c == '\\' || c == '"')
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  return out;
}

bool in_user_scope(std::string_view user, std::string_view mboxname) {
  std::string inbox = user_inbox(user);
  return mboxname == inbox || mboxname_is_child(inbox, mboxname);
}

struct Collector {
  Instance& inst;
  const DigestScope& scope;
  std::vector<std::string> lines;
  // uniqueid → name of every real mailbox in scope.
  std::map<std::string, std::string> names;
  // "DELETED.": mailboxes kept by delete_mode: delayed.
  std::string deleted_prefix;

  bool wants_mailbox(const std::string& name) const {
    if (!scope.mailbox.empty()) return name == scope.mailbox;
    if (name.starts_with(deleted_prefix)) return false;
    if (!scope.user.empty()) return in_user_scope(scope.user, name);
    return true;
  }

  Status mailbox(const MailboxEntry& e) {
    std::string n = field(e.name);
    lines.push_back(
        fmt::format("mailbox {} uniqueid={} mbtype={} partition={} uidvalidity={} "
                    "createdmodseq={} foldermodseq={}",
                    n, field(e.uniqueid), field(e.mbtype), field(e.partition), e.uidvalidity,
                    e.createdmodseq, e.foldermodseq));
    for (const auto& [id, rights] : parse_acl(e.acl))
      lines.push_back(fmt::format("acl {} {} {}", n, field(id), field(rights)));

    auto mbox = inst.open_mailbox(e.name);
    if (!mbox.ok()) return mbox.status();
    Status s = (*mbox)->begin_read();
    if (!s) return s;
    auto c = (*mbox)->counters();
    if (!c.ok()) return c.status();
    lines.push_back(fmt::format(
        "counters {} last_uid={} highestmodseq={} recentuid={} recenttime={} last_appenddate={} "
        "pop3_last_login={} pop3_show_after={} options={} sync_crc={} sync_crc_annot={} "
        "exists={} quota_used={}",
        n, c->last_uid, c->highestmodseq, c->recentuid, c->recenttime, c->last_appenddate,
        c->pop3_last_login, c->pop3_show_after, field(c->options), c->sync_crc, c->sync_crc_annot,
        c->exists, c->quota_used));
    std::vector<uint32_t> uids;
    s = (*mbox)->for_each_record(0, [&](const IndexRecord& r) {
      std::vector<std::string> flags = system_flag_names(r.system_flags);
      for (const auto& f : r.user_flags) flags.push_back(f);
      std::sort(flags.begin(), flags.end());
      std::string fl;
      // Not `(fl.empty() ? "" : ",") + field(f)`: GCC 12 -O3's false -Wrestrict.
      for (const auto& f : flags) {
        if (!fl.empty()) fl += ',';
        fl += field(f);
      }
      lines.push_back(fmt::format(
          "record {} {:010} modseq={} last_updated={} flags=({}) internaldate={} size={} "
          "guid={} savedate={} createdmodseq={}",
          n, r.uid, r.modseq, r.last_updated, fl, r.internaldate, r.size, field(r.guid), r.savedate,
          r.createdmodseq));
      uids.push_back(r.uid);
      return true;
    });
    if (!s) return s;
    for (uint32_t uid : uids) {
      auto annots = (*mbox)->annotations(uid);
      if (!annots.ok()) return annots.status();
      for (const auto& a : *annots)
        lines.push_back(fmt::format("msgannot {} {:010} {} {} modseq={} value={}", n, uid,
                                    field(a.entry), field(a.userid), a.modseq, field(a.value)));
    }
    (*mbox)->end_read();
    return annotations(e.name);
  }

  Status annotations(const std::string& mboxname) {
    auto annots = inst.annotations().list(mboxname);
    if (!annots.ok()) return annots.status();
    for (const auto& a : *annots) {
      // A server annotation's modseq is the instance's own: APPLY ANNOTATION
      // carries none (Cyrus's neither), so it is not replicated state.
      std::string modseq = a.mboxname.empty() ? "" : fmt::format(" modseq={}", a.modseq);
      lines.push_back(fmt::format("annot {} {} {}{} value={}", field(a.mboxname), field(a.entry),
                                  field(a.userid), modseq, field(a.value)));
    }
    return Status::success();
  }

  void seen(const std::string& userid, const SeenRecord& r) {
    auto it = names.find(r.uniqueid);
    if (it == names.end()) return;
    lines.push_back(
        fmt::format("seen {} {} uniqueid={} lastread={} lastuid={} lastchange={} "
                    "seenuids={}",
                    field(userid), field(it->second), field(r.uniqueid), r.lastread, r.lastuid,
                    r.lastchange, field(r.seenuids)));
  }

  Status run() {
    deleted_prefix = inst.config().get("deletedprefix");
    if (deleted_prefix.empty()) deleted_prefix = "DELETED";
    deleted_prefix += ".";
    std::vector<MailboxEntry> entries;
    Status s = inst.mailboxes().list("", false, [&](const MailboxEntry& e) {
      if (e.is_real() && wants_mailbox(e.name)) entries.push_back(e);
      return true;
    });
    if (!s) return s;
    for (const auto& e : entries) {
      names[e.uniqueid] = e.name;
      s = mailbox(e);
      if (!s) return Status(s.code(), fmt::format("{}: {}", e.name, s.message()));
    }
    // Every user's seen state on the mailboxes in scope; with -u, also the
    // user's seen state on mailboxes of others.
    std::set<std::pair<std::string, std::string>> done;
    for (const auto& [uniqueid, name] : names) {
      auto all = inst.userdata().seen_by_all(uniqueid);
      if (!all.ok()) return all.status();
      for (const auto& [userid, rec] : *all) {
        seen(userid, rec);
        done.emplace(userid, uniqueid);
      }
    }
    std::vector<std::string> users;
    if (!scope.mailbox.empty()) {
      // Subscriptions and quota belong to users and roots, not to one mailbox.
      return Status::success();
    }
    if (!scope.user.empty()) {
      users.push_back(scope.user);
    } else {
      auto u = inst.userdata().users();
      if (!u.ok()) return u.status();
      users = std::move(*u);
      s = annotations("");
      if (!s) return s;
    }
    for (const auto& user : users) {
      if (!scope.user.empty()) {
        auto recs = inst.userdata().all_seen(user);
        if (!recs.ok()) return recs.status();
        for (const auto& r : *recs) {
          if (done.count({user, r.uniqueid})) continue;
          auto e = inst.mailboxes().lookup_uniqueid(r.uniqueid);
          if (!e.ok() || !e->is_real()) continue;
          names[r.uniqueid] = e->name;
          seen(user, r);
        }
      }
      auto subs = inst.userdata().subscriptions(user);
      if (!subs.ok()) return subs.status();
      for (const auto& m : *subs) lines.push_back(fmt::format("sub {} {}", field(user), field(m)));
    }
    auto roots = inst.quota().list(scope.user.empty() ? "" : user_inbox(scope.user));
    if (!roots.ok()) return roots.status();
    for (const auto& q : *roots) {
      if (!scope.user.empty() && !in_user_scope(scope.user, q.root)) continue;
      lines.push_back(
          fmt::format("quota {} storage_limit_kib={} message_limit={} modseq={} storage_used={} "
                      "message_used={}",
                      field(q.root), q.storage_limit_kib, q.message_limit, q.modseq, q.storage_used,
                      q.message_used));
    }
    return Status::success();
  }
};

}  // namespace

Result<std::vector<std::string>> digest_lines(Instance& inst, const DigestScope& scope) {
  Collector c{inst, scope, {}, {}, {}};
  Status s = c.run();
  if (!s) return s;
  std::sort(c.lines.begin(), c.lines.end());
  return std::move(c.lines);
}

std::string digest_hash_line(const std::vector<std::string>& lines) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha1(), nullptr);
  for (const auto& l : lines) {
    EVP_DigestUpdate(ctx, l.data(), l.size());
    EVP_DigestUpdate(ctx, "\n", 1);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  std::string out = "hash ";
  for (unsigned int i = 0; i < len; i++) out += fmt::format("{:02x}", md[i]);
  return out;
}

}  // namespace replimail::store
