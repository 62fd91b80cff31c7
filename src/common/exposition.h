// Prometheus's text exposition format (version 0.0.4), pure: series names
// with escaped labels, and families rendered as the lines a scrape reads.
//
//   # HELP replimail_deliveries_total Messages lmtpd delivered, per recipient.
//   # TYPE replimail_deliveries_total counter
//   replimail_deliveries_total{service="lmtp"} 5
//
// Names must match [a-zA-Z_:][a-zA-Z0-9_:]* (labels: no colon); label values
// are any UTF-8, escaped (\\, \", \n); HELP text escapes \\ and \n.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace replimail::exposition {

using Labels = std::vector<std::pair<std::string, std::string>>;

enum class Type { kCounter, kGauge, kUntyped };
std::string_view type_name(Type t);  // "counter", "gauge", "untyped"

// True if `name` is a valid metric name (a label name when `label`).
bool valid_name(std::string_view name, bool label = false);

// A label value with \, " and newline escaped.
std::string escape_label_value(std::string_view value);

// `name{k="v",...}` (just `name` without labels), labels in the order given.
// REQUIRES: valid_name(name) and every label name valid.
std::string series(std::string_view name, const Labels& labels);

// The family a series belongs to: its text up to '{'.
std::string_view family_of(std::string_view series);

// A sample value as the format writes it: integers without a fraction
// ("5", "-1"), others in the shortest form that reads back exactly, "NaN",
// "+Inf", "-Inf".
std::string format_value(double v);

struct Sample {
  std::string series;  // from series()
  double value = 0;
};

struct Family {
  std::string name;
  std::string help;  // "" writes no HELP line
  Type type = Type::kUntyped;
  std::vector<Sample> samples;
};

// Families in the order given, each as HELP, TYPE and its samples (sorted
// by series so that a scrape reads the same order every time); a family
// without samples writes nothing. Ends with a newline.
std::string render(const std::vector<Family>& families);

}  // namespace replimail::exposition
