#include "common/config.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace replimail {
namespace {

enum class Kind { kString, kSwitch, kInt, kDuration };

struct Option {
  std::string_view name;
  Kind kind;
  std::string_view def;
};

// The options replimail understands, with Cyrus 3.6's defaults.
constexpr Option kOptions[] = {
    {"configdirectory", Kind::kString, ""},
    {"defaultpartition", Kind::kString, "default"},
    {"admins", Kind::kString, ""},
    {"servername", Kind::kString, ""},
    {"defaultdomain", Kind::kString, ""},
    {"virtdomains", Kind::kString, "off"},
    {"altnamespace", Kind::kSwitch, "1"},
    {"unixhierarchysep", Kind::kSwitch, "1"},
    {"allowplaintext", Kind::kSwitch, "0"},
    {"autocreate_post", Kind::kSwitch, "0"},
    {"autocreate_quota", Kind::kInt, "-1"},
    {"autocreate_quota_messages", Kind::kInt, "-1"},
    {"autocreate_inbox_folders", Kind::kString, ""},
    {"autocreate_subscribe_folders", Kind::kString, ""},
    {"autocreate_users", Kind::kString, "anyone"},
    {"autocreate_acl", Kind::kString, ""},
    {"lmtp_downcase_rcpt", Kind::kSwitch, "1"},
    {"lmtp_fuzzy_mailbox_match", Kind::kSwitch, "0"},
    {"lmtp_over_quota_perm_failure", Kind::kSwitch, "0"},
    {"lmtp_strict_quota", Kind::kSwitch, "0"},
    {"lmtp_strict_rfc2821", Kind::kSwitch, "1"},
    {"maxmessagesize", Kind::kInt, "0"},
    {"quotawarn", Kind::kInt, "90"},
    {"quota_db", Kind::kString, "quotalegacy"},
    {"sasl_pwcheck_method", Kind::kString, "auxprop"},
    {"sasl_mech_list", Kind::kString, ""},
    {"sasl_auxprop_plugin", Kind::kString, "sasldb"},
    {"sasl_sasldb_path", Kind::kString, ""},
    {"sasl_minimum_layer", Kind::kInt, "0"},
    {"sasl_maximum_layer", Kind::kInt, "256"},
    {"sync_log", Kind::kSwitch, "0"},
    {"sync_log_channels", Kind::kString, ""},
    {"sync_log_chain", Kind::kSwitch, "0"},
    {"sync_log_unsuppressable_channels", Kind::kString, "squatter"},
    {"sync_host", Kind::kString, ""},
    {"sync_port", Kind::kString, ""},
    {"sync_try_imap", Kind::kSwitch, "1"},
    {"sync_authname", Kind::kString, ""},
    {"sync_password", Kind::kString, ""},
    {"sync_realm", Kind::kString, ""},
    {"sync_repeat_interval", Kind::kDuration, "1s"},
    {"sync_shutdown_file", Kind::kString, ""},
    {"sync_timeout", Kind::kDuration, "30m"},
    // replimail's: a replication peer silent this long in an exchange is
    // taken for dead and the connection made again.
    {"sync_peer_timeout", Kind::kDuration, "20s"},
    {"sync_batchsize", Kind::kInt, "8192"},
    {"sync_reconnect_maxwait", Kind::kDuration, "20m"},
    {"sync_cache_db", Kind::kString, "twoskip"},
    {"sync_cache_db_path", Kind::kString, ""},
    {"sync_rightnow_channel", Kind::kString, ""},
    {"delete_mode", Kind::kString, "delayed"},
    {"expunge_mode", Kind::kString, "delayed"},
    {"deletedprefix", Kind::kString, "DELETED"},
    {"tls_server_cert", Kind::kString, ""},
    {"tls_server_key", Kind::kString, ""},
    {"tls_client_ca_file", Kind::kString, ""},
    {"tls_client_cert", Kind::kString, ""},
    {"tls_client_key", Kind::kString, ""},
    {"client_timeout", Kind::kDuration, "10s"},
    {"timeout", Kind::kInt, "32"},
    {"popminpoll", Kind::kInt, "0"},
    {"poptimeout", Kind::kInt, "10"},
    {"postmaster", Kind::kString, "postmaster"},
    {"hashimapspool", Kind::kSwitch, "0"},
    {"fulldirhash", Kind::kSwitch, "0"},
    {"search_engine", Kind::kString, "none"},
    {"search_index_headers", Kind::kSwitch, "1"},
    // replimail: the Xapian stemmer squatter and SEARCH use (not a Cyrus option).
    {"search_stem_language", Kind::kString, "english"},
    {"syslog_prefix", Kind::kString, ""},
    {"lmtpsocket", Kind::kString, ""},
    {"idlesocket", Kind::kString, ""},
    {"notifysocket", Kind::kString, ""},
    {"failedloginpause", Kind::kDuration, "3s"},
    {"duplicatesuppression", Kind::kSwitch, "1"},
    {"singleinstancestore", Kind::kSwitch, "1"},
    {"imapidresponse", Kind::kSwitch, "1"},
    {"imap_inlined_literal_limit", Kind::kInt, "0"},
    {"maxword", Kind::kInt, "131072"},
    {"maxquoted", Kind::kInt, "131072"},
    {"maxliteral", Kind::kInt, "131072"},
    {"maxargssize", Kind::kInt, "0"},
    {"reverseacls", Kind::kSwitch, "0"},
    {"conversations", Kind::kSwitch, "0"},
    {"sievedir", Kind::kString, ""},
    {"debug", Kind::kSwitch, "0"},
};

const Option* find_option(std::string_view key) {
  for (const auto& o : kOptions)
    if (o.name == key) return &o;
  return nullptr;
}

// Keys whose name is a family rather than a fixed word.
bool is_family_key(std::string_view key) {
  auto starts = [&](std::string_view p) { return key.substr(0, p.size()) == p; };
  auto ends = [&](std::string_view s) {
    return key.size() >= s.size() && key.substr(key.size() - s.size()) == s;
  };
  if (starts("partition-") || starts("metapartition-") || starts("archivepartition-") ||
      starts("searchpartition-") || starts("xlist-"))
    return true;
  // <channel>_sync_*, <shorthost>_mechs, <service>_<option> overrides.
  for (const auto& o : kOptions)
    if (key.size() > o.name.size() + 1 && ends(o.name) &&
        key[key.size() - o.name.size() - 1] == '_')
      return true;
  return ends("_mechs") || ends("_client_cert") || ends("_client_key");
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::optional<bool> parse_switch(std::string_view v) {
  std::string s = lower(trim(v));
  if (s.empty()) return std::nullopt;
  if (s == "1" || s == "on" || s[0] == 'y' || s[0] == 't') return true;
  if (s == "0" || s == "off" || s[0] == 'n' || s[0] == 'f') return false;
  return std::nullopt;
}

std::optional<std::chrono::seconds> parse_duration(std::string_view v, char default_unit) {
  v = trim(v);
  if (v.empty()) return std::nullopt;
  bool negative = false;
  if (v.front() == '-') {
    negative = true;
    v.remove_prefix(1);
  }
  int64_t total = 0;
  size_t i = 0;
  bool any = false;
  while (i < v.size()) {
    if (!std::isdigit(static_cast<unsigned char>(v[i]))) return std::nullopt;
    int64_t n = 0;
    while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) {
      n = n * 10 + (v[i] - '0');
      if (n > (int64_t{1} << 40)) return std::nullopt;
      ++i;
    }
    char unit = i < v.size() ? static_cast<char>(std::tolower(static_cast<unsigned char>(v[i])))
                             : default_unit;
    if (i < v.size()) ++i;
    switch (unit) {
      case 's': total += n; break;
      case 'm': total += n * 60; break;
      case 'h': total += n * 3600; break;
      case 'd': total += n * 86400; break;
      default: return std::nullopt;
    }
    any = true;
  }
  if (!any) return std::nullopt;
  return std::chrono::seconds(negative ? -total : total);
}

Result<Config> Config::parse(std::string_view text, std::string_view filename) {
  Config cfg;
  cfg.path_ = std::string(filename);
  size_t lineno = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++lineno;
    if (line.find('\0') != std::string_view::npos)
      return Status(Code::kConfigError, fmt::format("{}:{}: NUL byte in line", filename, lineno));
    std::string_view t = trim(line);
    if (t.empty() || t.front() == '#') continue;
    size_t colon = t.find(':');
    if (colon == std::string_view::npos)
      return Status(Code::kConfigError,
                    fmt::format("{}:{}: expected 'option: value', got '{}'", filename, lineno, t));
    std::string key = lower(trim(t.substr(0, colon)));
    std::string_view value = trim(t.substr(colon + 1));
    if (key.empty())
      return Status(Code::kConfigError, fmt::format("{}:{}: empty option name", filename, lineno));
    for (char c : key) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'))
        return Status(Code::kConfigError,
                      fmt::format("{}:{}: invalid option name '{}'", filename, lineno, key));
    }
    const Option* opt = find_option(key);
    if (opt) {
      bool bad = false;
      switch (opt->kind) {
        case Kind::kSwitch: bad = !parse_switch(value).has_value(); break;
        case Kind::kInt: {
          std::string_view digits = value;
          if (!digits.empty() && digits.front() == '-') digits.remove_prefix(1);
          bad = digits.empty() || !std::all_of(digits.begin(), digits.end(), [](char c) {
            return std::isdigit(static_cast<unsigned char>(c));
          });
          break;
        }
        case Kind::kDuration: bad = !parse_duration(value).has_value(); break;
        case Kind::kString: break;
      }
      if (bad)
        return Status(Code::kConfigError, fmt::format("{}:{}: invalid value '{}' for option {}",
                                                      filename, lineno, value, key));
    } else if (!is_family_key(key)) {
      cfg.warnings_.push_back(fmt::format("{}:{}: unknown option '{}'", filename, lineno, key));
    }
    if (cfg.values_.count(key))
      cfg.warnings_.push_back(
          fmt::format("{}:{}: option '{}' set again; the last value wins", filename, lineno, key));
    cfg.values_[key] = std::string(value);
  }
  return cfg;
}

