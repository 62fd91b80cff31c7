#include "synclog/work.h"

#include <algorithm>
#include <set>

#include "common/mboxname_owner.h"

namespace replimail::synclog {

namespace {

template <typename T>
void add_unique(std::vector<T>& list, T item) {
  if (std::find(list.begin(), list.end(), item) == list.end()) list.push_back(std::move(item));
}

template <typename T>
void cancel_users(std::vector<T>& list, const std::set<std::string>& users) {
  std::erase_if(list, [&](const T& item) {
    if constexpr (std::is_same_v<T, std::string>) {
      return users.count(item) > 0;
    } else {
      return users.count(item.first) > 0;
    }
  });
}

}  // namespace

bool SyncWork::empty() const {
  return mailbox_groups.empty() && quota.empty() && annotation.empty() && seen.empty() &&
         sub.empty() && unmailbox.empty() && meta.empty() && user.empty() && unuser.empty();
}

SyncWork build_work(const std::vector<Line>& lines, std::string_view deletedprefix) {
  SyncWork w;
  auto group = [&](const std::string& owner_of, const std::string& name) {
    add_unique(w.mailbox_groups[mboxname_owner(owner_of, deletedprefix)], name);
  };
  for (const auto& line : lines) {
    const std::string& k = line.keyword;
    const size_t n = line.args.size();
    const bool pair =
        k == "DOUBLEMAILBOX" || k == "RENAME" || k == "SEEN" || k == "SUB" || k == "UNSUB";
    if (n == 0 || (pair && n < 2)) {
      w.ignored.push_back(k + ": missing argument");
      continue;
    }
    const std::string& a = line.args[0];
    if (k == "USER") {
      add_unique(w.user, a);
    } else if (k == "UNUSER") {
      add_unique(w.unuser, a);
    } else if (k == "META" || k == "SIEVE") {
      add_unique(w.meta, a);
    } else if (k == "MAILBOX" || k == "APPEND") {
      group(a, a);
    } else if (k == "DOUBLEMAILBOX") {
      group(a, a);
      group(a, line.args[1]);
    } else if (k == "RENAME") {
      const std::string& b = line.args[1];
      group(a, a);
      group(a, b);
      if (mboxname_owner(a, deletedprefix) != mboxname_owner(b, deletedprefix)) {
        group(b, a);
        group(b, b);
      }
    } else if (k == "UNMAILBOX") {
      add_unique(w.unmailbox, a);
    } else if (k == "QUOTA") {
      add_unique(w.quota, a);
    } else if (k == "ANNOTATION") {
      add_unique(w.annotation, a);
    } else if (k == "SEEN") {
      add_unique(w.seen, {a, line.args[1]});
    } else if (k == "SUB" || k == "UNSUB") {
      add_unique(w.sub, {a, line.args[1]});
    } else {
      w.ignored.push_back("Unknown action type " + k);
    }
  }
  const std::set<std::string> users(w.user.begin(), w.user.end());
  const std::set<std::string> unusers(w.unuser.begin(), w.unuser.end());
  cancel_users(w.meta, users);
  cancel_users(w.seen, users);
  cancel_users(w.sub, users);
  cancel_users(w.user, unusers);
  cancel_users(w.meta, unusers);
  cancel_users(w.seen, unusers);
  cancel_users(w.sub, unusers);
  const std::set<std::string> metas(w.meta.begin(), w.meta.end());
  cancel_users(w.seen, metas);
  cancel_users(w.sub, metas);
  return w;
}

}  // namespace replimail::synclog
