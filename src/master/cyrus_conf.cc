#include "master/cyrus_conf.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>

#include "common/ascii.h"
#include "common/config.h"
#include "common/fs.h"

namespace replimail::master {
namespace {

enum class Section { kNone, kStart, kServices, kEvents, kDaemon, kUnknown };

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }
bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Parses one entry line and checks it against its section's keys.
class EntryParser {
 public:
  EntryParser(std::string_view filename, int line) : filename_(filename), line_(line) {}

  Status error(std::string_view what) const {
    return Status(Code::kConfigError, fmt::format("{}:{}: {}", filename_, line_, what));
  }

  // Splits `text` into the entry name and its key=value pairs.
  Status tokenize(std::string_view text) {
    size_t i = 0;
    while (i < text.size() && !is_space(text[i])) ++i;
    name_ = std::string(text.substr(0, i));
    if (!std::all_of(name_.begin(), name_.end(), is_alnum))
      return error(fmt::format("entry name '{}' must be alphanumeric", name_));
    for (;;) {
      while (i < text.size() && is_space(text[i])) ++i;
      if (i == text.size()) return Status::success();
      size_t k = i;
      while (i < text.size() && is_alnum(text[i])) ++i;
      std::string key(text.substr(k, i - k));
      if (key.empty() || i == text.size() || text[i] != '=')
        return error(fmt::format("entry '{}': expected key=value at '{}'", name_, text.substr(k)));
      ++i;
      std::string value;
      if (i < text.size() && text[i] == '"') {
        size_t close = text.find('"', i + 1);
        if (close == std::string_view::npos)
          return error(fmt::format("entry '{}': unterminated quote in {}=", name_, key));
        value = std::string(text.substr(i + 1, close - i - 1));
        i = close + 1;
        if (i < text.size() && !is_space(text[i]))
          return error(fmt::format("entry '{}': text after closing quote of {}=", name_, key));
      } else {
        size_t v = i;
        while (i < text.size() && !is_space(text[i])) ++i;
        value = std::string(text.substr(v, i - v));
        if (value.empty()) return error(fmt::format("entry '{}': empty value for {}=", name_, key));
      }
      if (!values_.emplace(to_lower(key), std::move(value)).second)
        return error(fmt::format("entry '{}': {}= given twice", name_, key));
    }
  }

  // Fails on keys outside `known`; `ignored` keys are accepted silently.
  Status check_keys(std::initializer_list<std::string_view> known,
                    std::initializer_list<std::string_view> ignored,
                    std::vector<std::string>* warnings) const {
    for (const auto& [key, value] : values_) {
      if (std::find(known.begin(), known.end(), key) != known.end()) continue;
      if (std::find(ignored.begin(), ignored.end(), key) != ignored.end()) {
        warnings->push_back(fmt::format("{}:{}: entry '{}': {}= is not supported, ignored",
                                        filename_, line_, name_, key));
        continue;
      }
      return error(fmt::format("entry '{}': unknown key {}=", name_, key));
    }
    return Status::success();
  }

  // Fills the common part: name and cmd (required, split on whitespace).
  Status fill_entry(Entry* e) const {
    e->name = name_;
    e->line = line_;
    auto it = values_.find("cmd");
    if (it == values_.end()) return error(fmt::format("entry '{}': missing cmd=", name_));
    std::string_view cmd = it->second;
    size_t i = 0;
    while (i < cmd.size()) {
      while (i < cmd.size() && is_space(cmd[i])) ++i;
      size_t start = i;
      while (i < cmd.size() && !is_space(cmd[i])) ++i;
      if (i > start) e->argv.emplace_back(cmd.substr(start, i - start));
    }
    if (e->argv.empty()) return error(fmt::format("entry '{}': empty cmd=", name_));
    return Status::success();
  }

  const std::string* get(std::string_view key) const {
    auto it = values_.find(std::string(key));
    return it == values_.end() ? nullptr : &it->second;
  }

  Status get_int(std::string_view key, int min, int max, int* out) const {
    const std::string* v = get(key);
    if (!v) return Status::success();
    int n = 0;
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc() || end != v->data() + v->size() || n < min || n > max)
      return error(
          fmt::format("entry '{}': {}={} is not a number in [{}, {}]", name_, key, *v, min, max));
    *out = n;
    return Status::success();
  }

  Status get_switch(std::string_view key, bool* out) const {
    const std::string* v = get(key);
    if (!v) return Status::success();
    auto b = parse_switch(*v);
    if (!b) return error(fmt::format("entry '{}': {}={} is not a switch", name_, key, *v));
    *out = *b;
    return Status::success();
  }

