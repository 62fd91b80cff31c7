// The imapd.conf options of Cyrus 3.6 and what replimail does with each:
// the table behind Config's defaults, value checks and start-up warnings,
// and behind the option list of docs/CYRUS-NOTES.md (a unit test keeps the
// two in agreement).
#pragma once

#include <span>
#include <string_view>

namespace replimail {

enum class OptionKind {
  kString,
  kSwitch,    // 1/yes/on/true, 0/no/off/false (Cyrus looks at the first letter)
  kInt,       // C's strtol base 0, as Cyrus 3.6: "0x1f" and octal "017" too;
              // no K/M suffix (Cyrus 3.6 refuses one: sizes are plain numbers)
  kDuration,  // "1h30m"; a bare number is in the option's own unit
};

// How replimail treats an option (the status column of CYRUS-NOTES.md).
enum class Support {
  kSame,       // read, with Cyrus 3.6's meaning, default and units
  kDifferent,  // read, but not all of Cyrus's meaning (the notes say what)
  kIgnored,    // a Cyrus option replimail does not implement: warned when set
  kRefused,    // set to anything but its harmless value, start-up fails:
               // ignoring it would put mail or its privacy at risk
  kUnknown,    // neither Cyrus 3.6's nor replimail's: warned when set
};

struct OptionSpec {
  std::string_view name;
  OptionKind kind;
  std::string_view def;  // Cyrus 3.6's default ("" for <none>)
  Support support;       // kSame or kDifferent
  char unit = 's';       // kDuration: the unit of a bare number
};

// The options replimail reads (the one table).
std::span<const OptionSpec> option_specs();
// The options replimail reads, or nullptr.
const OptionSpec* find_option_spec(std::string_view name);

// Every option imapd.conf(5) of Cyrus 3.6 documents (families spelt as there:
// "partition-name"), generated from the man page (tools/cyrus36_options.sh).
std::span<const std::string_view> cyrus36_options();

// What replimail does with the option `name` as written in imapd.conf:
// a family member ("partition-default") is classified as its family, a
// channel's override of a sync option ("replica_sync_host") as the option.
Support option_support(std::string_view name);

// Refused options accept one value that means what replimail does
// ("virtdomains: off"); true if `value` is that value.
bool refused_value_is_harmless(std::string_view name, std::string_view value);

// "same", "different", "ignored", "refused", "unknown".
std::string_view support_name(Support s);

}  // namespace replimail
