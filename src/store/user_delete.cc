#include "store/user_delete.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <string>
#include <vector>

#include "store/mboxname.h"

namespace replimail::store {

Status remove_mailbox(Instance& instance, std::string_view name) {
  const Config& cfg = instance.config();
  std::string prefix = cfg.get("deletedprefix");
  if (prefix.empty()) prefix = "DELETED";
  if (cfg.get("delete_mode") != "delayed" || name.starts_with(prefix + "."))
    return instance.delete_mailbox(name);
  bool children = false;
  Status s =
      instance.mailboxes().list(std::string(name) + ".", false, [&](const MailboxEntry& e) {
        children = children || e.is_real();
        return !children;
      });
  if (!s) return s;
  if (children) return instance.delete_mailbox(name);
  // A mailbox of this name deleted earlier in the same second holds the
  // name: the next second is as good a deletion time for cyr_expire -D.
  std::string target;
  for (auto t = static_cast<uint32_t>(::time(nullptr));; ++t) {
    target = fmt::format("{}.{}.{:X}", prefix, name, t);
    auto clash = instance.mailboxes().lookup(target);
    if (!clash.ok() || clash->is_tombstone()) break;
  }
  spdlog::info("delete_mode delayed: {} kept as {}", name, target);
  return instance.rename_mailbox(name, target);
}

Status delete_user(Instance& instance, std::string_view userid) {
  Status s = validate_userid(userid);
  if (!s) return s;
  std::string inbox = user_inbox(userid);
  auto tree = instance.mailboxes().list_tree(inbox);
  if (!tree.ok()) return tree.status();
  std::vector<MailboxEntry> all = std::move(tree).value();
  // Children before parents: reverse name order puts "a.b" before "a".
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.name > b.name; });
  for (const auto& e : all) {
    if (!e.is_real()) continue;
    s = remove_mailbox(instance, e.name);
    // A concurrent DELETE of the same mailbox is not a failure.
    if (!s && s.code() != Code::kMailboxNonexistent) return s;
  }
  // Roots left over (a root on a name that never was a mailbox).
  auto roots = instance.quota().list(inbox);
  if (!roots.ok()) return roots.status();
  for (const auto& q : *roots) {
    if (q.root != inbox && !mboxname_is_child(inbox, q.root)) continue;
    s = instance.remove_quota(q.root);
    if (!s && s.code() != Code::kNotFound) return s;
  }
  return instance.delete_user_data(userid);
}

}  // namespace replimail::store