  const std::string& name() const { return name_; }
  std::string_view filename() const { return filename_; }
  int line() const { return line_; }

 private:
  std::string_view filename_;
  int line_;
  std::string name_;
  std::map<std::string, std::string> values_;
};

constexpr int kMaxInt = 1 << 30;

Status parse_start(const EntryParser& p, CyrusConf* conf) {
  if (Status s = p.check_keys({"cmd"}, {}, &conf->warnings); !s) return s;
  StartEntry e;
  if (Status s = p.fill_entry(&e); !s) return s;
  conf->start.push_back(std::move(e));
  return Status::success();
}

Status parse_service(const EntryParser& p, CyrusConf* conf) {
  if (Status s =
          p.check_keys({"cmd", "listen", "proto", "prefork", "maxchild", "maxforkrate", "babysit"},
                       {"maxfds"}, &conf->warnings);
      !s)
    return s;
  ServiceEntry e;
  if (Status s = p.fill_entry(&e); !s) return s;
  const std::string* listen = p.get("listen");
  if (!listen) return p.error(fmt::format("service '{}': missing listen=", e.name));
  e.listen = *listen;
  if (const std::string* proto = p.get("proto")) e.proto = to_lower(*proto);
  auto addr = net::parse_listen(e.listen, e.proto);
  if (!addr) return p.error(fmt::format("service '{}': {}", e.name, addr.status().message()));
  e.address = *addr;
  bool forkrate_set = p.get("maxforkrate") != nullptr;
  if (Status s = p.get_int("prefork", 0, kMaxInt, &e.prefork); !s) return s;
  if (Status s = p.get_int("maxchild", -1, kMaxInt, &e.maxchild); !s) return s;
  if (Status s = p.get_int("maxforkrate", 0, kMaxInt, &e.maxforkrate); !s) return s;
  if (Status s = p.get_switch("babysit", &e.babysit); !s) return s;
  if (e.babysit) {
    // As Cyrus: a babysat service always has a worker waiting, and its
    // respawning is rate-limited.
    e.prefork = std::max(e.prefork, 1);
    if (!forkrate_set) e.maxforkrate = 10;
  }
  if (e.maxchild >= 0 && e.prefork > e.maxchild) {
    conf->warnings.push_back(fmt::format("{}:{}: service '{}': prefork={} lowered to maxchild={}",
                                         p.filename(), p.line(), e.name, e.prefork, e.maxchild));
    e.prefork = e.maxchild;
  }
  conf->services.push_back(std::move(e));
  return Status::success();
}

Status parse_event(const EntryParser& p, CyrusConf* conf) {
  if (Status s = p.check_keys({"cmd", "period", "at"}, {}, &conf->warnings); !s) return s;
  EventEntry e;
  if (Status s = p.fill_entry(&e); !s) return s;
  if (Status s = p.get_int("period", 0, kMaxInt, &e.period_minutes); !s) return s;
  if (p.get("at")) {
    int at = -1;
    if (Status s = p.get_int("at", 0, 2359, &at); !s) return s;
    if (at % 100 > 59)
      return p.error(fmt::format("event '{}': at={} is not a HHMM time", e.name, at));
    e.at = at;
  }
  conf->events.push_back(std::move(e));
  return Status::success();
}

Status parse_daemon(const EntryParser& p, CyrusConf* conf) {
  if (Status s = p.check_keys({"cmd", "wait", "maxforkrate"}, {"maxfds"}, &conf->warnings); !s)
    return s;
  DaemonEntry e;
  if (Status s = p.fill_entry(&e); !s) return s;
  if (Status s = p.get_switch("wait", &e.wait); !s) return s;
  if (Status s = p.get_int("maxforkrate", 0, kMaxInt, &e.maxforkrate); !s) return s;
  conf->daemons.push_back(std::move(e));
  return Status::success();
}

template <typename T>
bool has_name(const std::vector<T>& v, const std::string& name) {
  return std::any_of(v.begin(), v.end(), [&](const T& e) { return e.name == name; });
}

Status line_error(std::string_view filename, int lineno, std::string_view what) {
  return Status(Code::kConfigError, fmt::format("{}:{}: {}", filename, lineno, what));
}

