#include "store/acl.h"

#include "store/mboxname.h"

namespace replimail::store {

std::map<std::string, std::string> parse_acl(std::string_view acl) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos < acl.size()) {
    size_t tab1 = acl.find('\t', pos);
    if (tab1 == std::string_view::npos) break;
    size_t tab2 = acl.find('\t', tab1 + 1);
    std::string_view id = acl.substr(pos, tab1 - pos);
    std::string_view rights =
        acl.substr(tab1 + 1, (tab2 == std::string_view::npos ? acl.size() : tab2) - tab1 - 1);
    if (!id.empty()) out[std::string(id)] = std::string(rights);
    if (tab2 == std::string_view::npos) break;
    pos = tab2 + 1;
  }
  return out;
}

std::string format_acl(const std::map<std::string, std::string>& acl) {
  std::string out;
  for (const auto& [id, rights] : acl) {
    out += id;
    out += '\t';
    out += rights;
    out += '\t';
  }
  return out;
}

bool acl_has_right(std::string_view acl, std::string_view userid, char right) {
  auto map = parse_acl(acl);
  for (std::string_view id : {userid, std::string_view("anyone")}) {
    auto it = map.find(std::string(id));
    if (it != map.end() && it->second.find(right) != std::string::npos) return true;
  }
  return false;
}

std::string default_acl(std::string_view mboxname) {
  std::string owner = mboxname_owner(mboxname);
  if (owner.empty()) return format_acl({{"anyone", "lrs"}});
  return format_acl({{owner, std::string(kOwnerRights)}});
}

}  // namespace replimail::store
