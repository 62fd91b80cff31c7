#include "search/terms.h"

namespace replimail::search {

bool is_separator(unsigned char c) {
  if (c >= 0x80) return false;
  return !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
}

std::vector<std::string_view> split_terms(std::string_view folded) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < folded.size()) {
    while (i < folded.size() && is_separator(static_cast<unsigned char>(folded[i]))) ++i;
    size_t start = i;
    while (i < folded.size() && !is_separator(static_cast<unsigned char>(folded[i]))) ++i;
    if (i > start) out.push_back(folded.substr(start, i - start));
  }
  return out;
}

std::vector<NeedleRun> needle_runs(std::string_view folded) {
  std::vector<NeedleRun> out;
  for (std::string_view t : split_terms(folded)) {
    size_t begin = static_cast<size_t>(t.data() - folded.data());
    size_t end = begin + t.size();
    out.push_back({std::string(t), begin > 0, end < folded.size()});
  }
  return out;
}

bool run_fits(const NeedleRun& run, std::string_view term) {
  if (run.starts_term && run.ends_term) return term == run.text;
  if (run.starts_term) return term.starts_with(run.text);
  if (run.ends_term) return term.ends_with(run.text);
  return term.find(run.text) != std::string_view::npos;
}

}  // namespace replimail::search
