#include "digest_check.h"

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <set>

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

namespace {

// The digest's item lines (no hash line), still sorted, as `which` says.
std::vector<std::string> compared_lines(const Digest& d, DigestLines which) {
  std::vector<std::string> out;
  for (const auto& l : d.lines) {
    if (l.starts_with("hash ")) continue;
    if (which == DigestLines::kLiveOnly && l.starts_with("record ") &&
        l.find("Expunged") != std::string::npos)
      continue;
    out.push_back(l);
  }
  return out;
}

}  // namespace

::testing::AssertionResult same_digest(const Instance& primary, const Instance& replica,
                                       const std::vector<std::string>& args, DigestLines which) {
  Digest p = digest_of(primary, args);
  if (!p.error.empty()) return ::testing::AssertionFailure() << p.error;
  Digest r = digest_of(replica, args);
  if (!r.error.empty()) return ::testing::AssertionFailure() << r.error;
  // Both are sorted: set differences give the diff.
  std::vector<std::string> ps = compared_lines(p, which);
  std::vector<std::string> rs = compared_lines(r, which);
  if (ps == rs) return ::testing::AssertionSuccess();
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

::testing::AssertionResult files_match_records(const Instance& inst, const std::string& mailbox) {
  auto snap = inst.snapshot(mailbox);
  if (!snap.error.empty())
    return ::testing::AssertionFailure() << mailbox << " on " << inst.state_dir() << ": "
                                         << snap.error;
  auto f = ::testing::AssertionFailure();
  bool failed = false;
  std::set<std::string> live_files;
  for (const auto& rec : snap.records) {
    if (rec.expunged()) continue;
    std::string file = std::to_string(rec.uid) + ".";
    live_files.insert(file);
    std::string sha1 = sha1_file(snap.dir + "/" + file);
    if (sha1 != rec.guid) {
      f << mailbox << " UID " << rec.uid << ": file " << (sha1.empty() ? "missing" : "SHA-1 " + sha1)
        << ", record GUID " << rec.guid << "\n";
      failed = true;
    }
  }
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(snap.dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.empty() || name.back() != '.' || live_files.contains(name)) continue;
    f << mailbox << ": message file " << name << " without a live record\n";
    failed = true;
  }
  if (ec) return ::testing::AssertionFailure() << "list " << snap.dir << ": " << ec.message();
  return failed ? f : ::testing::AssertionSuccess();
}

::testing::AssertionResult same_mailbox(const Instance& primary, const Instance& replica,
                                        const std::string& mailbox, DigestLines which) {
  auto digest = same_digest(primary, replica, {"-m", mailbox}, which);
  if (!digest) return digest;
  return files_match_records(replica, mailbox);
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
