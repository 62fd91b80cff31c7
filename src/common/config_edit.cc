#include "common/config_edit.h"

#include <vector>

namespace replimail::config_edit {
namespace {

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    if (nl == std::string_view::npos) {
      out.emplace_back(text);
      break;
    }
    out.emplace_back(text.substr(0, nl));
    text.remove_prefix(nl + 1);
  }
  return out;
}

// True if `line` is an option line setting `key` (Config::parse's syntax:
// the key runs up to the first ':').
bool sets(const std::string& line, std::string_view key) {
  size_t i = line.find_first_not_of(" \t");
  if (i == std::string::npos || line[i] == '#') return false;
  size_t colon = line.find(':', i);
  if (colon == std::string::npos) return false;
  std::string_view k(line.data() + i, colon - i);
  while (!k.empty() && (k.back() == ' ' || k.back() == '\t')) k.remove_suffix(1);
  return k == key;
}

bool continues(const std::string& line) { return !line.empty() && line.back() == '\\'; }

// Calls `edit(index)` for the first line of every option line setting
// `key`, and `drop(index)` for each of its continuation lines.
template <typename Edit, typename Drop>
void for_each_setting(std::vector<std::string>& lines, std::string_view key, Edit edit, Drop drop) {
  for (size_t i = 0; i < lines.size(); i++) {
    if (!sets(lines[i], key)) continue;
    bool more = continues(lines[i]);
    edit(i);
    while (more && i + 1 < lines.size()) {
      i++;
      more = continues(lines[i]);
      drop(i);
    }
  }
}

std::string join(const std::vector<std::string>& lines, bool final_newline) {
  std::string out;
  for (size_t i = 0; i < lines.size(); i++) {
    out += lines[i];
    if (i + 1 < lines.size() || final_newline) out += '\n';
  }
  return out;
}

}  // namespace

std::string set_option(std::string_view text, std::string_view key, std::string_view value,
                       std::string_view why) {
  std::vector<std::string> lines = split_lines(text);
  const std::string setting = std::string(key) + ": " + std::string(value);
  std::vector<bool> dropped(lines.size(), false);
  bool found = false;
  for_each_setting(
      lines, key,
      [&](size_t i) {
        lines[i] = setting;
        found = true;
      },
      [&](size_t i) { dropped[i] = true; });
  std::vector<std::string> kept;
  for (size_t i = 0; i < lines.size(); i++)
    if (!dropped[i]) kept.push_back(std::move(lines[i]));
  if (!found) {
    if (!why.empty()) kept.push_back("# " + std::string(why));
    kept.push_back(setting);
  }
  return join(kept, true);
}

std::string remove_option(std::string_view text, std::string_view key, std::string_view why) {
  std::vector<std::string> lines = split_lines(text);
  const std::string prefix = "# " + std::string(why) + ": ";
  auto comment = [&](size_t i) { lines[i] = prefix + lines[i]; };
  for_each_setting(lines, key, comment, comment);
  return join(lines, !text.empty() && text.back() == '\n');
}

}  // namespace replimail::config_edit
