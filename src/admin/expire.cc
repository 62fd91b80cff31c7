#include "admin/expire.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>

#include "admin/tool_main.h"
#include "store/duplicate.h"
#include "store/instance.h"
#include "store/mboxname.h"

namespace replimail::admin {
using namespace store;
namespace {

Status bad(std::string what) { return Status(Code::kInvalidArgument, std::move(what)); }

std::string deleted_prefix(const Config& cfg) {
  std::string p = cfg.get("deletedprefix");
  return p.empty() ? "DELETED" : p;
}

// Whether `name` is among the mailboxes -p and -u select.
bool selected(const ExpireOptions& o, const std::string& deleted, const std::string& name) {
  if (!o.prefix.empty() && !name.starts_with(o.prefix)) return false;
  if (o.user.empty()) return true;
  const std::string inbox = user_inbox(o.user);
  for (const std::string& root : {inbox, fmt::format("{}.{}", deleted, inbox)})
    if (name == root || name.starts_with(root + ".")) return true;
  return false;
}

// Real mailboxes whose names start with `prefix`, in name order.
Result<std::vector<std::string>> real_mailboxes(Instance& inst, const std::string& prefix) {
  std::vector<std::string> out;
  Status s = inst.mailboxes().list(prefix, false, [&](const MailboxEntry& e) {
    if (e.is_real()) out.push_back(e.name);
    return true;
  });
  if (!s) return s;
  return out;
}

}  // namespace

Result<double> parse_expire_duration(std::string_view text) {
  if (text.empty()) return bad("empty duration");
  std::string num(text);
  double unit = 86400;
  switch (num.back()) {
    case 'd':
      num.pop_back();
      break;
    case 'h':
      unit = 3600;
      num.pop_back();
      break;
    case 'm':
      unit = 60;
      num.pop_back();
      break;
    case 's':
      unit = 1;
      num.pop_back();
      break;
    default:
      break;
  }
  if (num.empty() || num.find_first_not_of("0123456789.") != std::string::npos)
    return bad(fmt::format("bad duration '{}'", text));
  char* end = nullptr;
  double v = std::strtod(num.c_str(), &end);
  if (end == nullptr || *end != '\0' || !std::isfinite(v))
    return bad(fmt::format("bad duration '{}'", text));
  return v * unit;
}

Result<ExpireOptions> parse_expire_args(const std::vector<std::string>& args) {
  ExpireOptions o;
  constexpr std::string_view kWithValue = "CADEXpu";
  constexpr std::string_view kFlags = "vaxct";
  for (size_t i = 0; i < args.size(); i++) {
    const std::string& a = args[i];
    if (a.size() < 2 || a[0] != '-') return bad(fmt::format("unexpected argument '{}'", a));
    for (size_t j = 1; j < a.size(); j++) {
      char c = a[j];
      if (kFlags.find(c) != std::string_view::npos) {
        if (c == 't') return bad("-t (remove unused user flags) is not implemented");
        if (c == 'v') o.verbose = true;
        if (c == 'a') o.skip_annotations = true;
        if (c == 'x') o.skip_expunge = true;
        if (c == 'c') o.skip_conversations = true;
        continue;
      }
      if (kWithValue.find(c) == std::string_view::npos)
        return bad(fmt::format("unknown option -{}", c));
      auto got = option_value(args, &i, j, c);
      if (!got.ok()) return got.status();
      const std::string value = std::move(got).value();
      std::optional<double>* dur = c == 'A'   ? &o.archive_s
                                   : c == 'D' ? &o.delete_s
                                   : c == 'E' ? &o.expire_s
                                   : c == 'X' ? &o.expunge_s
                                              : nullptr;
      if (dur != nullptr) {
        auto d = parse_expire_duration(value);
        if (!d.ok()) return bad(fmt::format("-{}: {}", c, d.status().message()));
        *dur = *d;
      } else if (c == 'C') {
        o.config = value;
      } else if (c == 'p') {
        o.prefix = value;
      } else {
        if (!validate_userid(value)) return bad(fmt::format("-u: invalid user '{}'", value));
        o.user = value;
      }
      break;  // the value took the rest of this argument
    }
  }
  if (!o.archive_s && !o.delete_s && !o.expire_s && !o.expunge_s)
    return bad("at least one of -A -D -E -X is required");
  return o;
}

std::optional<int64_t> deleted_mailbox_time(std::string_view name) {
  size_t dot = name.rfind('.');
  if (dot == std::string_view::npos) return std::nullopt;
  std::string_view hex = name.substr(dot + 1);
  if (hex.size() != 8 || hex.find_first_not_of("0123456789abcdefABCDEF") != std::string_view::npos)
    return std::nullopt;
  return static_cast<int64_t>(std::strtoll(std::string(hex).c_str(), nullptr, 16));
}

Result<ExpireReport> run_expire(Instance& inst, const ExpireOptions& o, int64_t now,
                                const std::function<void(const std::string&)>& say) {
  auto verbose = [&](const std::string& line) {
    if (o.verbose && say) say(line);
  };
  auto cutoff = [&](double seconds) { return now - static_cast<int64_t>(std::llround(seconds)); };
  ExpireReport rep;
  const Config& cfg = inst.config();
  const std::string deleted = deleted_prefix(cfg);

  if (o.expire_s) {
    auto db = DuplicateDb::open(DuplicateDb::path_for(cfg));
    if (!db.ok()) return db.status();
    auto n = (*db)->expire(cutoff(*o.expire_s));
    if (!n.ok()) return n.status();
    rep.duplicates_expired = *n;
    auto left = (*db)->count();
    if (!left.ok()) return left.status();
    rep.duplicates_left = *left;
    verbose(fmt::format("Expired {} duplicate entries, {} left", *n, *left));
  }

  if (o.expunge_s && !o.skip_expunge) {
    auto names = real_mailboxes(inst, "");
    if (!names.ok()) return names.status();
    const int64_t before = cutoff(*o.expunge_s);
    for (const auto& name : *names) {
      if (!selected(o, deleted, name)) continue;
      auto n = inst.purge_expunged(name, before);
      if (!n.ok()) {
        // Deleted by someone else meanwhile: nothing left to purge.
        if (n.status().code() == Code::kMailboxNonexistent) continue;
        return Status(n.status().code(), name + ": " + n.status().message());
      }
      rep.mailboxes_scanned++;
      rep.records_purged += *n;
      if (*n > 0) verbose(fmt::format("{}: purged {} expunged records", name, *n));
    }
    verbose(fmt::format("Purged {} expunged records from {} mailboxes", rep.records_purged,
                        rep.mailboxes_scanned));
  }

  if (o.delete_s) {
    if (cfg.get("delete_mode") != "delayed") {
      verbose("delete_mode is not delayed: no deleted mailboxes to remove");
    } else {
      auto names = real_mailboxes(inst, deleted + ".");
      if (!names.ok()) return names.status();
      const int64_t before = cutoff(*o.delete_s);
      // Children before their parents, so that no parent is left an
      // intermediate.
      for (auto it = names->rbegin(); it != names->rend(); ++it) {
        const std::string& name = *it;
        if (!selected(o, deleted, name)) continue;
        auto when = deleted_mailbox_time(name);
        if (!when || *when >= before) continue;
        Status s = inst.delete_mailbox(name);
        if (!s && s.code() != Code::kMailboxNonexistent)
          return Status(s.code(), name + ": " + s.message());
        if (s) {
          rep.mailboxes_deleted++;
          verbose(fmt::format("Removed deleted mailbox {}", name));
        }
      }
      verbose(fmt::format("Removed {} deleted mailboxes", rep.mailboxes_deleted));
    }
  }
  if (o.archive_s) verbose("no archive partitions: nothing to archive (-A)");
  return rep;
}

}  // namespace replimail::admin
