// Edits of imapd.conf text that keep everything else as the operator wrote
// it (comments, order, other options): what cyr_promote changes when it
// turns a replica into a primary, or an old primary into a replica. Pure:
// text in, text out; the caller validates the result with Config::parse
// and writes it with fs::write_file_atomic.
#pragma once

#include <string>
#include <string_view>

namespace replimail::config_edit {

// `text` with every line that sets `key` (a "key: value" line, leading
// blanks allowed, with its backslash continuation lines) replaced by
// "key: value"; if no line sets it, "key: value" is appended at the end,
// after the comment line "# <why>" when `why` is not empty.
std::string set_option(std::string_view text, std::string_view key, std::string_view value,
                       std::string_view why = "");

// `text` with every line that sets `key` (and its continuation lines)
// turned into a comment: "# <why>: <the line>".
std::string remove_option(std::string_view text, std::string_view key, std::string_view why);

}  // namespace replimail::config_edit
