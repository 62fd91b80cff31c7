// imapd.conf: Cyrus's "key: value" configuration, with Cyrus's option names
// and defaults for the options replimail supports.
//
// parse() is pure (bytes in, Config out) so it can be unit-tested and fuzzed.
// A malformed line, or a bad value for an option replimail reads, is an
// error naming the file and line, as is a refused option (one that cannot
// be ignored without putting mail at risk: config_options.h). An option
// replimail does not implement, Cyrus's or unknown, is kept and reported in
// warnings(), which master logs once at start-up and at each SIGHUP.
// Lines ending in a backslash continue on the next; "@include: file" reads
// another file in place, as Cyrus does.
#pragma once

#include <chrono>
#include <functional>
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

  // Reads the file an "@include" names.
  using IncludeReader = std::function<Result<std::string>(const std::string& path)>;

  // Parses imapd.conf text. `filename` is used in messages only; without
  // `include`, an "@include" line is an error.
  static Result<Config> parse(std::string_view text, std::string_view filename,
                              const IncludeReader& include = nullptr);
  // Reads and parses the file at `path`.
  static Result<Config> load(const std::string& path);

  // The value set in the file, if any (no default applied).
  std::optional<std::string> raw(std::string_view key) const;
  // The value set in the file, else Cyrus's default for a known option,
  // else "".
  std::string get(std::string_view key) const;
  // Switch: 1/yes/on/true/t* are true, 0/no/off/false/f* are false.
  bool get_bool(std::string_view key) const;
  // A number as Cyrus 3.6 reads one (strtol base 0); 0 if unset or bad.
  int64_t get_int(std::string_view key) const;
  // Cyrus duration ("30m", "1h30m", "45s", "2d"); a bare number is in the
  // option's own unit (minutes for `timeout`, seconds for most).
  std::chrono::seconds get_duration(std::string_view key) const;

  // Channel-overridable lookup: "<channel>_<key>" if set, else "<key>".
  // An empty channel means the default (unnamed) channel: plain "<key>".
  std::string channel_get(std::string_view channel, std::string_view key) const;
  std::optional<std::string> channel_raw(std::string_view channel, std::string_view key) const;

  // Frequently used options, spelled out.
  std::string configdirectory() const { return get("configdirectory"); }
  // defaultpartition, or, unset, the partition with the most free space
  // (Cyrus 3.6's partition_select_mode default); "default" without any.
  std::string defaultpartition() const;
  // Directory of partition-<name>; nullopt if that partition is not configured.
  std::optional<std::string> partition_path(std::string_view name) const;
  // Every configured partition name (from partition-* keys), sorted.
  std::vector<std::string> partitions() const;
  // Userids listed in `admins` (space or comma separated).
  std::vector<std::string> admins() const;
  bool is_admin(std::string_view userid) const;

  // Programmatic override (tests, command-line -o style settings).
  void set(std::string key, std::string value) { values_[std::move(key)] = std::move(value); }

  // Warnings produced while parsing (options replimail ignores, duplicates).
  const std::vector<std::string>& warnings() const { return warnings_; }
  const std::string& path() const { return path_; }

 private:
  static Result<std::string> read_file(const std::string& path);
  Status parse_into(std::string_view text, std::string_view filename, const IncludeReader& include,
                    int depth);

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
