#include "admin/purge.h"

#include <fmt/format.h>

#include <cstdlib>

#include "admin/tool_main.h"
#include "imap/sort.h"
#include "mime/message.h"
#include "store/instance.h"
#include "store/mboxname.h"

namespace replimail::admin {
namespace {

Status bad(std::string what) { return Status(Code::kInvalidArgument, std::move(what)); }

Result<uint64_t> parse_count(char opt, const std::string& v) {
  if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos || v.size() > 15)
    return bad(fmt::format("-{}: '{}' is not a number", opt, v));
  return std::strtoull(v.c_str(), nullptr, 10);
}

// '*' matches any characters, '%' any but the hierarchy separator.
bool glob(std::string_view pat, std::string_view name) {
  if (pat.empty()) return name.empty();
  if (pat[0] == '*' || pat[0] == '%') {
    for (size_t i = 0; i <= name.size(); i++) {
      if (glob(pat.substr(1), name.substr(i))) return true;
      if (i < name.size() && pat[0] == '%' && name[i] == '.') return false;
    }
    return false;
  }
  return !name.empty() && pat[0] == name[0] && glob(pat.substr(1), name.substr(1));
}

}  // namespace

Result<PurgeOptions> parse_ipurge_args(const std::vector<std::string>& args) {
  PurgeOptions o;
  int criteria = 0;
  size_t i = 0;
  for (; i < args.size(); i++) {
    const std::string& a = args[i];
    if (a == "--") {
      i++;
      break;
    }
    if (a.size() < 2 || a[0] != '-') break;  // the patterns begin
    for (size_t j = 1; j < a.size(); j++) {
      char c = a[j];
      switch (c) {
        case 'x':
          o.exact = true;
          continue;
        case 'X':
          o.delivery_time = true;
          continue;
        case 'i':
          o.invert = true;
          continue;
        case 's':
          o.skip_flagged = true;
          continue;
        case 'o':
          o.only_deleted = true;
          continue;
        case 'f':
          o.force = true;
          continue;
        case 'M':
          o.no_recurse = true;
          continue;
        case 'n':
          o.dry_run = true;
          continue;
        case 'v':
          o.verbose = true;
          continue;
        case 'C':
        case 'd':
        case 'b':
        case 'k':
        case 'm':
          break;
        default:
          return bad(fmt::format("unknown option -{}", c));
      }
      auto got = option_value(args, &i, j, c);
      if (!got.ok()) return got.status();
      const std::string value = std::move(got).value();
      if (c == 'C') {
        o.config = value;
      } else {
        auto n = parse_count(c, value);
        if (!n.ok()) return n.status();
        criteria++;
        if (c == 'd') o.days = static_cast<int64_t>(*n);
        if (c == 'b') o.bytes = *n;
        if (c == 'k') o.bytes = *n << 10;
        if (c == 'm') o.bytes = *n << 20;
      }
      break;  // the value took the rest of this argument
    }
  }
  for (; i < args.size(); i++) o.patterns.push_back(args[i]);
  if (criteria == 0) return bad("one of -d, -b, -k or -m is required");
  if (criteria > 1) return bad("only one of -d, -b, -k or -m may be given");
  return o;
}

bool purge_matches(const PurgeOptions& o, const store::IndexRecord& r, int64_t when, int64_t now) {
  if (r.expunged()) return false;
  if (o.skip_flagged && (r.system_flags & store::kFlagFlagged)) return false;
  if (o.only_deleted && !(r.system_flags & store::kFlagDeleted)) return false;
  bool hit;
  if (o.days) {
    int64_t age = now - when;
    hit = o.exact ? age / 86400 == *o.days : age > *o.days * 86400;
  } else {
    hit = o.exact ? r.size == *o.bytes : r.size > *o.bytes;
  }
  return hit != o.invert;
}

bool purge_selects(const PurgeOptions& o, std::string_view name) {
  if (!o.force && !store::mboxname_owner(name).empty()) return false;
  if (o.patterns.empty()) return true;
  for (const auto& p : o.patterns) {
    if (glob(p, name)) return true;
    if (o.no_recurse) continue;
    for (size_t dot = name.find('.'); dot != std::string_view::npos; dot = name.find('.', dot + 1))
      if (glob(p, name.substr(0, dot))) return true;
  }
  return false;
}

Result<PurgeReport> run_ipurge(store::Instance& inst, const PurgeOptions& o, int64_t now,
                               const std::function<void(const std::string&)>& say) {
  auto print = [&](const std::string& line) {
    if (say) say(line);
  };
  std::vector<std::string> names;
  Status s = inst.mailboxes().list("", false, [&](const store::MailboxEntry& e) {
    if (e.is_real() && purge_selects(o, e.name)) names.push_back(e.name);
    return true;
  });
  if (!s) return s;
  PurgeReport total;
  for (const auto& name : names) {
    auto mbox = inst.open_mailbox(name);
    if (!mbox.ok()) {
      if (mbox.status().code() == Code::kMailboxNonexistent) continue;  // deleted meanwhile
      return mbox.status();
    }
    PurgeReport here;
    std::vector<uint32_t> uids;
    Status err;
    // One read snapshot: the records and their caches as of one moment (a
    // cache row computed meanwhile is only queued, never written mid-scan).
    s = (*mbox)->begin_read();
    if (!s) return Status(s.code(), name + ": " + s.message());
    s = (*mbox)->for_each_record(0, [&](const store::IndexRecord& r) {
      if (r.expunged()) return true;
      here.messages++;
      here.bytes += r.size;
      int64_t when = r.internaldate;
      if (o.days && !o.delivery_time) {
        // The Date: header's instant, from the cached header block.
        auto cache = (*mbox)->cache(r.uid, r.guid);
        if (!cache.ok()) {
          err = cache.status();
          return false;
        }
        auto dates = mime::header_values(cache->header, "Date");
        if (!dates.empty())
          if (auto t = imap::rfc5322_time(dates[0])) when = *t;
      }
      if (!purge_matches(o, r, when, now)) return true;
      uids.push_back(r.uid);
      here.deleted++;
      here.deleted_bytes += r.size;
      if (o.dry_run) print(fmt::format("{}: would delete UID {} ({} bytes)", name, r.uid, r.size));
      return true;
    });
    (*mbox)->end_read();
    if (s && !err) s = err;
    if (!s) return Status(s.code(), name + ": " + s.message());
    (*mbox).reset();  // the expunge opens its own
    if (!uids.empty() && !o.dry_run) {
      s = inst.expunge(name, uids);
      if (!s) return Status(s.code(), name + ": " + s.message());
    }
    if (o.verbose)
      print(fmt::format(
          "{}: total messages {} total bytes {} {} messages {} bytes {} "
          "remaining messages {} remaining bytes {}",
          name, here.messages, here.bytes, o.dry_run ? "would delete" : "deleted", here.deleted,
          here.deleted_bytes, here.messages - here.deleted, here.bytes - here.deleted_bytes));
    total.mailboxes++;
    total.messages += here.messages;
    total.bytes += here.bytes;
    total.deleted += here.deleted;
    total.deleted_bytes += here.deleted_bytes;
  }
  return total;
}

}  // namespace replimail::admin
