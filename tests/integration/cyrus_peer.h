// A throwaway Cyrus 3.6 (Debian's packages, py/cyrus_instance.py) for the
// tests that compare replimail's answers with the peer's or replicate to
// and from it.
#pragma once

#include <string>
#include <vector>

#include "harness.h"

namespace replimail::testing {

// Why Cyrus 3.6 cannot run here (packages missing, not root), or "".
std::string why_no_cyrus();

// tests/data/mime/*.eml, sorted: the messages both servers are given.
std::vector<std::string> mime_corpus();

// A Cyrus started in a fresh directory the cyrus user can reach (mode 0755)
// on free loopback ports; stopped (by the PID its cyrmaster recorded) when
// destroyed, however the test ends.
class CyrusPeer {
 public:
  struct Ports {
    int imap = 0, lmtp = 0, sync = 0;  // 0: not served
  };
  // `cyrus_instance.py start DIR --servername NAME --imap-port P
  // [--lmtp-port P] [--sync-port P] args...`; see started().
  CyrusPeer(const std::string& servername, const std::vector<std::string>& args,
            bool with_lmtp = false, bool with_sync = false);
  ~CyrusPeer();
  CyrusPeer(const CyrusPeer&) = delete;
  CyrusPeer& operator=(const CyrusPeer&) = delete;

  const RunResult& started() const { return started_; }
  const Ports& ports() const { return ports_; }
  const std::string& dir() const { return dir_; }
  // A Cyrus tool (/usr/lib/cyrus/bin/<name>) run as the cyrus user.
  RunResult tool(const std::string& name, const std::vector<std::string>& args) const;

 private:
  TempDir tmp_;
  std::string dir_;
  Ports ports_;
  RunResult started_;
};

}  // namespace replimail::testing
