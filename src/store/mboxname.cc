#include "store/mboxname.h"

#include <fmt/format.h>

namespace replimail::store {
namespace {

constexpr size_t kMaxNameLength = 490;
constexpr std::string_view kUserPrefix = "user.";

Status bad_name(std::string_view name, std::string_view why) {
  return Status(Code::kMailboxBadName, fmt::format("invalid mailbox name \"{}\": {}", name, why));
}

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == ',';
}

// `s` for an error message: bytes outside printable ASCII as \xNN, at most
// 80 of them.
std::string printable(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < 80; i++) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c >= 0x7f || c == '\\')
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  if (s.size() > 80) out += "...";
  return out;
}

bool is_id_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

}  // namespace

Status validate_uniqueid(std::string_view uniqueid) {
  auto bad = [&](std::string_view why) {
    return Status(Code::kMailboxBadName,
                  fmt::format("invalid uniqueid \"{}\": {}", printable(uniqueid), why));
  };
  if (uniqueid.empty()) return bad("empty");
  if (uniqueid.size() > 64) return bad("too long");
  for (char c : uniqueid)
    if (!is_id_char(c)) return bad("only letters, digits, '-' and '_' allowed");
  return Status::success();
}

Status validate_partition(std::string_view partition) {
  auto bad = [&](std::string_view why) {
    return Status(Code::kMailboxBadName,
                  fmt::format("invalid partition \"{}\": {}", printable(partition), why));
  };
  if (partition.empty()) return bad("empty");
  if (partition.size() > 64) return bad("too long");
  if (partition.front() == '.') return bad("starts with '.'");
  for (char c : partition)
    if (!is_id_char(c) && c != '.') return bad("only letters, digits, '.', '-' and '_' allowed");
  return Status::success();
}

Status validate_guid(std::string_view guid) {
  bool ok = guid.size() == 40;
  for (char c : guid)
    ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'));
  if (ok) return Status::success();
  return Status(Code::kInvalidArgument,
                fmt::format("invalid GUID \"{}\": not 40 hex digits", printable(guid)));
}

Status validate_mboxname(std::string_view name) {
  if (name.empty()) return bad_name(name, "empty");
  if (name.size() > kMaxNameLength) return bad_name(name, "too long");
  if (name.front() == '.' || name.back() == '.') return bad_name(name, "leading or trailing dot");
  for (size_t i = 0; i < name.size(); i++) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    if (c >= 0x80) return bad_name(name, "8-bit character (names are modified UTF-7)");
    if (c < 0x20 || c == 0x7f) return bad_name(name, "control character");
    if (c == '/') return bad_name(name, "'/' is not allowed");
    if (c == '%' || c == '*') return bad_name(name, "wildcard character");
    if (c == '.' && name[i + 1] == '.') return bad_name(name, "empty hierarchy component");
    if (c == '&') {
      // Modified UTF-7: "&-" is a literal '&', else a base64 run closed by '-'.
      size_t j = i + 1;
      while (j < name.size() && is_base64_char(name[j])) j++;
      if (j >= name.size() || name[j] != '-') return bad_name(name, "malformed modified UTF-7");
      i = j;
    }
  }
  if (name == "user") return bad_name(name, "the user namespace itself");
  if (name.starts_with(kUserPrefix)) {
    std::string_view rest = name.substr(kUserPrefix.size());
    std::string_view comp = rest.substr(0, rest.find('.'));
    Status s = validate_userid(component_to_userid(comp));
    if (!s) return bad_name(name, s.message());
  }
  return Status::success();
}

Status validate_userid(std::string_view userid) {
  auto bad = [&](std::string_view why) {
    return Status(Code::kInvalidUser, fmt::format("invalid userid \"{}\": {}", userid, why));
  };
  if (userid.empty()) return bad("empty");
  if (userid.size() > 255) return bad("too long");
  if (userid == "." || userid == "..") return bad("reserved");
  if (userid.front() == '.' || userid.back() == '.' || userid.find("..") != std::string_view::npos)
    return bad("empty component");
  for (char ch : userid) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f) return bad("space, control or 8-bit character");
    if (c == '/' || c == '^' || c == '%' || c == '*') return bad("forbidden character");
  }
  return Status::success();
}

std::string userid_to_component(std::string_view userid) {
  std::string out(userid);
  for (char& c : out)
    if (c == '.') c = '^';
  return out;
}

std::string component_to_userid(std::string_view component) {
  std::string out(component);
  for (char& c : out)
    if (c == '^') c = '.';
  return out;
}

std::string user_inbox(std::string_view userid) {
  return std::string(kUserPrefix) + userid_to_component(userid);
}

bool mboxname_is_inbox(std::string_view name) {
  return name.starts_with(kUserPrefix) && name.size() > kUserPrefix.size() &&
         name.find('.', kUserPrefix.size()) == std::string_view::npos;
}

bool mboxname_is_child(std::string_view parent, std::string_view child) {
  return child.size() > parent.size() + 1 && child.starts_with(parent) &&
         child[parent.size()] == '.';
}

std::string mboxname_parent(std::string_view name) {
  auto dot = name.rfind('.');
  if (dot == std::string_view::npos) return {};
  return std::string(name.substr(0, dot));
}

}  // namespace replimail::store
