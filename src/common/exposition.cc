#include "common/exposition.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace replimail::exposition {

std::string_view type_name(Type t) {
  switch (t) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kUntyped:
      break;
  }
  return "untyped";
}

bool valid_name(std::string_view name, bool label) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (c == ':' && !label) || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string series(std::string_view name, const Labels& labels) {
  std::string out(name);
  if (labels.empty()) return out;
  out += '{';
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out += ',';
    out += labels[i].first;
    out += "=\"";
    out += escape_label_value(labels[i].second);
    out += '"';
  }
  out += '}';
  return out;
}

std::string_view family_of(std::string_view s) { return s.substr(0, s.find('{')); }

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::trunc(v) && std::fabs(v) < 9.007199254740992e15) {
    return std::to_string(static_cast<long long>(v));
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, ec == std::errc() ? end : buf);
}

namespace {

// HELP text escapes backslash and newline only.
std::string escape_help(std::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string render(const std::vector<Family>& families) {
  std::string out;
  for (const Family& f : families) {
    if (f.samples.empty()) continue;
    if (!f.help.empty()) out += "# HELP " + f.name + " " + escape_help(f.help) + "\n";
    out += "# TYPE " + f.name + " " + std::string(type_name(f.type)) + "\n";
    std::vector<const Sample*> sorted;
    for (const Sample& s : f.samples) sorted.push_back(&s);
    std::sort(sorted.begin(), sorted.end(),
              [](const Sample* a, const Sample* b) { return a->series < b->series; });
    for (const Sample* s : sorted) out += s->series + " " + format_value(s->value) + "\n";
  }
  return out;
}

}  // namespace replimail::exposition
