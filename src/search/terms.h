// Terms of folded text and the needles of SEARCH, as the index stores and
// queries them. Pure functions over bytes.
//
// The text a SEARCH key scans is folded with mime::search_fold (case folding
// and NFKC), then split into terms: maximal runs of bytes that are not ASCII
// separators (every ASCII byte except letters and digits). UTF-8 sequences
// never contain ASCII bytes, so a term is always valid UTF-8 when the text
// is.
//
// Because SEARCH matches substrings, a folded needle is split the same way
// into runs, each remembering whether a separator precedes it (it must then
// start a term) or follows it (it must end a term). If the folded text
// contains the needle, every run lies inside one term under those
// constraints; when the needle is one run with no separator around it, the
// converse holds too: a term containing the run proves the match.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace replimail::search {

// Terms longer than this are not stored (Xapian limits terms to 245 bytes);
// a document with one gets a marker term instead and is always a candidate.
inline constexpr size_t kMaxTermBytes = 200;

// True for the bytes that separate terms.
bool is_separator(unsigned char c);

// The terms of already folded text, in order (duplicates kept).
std::vector<std::string_view> split_terms(std::string_view folded);

struct NeedleRun {
  std::string text;
  bool starts_term = false;  // a separator precedes it in the needle
  bool ends_term = false;    // a separator follows it in the needle
};

// The runs of an already folded needle; empty if it has none (empty, or
// separators only).
std::vector<NeedleRun> needle_runs(std::string_view folded);

// True if `term` can hold `run` where the needle put it.
bool run_fits(const NeedleRun& run, std::string_view term);

}  // namespace replimail::search
