#include "master/cyrus_conf_edit.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "common/ascii.h"

namespace replimail::master {
namespace {

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    out.emplace_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return out;
}

std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// The line without its comment and surrounding blanks, lower-cased.
std::string bare(const std::string& line) {
  std::string s = line.substr(0, line.find('#'));
  s.erase(0, s.find_first_not_of(" \t\r"));
  s.erase(s.find_last_not_of(" \t\r") + 1);
  return to_lower(s);
}

bool opens_daemon(const std::string& line) {
  std::string s = bare(line);
  if (!s.starts_with("daemon")) return false;
  s.erase(0, 6);
  s.erase(0, s.find_first_not_of(" \t"));
  return s == "{";
}

}  // namespace

std::optional<std::string> rolling_channel(const Entry& e) {
  if (e.argv.empty()) return std::nullopt;
  const std::string& prog = e.argv[0];
  if (prog.substr(prog.rfind('/') + 1) != "sync_client") return std::nullopt;
  bool rolling = false;
  std::string channel;
  for (size_t i = 1; i < e.argv.size(); i++) {
    const std::string& a = e.argv[i];
    if (a.size() < 2 || a[0] != '-' || a[1] == '-') continue;
    // Flags may be grouped (-rv); -n and -C take the rest or the next word.
    for (size_t j = 1; j < a.size(); j++) {
      char f = a[j];
      if (f == 'r' || f == 'R') rolling = true;
      if (f == 'n' || f == 'C' || f == 'S' || f == 'f' || f == 'F' || f == 'p' || f == 'w' ||
          f == 'd' || f == 't') {
        std::string value = j + 1 < a.size() ? a.substr(j + 1) : "";
        if (value.empty() && i + 1 < e.argv.size()) value = e.argv[++i];
        if (f == 'n') channel = value;
        break;
      }
    }
  }
  if (!rolling) return std::nullopt;
  return channel;
}

std::string add_daemon(std::string_view text, std::string_view name, std::string_view cmd) {
  std::vector<std::string> lines = split_lines(text);
  const std::string entry = "  " + std::string(name) + " cmd=\"" + std::string(cmd) + "\"";
  for (size_t i = 0; i < lines.size(); i++) {
    if (!opens_daemon(lines[i])) continue;
    for (size_t j = i + 1; j < lines.size(); j++) {
      if (bare(lines[j]) != "}") continue;
      lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(j), entry);
      return join(lines);
    }
  }
  lines.push_back("DAEMON {");
  lines.push_back(entry);
  lines.push_back("}");
  return join(lines);
}

std::string comment_out_lines(std::string_view text, const std::vector<int>& which,
                              std::string_view why) {
  std::vector<std::string> lines = split_lines(text);
  for (int n : which) {
    if (n < 1 || static_cast<size_t>(n) > lines.size()) continue;
    std::string& line = lines[static_cast<size_t>(n) - 1];
    line = fmt::format("# {}: {}", why, line);
  }
  return join(lines);
}

}  // namespace replimail::master
