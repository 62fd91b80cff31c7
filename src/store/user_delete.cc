#include "store/user_delete.h"

#include <algorithm>
#include <string>
#include <vector>

#include "store/mboxname.h"

namespace replimail::store {

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
    s = instance.delete_mailbox(e.name);
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
