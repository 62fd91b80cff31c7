#include "common/config.h"
#include "common/log.h"

#include <fmt/format.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/ascii.h"
#include "common/config_options.h"

namespace replimail {
namespace {

// Cyrus 3.6 ends an option's value at the first character strtol() does
// not take (base 0: decimal, 0x hex, 0 octal) and refuses anything after it.
std::optional<int64_t> parse_cyrus_int(std::string_view v) {
  std::string s(v);
  if (s.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  long long n = std::strtoll(s.c_str(), &end, 0);
  if (errno != 0 || end == s.c_str() || *end != '\0') return std::nullopt;
  return static_cast<int64_t>(n);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<bool> parse_switch(std::string_view v) {
  // As Cyrus: the first letter decides ("yes", "true", "1", "on" and their
  // prefixes; "no", "false", "0", "off"), case aside.
  std::string s = to_lower(trim(v));
  if (s.empty()) return std::nullopt;
  if (s[0] == '1' || s[0] == 'y' || s[0] == 't' || s.starts_with("on")) return true;
  if (s[0] == '0' || s[0] == 'n' || s[0] == 'f' || s.starts_with("of")) return false;
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

namespace {

// Checks one "key: value" setting against the option table and records
// what the administrator should hear about it.
Status check_setting(const std::string& key, std::string_view value, const std::string& where,
                     std::vector<std::string>* warnings) {
  if (const OptionSpec* o = find_option_spec(key)) {
    bool bad = false;
    switch (o->kind) {
      case OptionKind::kSwitch: bad = !parse_switch(value).has_value(); break;
      case OptionKind::kInt: bad = !parse_cyrus_int(value).has_value(); break;
      case OptionKind::kDuration: bad = !parse_duration(value, o->unit).has_value(); break;
      case OptionKind::kString: break;
    }
    // Cyrus's facility names; an unknown one would silently log nowhere.
    if (key == "syslog_facility" && !syslog_facility_code(value)) {
      return Status(Code::kConfigError,
                    fmt::format("{}: invalid value '{}' for option {} (DAEMON, MAIL, NEWS, USER "
                                "or LOCAL0 to LOCAL7)",
                                where, value, key));
    }
    if (bad) {
      std::string_view what = o->kind == OptionKind::kInt
                                  ? " (a plain number: Cyrus 3.6 takes no K/M suffix)"
                                  : o->kind == OptionKind::kDuration ? " (a duration: 1h30m, 45s)"
                                                                     : "";
      return Status(Code::kConfigError,
                    fmt::format("{}: invalid value '{}' for option {}{}", where, value, key, what));
    }
    return Status::success();
  }
  switch (option_support(key)) {
    case Support::kRefused:
      if (!refused_value_is_harmless(key, value))
        return Status(Code::kConfigError,
                      fmt::format("{}: option {}: '{}' is not supported by replimail, and "
                                  "ignoring it would put mail at risk (see docs/CYRUS-NOTES.md)",
                                  where, key, value));
      break;
    case Support::kIgnored:
      warnings->push_back(fmt::format(
          "{}: option '{}' is a Cyrus option replimail does not implement; ignored", where, key));
      break;
    case Support::kUnknown:
      warnings->push_back(fmt::format("{}: unknown option '{}'; ignored", where, key));
      break;
    case Support::kSame:
    case Support::kDifferent: break;
  }
  return Status::success();
}

}  // namespace

Result<Config> Config::parse(std::string_view text, std::string_view filename,
                             const IncludeReader& include) {
  Config cfg;
  cfg.path_ = std::string(filename);
  if (Status s = cfg.parse_into(text, filename, include, 0); !s) return s;
  return cfg;
}

Status Config::parse_into(std::string_view text, std::string_view filename,
                          const IncludeReader& include, int depth) {
  size_t lineno = 0;
  std::string joined;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++lineno;
    if (line.find('\0') != std::string_view::npos)
      return Status(Code::kConfigError, fmt::format("{}:{}: NUL byte in line", filename, lineno));
    // A backslash ending a line joins the next one to it, nothing inserted.
    if (!line.empty() && line.back() == '\\' && !text.empty()) {
      joined.append(line.substr(0, line.size() - 1));
      continue;
    }
    if (!joined.empty()) {
      joined.append(line);
      line = joined;
    }
    std::string where = fmt::format("{}:{}", filename, lineno);
    std::string_view t = trim(line);
    if (t.empty() || t.front() == '#') {
      joined.clear();
      continue;
    }
    size_t colon = t.find(':');
    if (colon == std::string_view::npos)
      return Status(Code::kConfigError,
                    fmt::format("{}: expected 'option: value', got '{}'", where, t));
    std::string key = to_lower(trim(t.substr(0, colon)));
    std::string value(trim(t.substr(colon + 1)));
    joined.clear();
    if (key.empty())
      return Status(Code::kConfigError, fmt::format("{}: empty option name", where));
    for (size_t i = 0; i < key.size(); ++i) {
      char c = key[i];
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
            (c == '@' && i == 0)))
        return Status(Code::kConfigError,
                      fmt::format("{}: invalid option name '{}'", where, key));
    }
    if (key.front() == '@') {
      if (key != "@include")
        return Status(Code::kConfigError, fmt::format("{}: unknown directive '{}'", where, key));
      if (depth >= 8 || !include)
        return Status(Code::kConfigError,
                      fmt::format("{}: @include {}: {}", where, value,
                                  include ? "nested too deep" : "not allowed here"));
      auto text_of = include(value);
      if (!text_of.ok())
        return Status(Code::kConfigError,
                      fmt::format("{}: @include: {}", where, text_of.status().message()));
      if (Status s = parse_into(*text_of, value, include, depth + 1); !s) return s;
      continue;
    }
    if (Status s = check_setting(key, value, where, &warnings_); !s) return s;
    if (values_.count(key))
      warnings_.push_back(
          fmt::format("{}: option '{}' set again; the last value wins", where, key));
    values_[key] = std::move(value);
  }
  return Status::success();
}

Result<std::string> Config::read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(Code::kConfigError, fmt::format("{}: cannot open", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<Config> Config::load(const std::string& path) {
  auto text = read_file(path);
  if (!text.ok()) return text.status();
  return parse(*text, path, read_file);
}

std::optional<std::string> Config::raw(std::string_view key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Config::get(std::string_view key) const {
  if (auto v = raw(key)) return *v;
  if (const OptionSpec* o = find_option_spec(key)) return std::string(o->def);
  return "";
}

bool Config::get_bool(std::string_view key) const {
  return parse_switch(get(key)).value_or(false);
}

int64_t Config::get_int(std::string_view key) const {
  return parse_cyrus_int(trim(get(key))).value_or(0);
}

std::chrono::seconds Config::get_duration(std::string_view key) const {
  const OptionSpec* o = find_option_spec(key);
  return parse_duration(get(key), o != nullptr ? o->unit : 's').value_or(std::chrono::seconds(0));
}

std::string Config::defaultpartition() const {
  if (auto v = raw("defaultpartition"); v && !v->empty()) return *v;
  // Cyrus 3.6 without defaultpartition: the partition with the most free
  // space (partition_select_mode: freespace-most).
  std::string best;
  unsigned long long best_free = 0;
  for (const std::string& name : partitions()) {
    struct statvfs vfs {};
    unsigned long long free = 0;
    if (::statvfs(partition_path(name)->c_str(), &vfs) == 0)
      free = static_cast<unsigned long long>(vfs.f_bavail) * vfs.f_frsize;
    if (best.empty() || free > best_free) {
      best = name;
      best_free = free;
    }
  }
  return best.empty() ? "default" : best;
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
