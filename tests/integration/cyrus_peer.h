// A throwaway Cyrus 3.6 (Debian's packages, py/cyrus_instance.py) for the
// tests that compare replimail's answers with the peer's.
#pragma once

#include <string>
#include <vector>

#include "harness.h"

namespace replimail::testing {

// Why Cyrus 3.6 cannot run here (packages missing, not root), or "".
std::string why_no_cyrus();

// Stops the Cyrus started in `dir` (by the PID its cyrmaster recorded) when
// the guard goes out of scope, however the test ends.
class CyrusGuard {
 public:
  explicit CyrusGuard(std::string dir) : dir_(std::move(dir)) {}
  ~CyrusGuard();
  CyrusGuard(const CyrusGuard&) = delete;
  CyrusGuard& operator=(const CyrusGuard&) = delete;

 private:
  std::string dir_;
};

// py/cyrus_instance.py start DIR ... with `args` after DIR.
RunResult start_cyrus(const std::string& dir, const std::vector<std::string>& args);

}  // namespace replimail::testing
