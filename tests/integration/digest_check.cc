#include "digest_check.h"

#include <algorithm>
#include <iterator>

namespace replimail::testing {

Digest digest_of(const Instance& inst, const std::vector<std::string>& args) {
  Digest d;
  RunResult r = inst.tool("cyr_digest", args);
  if (!r.ok()) {
    d.error = "cyr_digest on " + inst.state_dir() + ": " + r.describe();
    return d;
  }
  d.lines = lines_of(r.out);
  if (d.lines.empty() || !d.lines.back().starts_with("hash "))
    d.error = "cyr_digest on " + inst.state_dir() + " printed no hash line:\n" + r.out;
  return d;
}

::testing::AssertionResult same_digest(const Instance& primary, const Instance& replica,
                                       const std::vector<std::string>& args) {
  Digest p = digest_of(primary, args);
  if (!p.error.empty()) return ::testing::AssertionFailure() << p.error;
  Digest r = digest_of(replica, args);
  if (!r.error.empty()) return ::testing::AssertionFailure() << r.error;
  if (p.lines == r.lines) return ::testing::AssertionSuccess();
  // Both are sorted (the hash line last): set differences give the diff.
  std::vector<std::string> ps(p.lines.begin(), p.lines.end() - 1);
  std::vector<std::string> rs(r.lines.begin(), r.lines.end() - 1);
  std::vector<std::string> only_p, only_r;
  std::set_difference(ps.begin(), ps.end(), rs.begin(), rs.end(), std::back_inserter(only_p));
  std::set_difference(rs.begin(), rs.end(), ps.begin(), ps.end(), std::back_inserter(only_r));
  auto f = ::testing::AssertionFailure();
  f << "digests differ (" << only_p.size() << " line(s) only on the primary, " << only_r.size()
    << " only on the replica):\n";
  constexpr size_t kShown = 200;
  std::vector<std::string> diff;
  for (const auto& l : only_p) diff.push_back("- " + l);
  for (const auto& l : only_r) diff.push_back("+ " + l);
  // Interleave by the line itself so that the two versions of an item sit
  // side by side.
  std::stable_sort(diff.begin(), diff.end(), [](const std::string& a, const std::string& b) {
    return a.substr(2) < b.substr(2);
  });
  for (size_t i = 0; i < diff.size() && i < kShown; i++) f << diff[i] << "\n";
  if (diff.size() > kShown) f << "... " << diff.size() - kShown << " more\n";
  return f;
}

::testing::AssertionResult converges_to_same_digest(const Instance& primary,
                                                    const Instance& replica,
                                                    std::chrono::milliseconds timeout,
                                                    const std::vector<std::string>& args) {
  ::testing::AssertionResult last = ::testing::AssertionFailure();
  wait_until(
      [&] {
        last = same_digest(primary, replica, args);
        return static_cast<bool>(last);
      },
      timeout);
  return last;
}

}  // namespace replimail::testing