Result<Config> Config::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(Code::kConfigError, fmt::format("{}: cannot open", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path);
}

std::optional<std::string> Config::raw(std::string_view key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Config::get(std::string_view key) const {
  if (auto v = raw(key)) return *v;
  if (const Option* o = find_option(key)) return std::string(o->def);
  return "";
}

bool Config::get_bool(std::string_view key) const {
  return parse_switch(get(key)).value_or(false);
}

int64_t Config::get_int(std::string_view key) const {
  std::string v = get(key);
  if (v.empty()) return 0;
  try {
    return std::stoll(v);
  } catch (...) {
    return 0;
  }
}

std::chrono::seconds Config::get_duration(std::string_view key) const {
  return parse_duration(get(key)).value_or(std::chrono::seconds(0));
}

std::optional<std::string> Config::channel_raw(std::string_view channel,
                                               std::string_view key) const {
  if (!channel.empty()) {
    if (auto v = raw(fmt::format("{}_{}", channel, key))) return v;
  }
  return raw(key);
}

std::string Config::channel_get(std::string_view channel, std::string_view key) const {
  if (auto v = channel_raw(channel, key)) return *v;
  return get(key);
}

std::optional<std::string> Config::partition_path(std::string_view name) const {
  return raw(fmt::format("partition-{}", name));
}

std::vector<std::string> Config::partitions() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : values_)
    if (k.rfind("partition-", 0) == 0) out.push_back(k.substr(10));
  return out;
}

std::vector<std::string> Config::admins() const {
  std::vector<std::string> out;
  std::string cur;
  for (char c : get("admins")) {
    if (c == ' ' || c == ',' || c == '\t') {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

bool Config::is_admin(std::string_view userid) const {
  for (const auto& a : admins())
    if (a == userid) return true;
  return false;
}

}  // namespace replimail
