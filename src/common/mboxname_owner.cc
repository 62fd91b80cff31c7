#include "common/mboxname_owner.h"

namespace replimail {

std::string mboxname_owner(std::string_view name, std::string_view deletedprefix) {
  if (!deletedprefix.empty() && name.size() > deletedprefix.size() &&
      name.starts_with(deletedprefix) && name[deletedprefix.size()] == '.') {
    name.remove_prefix(deletedprefix.size() + 1);
  }
  constexpr std::string_view kUser = "user.";
  if (!name.starts_with(kUser)) return "";
  name.remove_prefix(kUser.size());
  std::string userid(name.substr(0, name.find('.')));
  for (char& c : userid) {
    if (c == '^') c = '.';
  }
  return userid;
}

}  // namespace replimail