// The section a "NAME {" line opens; an unknown one is ignored with a
// warning (kUnknown).
Result<Section> section_header(std::string_view line, std::string_view filename, int lineno,
                               std::vector<std::string>* warnings) {
  if (line.back() != '{')
    return line_error(filename, lineno, fmt::format("expected 'SECTION {{', got '{}'", line));
  std::string_view word = trim(line.substr(0, line.size() - 1));
  if (word.empty() || !std::all_of(word.begin(), word.end(), is_alnum))
    return line_error(filename, lineno, fmt::format("bad section header '{}'", line));
  std::string name = to_upper(word);
  if (name == "START") return Section::kStart;
  if (name == "SERVICES") return Section::kServices;
  if (name == "EVENTS") return Section::kEvents;
  if (name == "DAEMON") return Section::kDaemon;
  warnings->push_back(fmt::format("{}:{}: unknown section '{}' ignored", filename, lineno, word));
  return Section::kUnknown;
}

// One entry line of a known section, added to *conf (its name unique
// within the section).
Status add_entry(Section section, std::string_view line, std::string_view filename, int lineno,
                 CyrusConf* conf) {
  EntryParser p(filename, lineno);
  if (Status s = p.tokenize(line); !s) return s;
  Status s;
  bool dup = false;
  switch (section) {
    case Section::kStart:
      dup = has_name(conf->start, p.name());
      s = parse_start(p, conf);
      break;
    case Section::kServices:
      dup = has_name(conf->services, p.name());
      s = parse_service(p, conf);
      break;
    case Section::kEvents:
      dup = has_name(conf->events, p.name());
      s = parse_event(p, conf);
      break;
    case Section::kDaemon:
      dup = has_name(conf->daemons, p.name());
      s = parse_daemon(p, conf);
      break;
    case Section::kNone:
    case Section::kUnknown:
      break;
  }
  if (dup) return line_error(filename, lineno, fmt::format("duplicate entry name '{}'", p.name()));
  return s;
}

}  // namespace

Result<CyrusConf> parse_cyrus_conf(std::string_view text, std::string_view filename) {
  CyrusConf conf;
  conf.filename = std::string(filename);
  Section section = Section::kNone;
  int open_line = 0;
  int lineno = 0;
  while (!text.empty()) {
    ++lineno;
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) continue;
    if (section == Section::kNone) {
      auto opened = section_header(line, filename, lineno, &conf.warnings);
      if (!opened.ok()) return opened.status();
      section = *opened;
      open_line = lineno;
      continue;
    }
    if (line == "}") {
      section = Section::kNone;
      continue;
    }
    if (line.find('{') != std::string_view::npos && line.find('=') == std::string_view::npos)
      return line_error(filename, lineno,
                        fmt::format("section opened at line {} is not closed", open_line));
    if (section == Section::kUnknown) continue;
    if (Status s = add_entry(section, line, filename, lineno, &conf); !s) return s;
  }
  if (section != Section::kNone)
    return Status(Code::kConfigError,
                  fmt::format("{}:{}: section opened here is not closed", filename, open_line));
  return conf;
}

Result<CyrusConf> load_cyrus_conf(const std::string& path) {
  auto text = fs::read_file(path);
  if (!text)
    return Status(Code::kConfigError,
                  fmt::format("cannot read {}: {}", path, text.status().message()));
  return parse_cyrus_conf(*text, path);
}

namespace {

Status resolve_one(Entry* e, const std::string& bin_dir, const std::string& filename) {
  std::string& prog = e->argv[0];
  if (prog.find('/') == std::string::npos) prog = bin_dir + "/" + prog;
  struct stat st;
  if (::stat(prog.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || ::access(prog.c_str(), X_OK) != 0)
    return Status(Code::kConfigError, fmt::format("{}:{}: entry '{}': {} is not an executable file",
                                                  filename, e->line, e->name, prog));
  return Status::success();
}

}  // namespace

Status resolve_commands(CyrusConf* conf, const std::string& bin_dir) {
  for (auto& e : conf->start)
    if (Status s = resolve_one(&e, bin_dir, conf->filename); !s) return s;
  for (auto& e : conf->services)
    if (Status s = resolve_one(&e, bin_dir, conf->filename); !s) return s;
  for (auto& e : conf->events)
    if (Status s = resolve_one(&e, bin_dir, conf->filename); !s) return s;
  for (auto& e : conf->daemons)
    if (Status s = resolve_one(&e, bin_dir, conf->filename); !s) return s;
  return Status::success();
}

Result<std::string> self_exe_dir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return Status(Code::kIoError, "readlink /proc/self/exe failed");
  return fs::dirname(std::string(buf, static_cast<size_t>(n)));
}

}  // namespace replimail::master
