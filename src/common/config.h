// imapd.conf: Cyrus's "key: value" configuration, with Cyrus's option names
// and defaults for the options replimail supports.
//
// parse() is pure (bytes in, Config out) so it can be unit-tested and fuzzed.
// A malformed line is an error naming the file and line; an option replimail
// does not know is kept and reported as a warning, never fatal.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace replimail {

class Config {
 public:
  Config() = default;

  // Parses imapd.conf text. `filename` is used in messages only.
  static Result<Config> parse(std::string_view text, std::string_view filename);
  // Reads and parses the file at `path`.
  static Result<Config> load(const std::string& path);

  // The value set in the file, if any (no default applied).
  std::optional<std::string> raw(std::string_view key) const;
  // The value set in the file, else Cyrus's default for a known option,
  // else "".
  std::string get(std::string_view key) const;
  // Switch: 1/yes/on/true/t* are true, 0/no/off/false/f* are false.
  bool get_bool(std::string_view key) const;
  int64_t get_int(std::string_view key) const;
  // Cyrus duration ("30m", "1h30m", "45s", "2d"); a bare number is seconds.
  std::chrono::seconds get_duration(std::string_view key) const;

  // Channel-overridable lookup: "<channel>_<key>" if set, else "<key>".
  // An empty channel means the default (unnamed) channel: plain "<key>".
  std::string channel_get(std::string_view channel, std::string_view key) const;
  std::optional<std::string> channel_raw(std::string_view channel, std::string_view key) const;

  // Frequently used options, spelled out.
  std::string configdirectory() const { return get("configdirectory"); }
  std::string defaultpartition() const { return get("defaultpartition"); }
  // Directory of partition-<name>; nullopt if that partition is not configured.
  std::optional<std::string> partition_path(std::string_view name) const;
  // Every configured partition name (from partition-* keys), sorted.
  std::vector<std::string> partitions() const;
  // Userids listed in `admins` (space or comma separated).
  std::vector<std::string> admins() const;
  bool is_admin(std::string_view userid) const;

  // Programmatic override (tests, command-line -o style settings).
  void set(std::string key, std::string value) { values_[std::move(key)] = std::move(value); }

  // Warnings produced while parsing (unknown options, duplicates).
  const std::vector<std::string>& warnings() const { return warnings_; }
  const std::string& path() const { return path_; }

 private:
  std::map<std::string, std::string, std::less<>> values_;
  std::vector<std::string> warnings_;
  std::string path_;
};

// Parses a Cyrus switch value; nullopt if it is neither true nor false.
std::optional<bool> parse_switch(std::string_view v);
// Parses a Cyrus duration; nullopt on malformed input. `default_unit` is
// applied to a bare number ('s', 'm', 'h' or 'd').
std::optional<std::chrono::seconds> parse_duration(std::string_view v, char default_unit = 's');

}  // namespace replimail
