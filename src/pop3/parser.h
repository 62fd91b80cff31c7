// POP3 wire syntax (RFC 1939, RFC 2449 CAPA, RFC 5034 AUTH), as pure
// functions over bytes: no sockets, no disk. Every function accepts any
// input without crashing, so they can be fuzzed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace replimail::pop3 {

// Longest command line accepted, without its line ending (RFC 2449 allows
// 255 octets; SASL initial responses need more).
inline constexpr size_t kMaxCommandLine = 8192;

enum class Verb {
  kUser,
  kPass,
  kAuth,
  kStls,
  kCapa,
  kStat,
  kList,
  kRetr,
  kDele,
  kNoop,
  kRset,
  kQuit,
  kTop,
  kUidl,
  kUnknown,
};

// A command line split into its verb (case-insensitive) and arguments.
// `args` are the space-separated words after the verb; `rest` is everything
// after the verb and one space, verbatim (PASS takes a password with
// spaces). Views point into the line given to parse_command.
struct Command {
  Verb verb = Verb::kUnknown;
  std::vector<std::string_view> args;
  std::string_view rest;
};
Command parse_command(std::string_view line);

// A message number or line count: decimal digits only, no sign, fits in
// 32 bits. nullopt otherwise.
std::optional<uint32_t> parse_number(std::string_view s);

// Appends `message` as the body of a multi-line response: every line ends
// in CRLF (a bare LF becomes CRLF), a line starting with '.' gets another
// '.', and ".\r\n" ends it. With `top_lines`, only the header, the blank
// line and that many body lines are sent (TOP).
void append_multiline(std::string& out, std::string_view message,
                      std::optional<uint32_t> top_lines = std::nullopt);

}  // namespace replimail::pop3
