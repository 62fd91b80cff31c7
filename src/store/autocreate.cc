#include "store/autocreate.h"

#include <map>
#include <vector>

#include "common/log.h"
#include "store/acl.h"
#include "store/instance.h"
#include "store/mboxname.h"

namespace replimail::store {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  while (true) {
    size_t at = s.find(sep);
    std::string_view part = trim(s.substr(0, at));
    if (!part.empty()) out.emplace_back(part);
    if (at == std::string_view::npos) break;
    s.remove_prefix(at + 1);
  }
  return out;
}

// A folder of autocreate_inbox_folders (external, relative to INBOX) as the
// internal name below `inbox`; "" if it is not a valid name.
std::string folder_name(const Config& cfg, std::string_view inbox, std::string_view folder) {
  std::string rel(folder);
  if (cfg.get_bool("unixhierarchysep")) {
    for (char& c : rel) {
      if (c == '.') {
        c = '^';
      } else if (c == '/') {
        c = '.';
      }
    }
  }
  std::string name = std::string(inbox) + "." + rel;
  if (!validate_mboxname(name).is_ok() || !mboxname_is_child(inbox, name)) return "";
  return name;
}

bool may_autocreate(const Config& cfg, std::string_view userid) {
  if (userid == "anonymous" || cfg.is_admin(userid)) return false;
  for (const std::string& who : split(cfg.get("autocreate_users"), ' ')) {
    if (who == "anyone" || who == userid) return true;
  }
  return false;
}

// The special-use flag xlist-<flag> gives `folder`, or "".
std::string special_use_of(const Config& cfg, std::string_view folder) {
  static constexpr std::string_view kFlags[] = {"all",  "archive", "drafts", "flagged",
                                                "junk", "sent",    "trash"};
  for (std::string_view flag : kFlags) {
    auto v = cfg.raw("xlist-" + std::string(flag));
    if (v && trim(*v) == folder) {
      std::string out(1, '\\');  // not `"\\" + ...`: GCC 12 -O3's false -Wrestrict
      out += flag;
      out[1] = static_cast<char>(out[1] - 'a' + 'A');
      return out;
    }
  }
  return "";
}

}  // namespace

bool autocreate_on_login(const Config& cfg) { return cfg.get_int("autocreate_quota") >= 0; }

bool autocreate_on_post(const Config& cfg) {
  return cfg.get_bool("autocreate_post") && autocreate_on_login(cfg);
}

Status autocreate_user(Instance& instance, std::string_view userid) {
  const Config& cfg = instance.config();
  if (!validate_userid(userid).is_ok() || !may_autocreate(cfg, userid)) {
    return Status(Code::kMailboxNonexistent,
                  "no INBOX for " + std::string(userid) + " and it may not be autocreated");
  }
  std::string inbox = user_inbox(userid);
  int64_t storage = cfg.get_int("autocreate_quota");
  int64_t messages = cfg.get_int("autocreate_quota_messages");
  CreateOptions opts;
  opts.quota_storage_kib = storage > 0 ? storage : -1;
  opts.quota_messages = messages > 0 ? messages : -1;
  auto created = instance.create_mailbox(inbox, opts);
  if (!created.ok()) {
    // Another session or delivery created it first: nothing more to do.
    if (created.status().code() == Code::kMailboxExists) return Status::success();
    return created.status();
  }
  spdlog::info("autocreate: {} for {}", inbox, userid);
  Status sub = instance.set_subscribed(userid, inbox, true);
  if (!sub) spdlog::warn("autocreate: subscribe {} to {}: {}", userid, inbox, sub.to_string());

  std::vector<std::string> subscribe = split(cfg.get("autocreate_subscribe_folders"), '|');
  // autocreate_acl "<folder> <identifier> <rights>".
  std::vector<std::string> acl_words = split(cfg.get("autocreate_acl"), ' ');
  if (!acl_words.empty() && acl_words.size() != 3) {
    spdlog::warn("autocreate_acl: expected \"<folder> <identifier> <rights>\", got \"{}\"",
                 cfg.get("autocreate_acl"));
    acl_words.clear();
  }
  for (const std::string& folder : split(cfg.get("autocreate_inbox_folders"), '|')) {
    std::string name = folder_name(cfg, inbox, folder);
    if (name.empty()) {
      spdlog::warn("autocreate: {}: invalid folder name \"{}\"", userid, folder);
      continue;
    }
    auto made = instance.create_mailbox(name);
    if (!made.ok()) {
      spdlog::warn("autocreate: {}: {}: {}", userid, name, made.status().to_string());
      continue;
    }
    for (const std::string& s : subscribe) {
      if (s != folder) continue;
      Status st = instance.set_subscribed(userid, name, true);
      if (!st) spdlog::warn("autocreate: subscribe {} to {}: {}", userid, name, st.to_string());
    }
    std::string use = special_use_of(cfg, folder);
    if (!use.empty()) {
      Status st = instance.set_annotation(name, "/specialuse", userid, use);
      if (!st) spdlog::warn("autocreate: {} special-use {}: {}", name, use, st.to_string());
    }
    if (!acl_words.empty() && acl_words[0] == folder) {
      auto acl = parse_acl(made->acl);
      acl[acl_words[1]] = acl_words[2];
      Status st = instance.set_acl(name, format_acl(acl));
      if (!st) spdlog::warn("autocreate: {} acl: {}", name, st.to_string());
    }
  }
  return Status::success();
}

}  // namespace replimail::store
