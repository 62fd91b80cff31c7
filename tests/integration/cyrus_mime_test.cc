// BODYSTRUCTURE, ENVELOPE and BODY against a live Cyrus 3.6 (issue 3): the
// reference peer's Cyrus (../shared/peer/cyrus/setup.sh, Debian packages) in
// a temporary directory on free ports, and a replimail instance, get the
// same messages by APPEND — tests/data/mime/*.eml and 16 of bench/corpus.py —
// and py/cyrus_mime_compare.py compares what each answers, byte for byte.
// Skipped, with the reason, where Cyrus cannot run (packages missing, not
// root); the test never installs anything.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "harness.h"

namespace replimail::testing {
namespace {

// The reference peer's scripts: $PEER_HOME, else ../shared/peer/cyrus beside
// the source tree.
std::string peer_home() {
  const char* env = getenv("PEER_HOME");
  return env != nullptr ? env : source_dir() + "/../shared/peer/cyrus";
}

// Why the peer's Cyrus cannot run here, or "".
std::string why_no_cyrus() {
  if (geteuid() != 0) return "Cyrus runs as the cyrus user: the test must run as root";
  for (const std::string& path : {peer_home() + "/setup.sh", std::string("/usr/sbin/cyrmaster"),
                                  std::string("/usr/lib/cyrus/bin/imapd")}) {
    if (access(path.c_str(), X_OK) != 0)
      return path + " is missing (install the Debian cyrus packages: " + peer_home() +
             "/setup.sh does)";
  }
  return "";
}

// Stops the peer's instances in `dir` (by the PIDs it recorded) when the
// test ends, however it ends.
class CyrusGuard {
 public:
  explicit CyrusGuard(std::string dir) : dir_(std::move(dir)) {}
  ~CyrusGuard() { run({peer_home() + "/stop.sh", dir_}); }
  CyrusGuard(const CyrusGuard&) = delete;
  CyrusGuard& operator=(const CyrusGuard&) = delete;

 private:
  std::string dir_;
};

std::vector<std::string> mime_corpus() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(source_dir() + "/tests/data/mime"))
    if (e.path().extension() == ".eml") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(CyrusMime, EnvelopeAndBodystructureEqualCyrus36) {
  std::string why = why_no_cyrus();
  if (!why.empty()) GTEST_SKIP() << "Cyrus 3.6 cannot run here: " << why;

  // Cyrus runs as the cyrus user, who must be able to reach its directory.
  TempDir tmp;
  ASSERT_EQ(chmod(tmp.path().c_str(), 0755), 0);
  std::string cyrus_dir = tmp.path() + "/cyrus";
  int cyrus_port = free_port();
  CyrusGuard guard(cyrus_dir);
  // Every port of the pair on a free one; no syslog sink (/dev/log is the
  // machine's, not this test's).
  auto started = run({"/usr/bin/env", "PRIMARY_IMAP_PORT=" + std::to_string(cyrus_port),
                      "PRIMARY_LMTP_PORT=" + std::to_string(free_port()),
                      "REPLICA_IMAP_PORT=" + std::to_string(free_port()),
                      "REPLICA_SYNC_PORT=" + std::to_string(free_port()), "SYSLOG_SINK=no",
                      peer_home() + "/setup.sh", cyrus_dir});
  ASSERT_TRUE(started.ok()) << started.describe();
  // Keep 8-bit header bytes as sent (Cyrus's default turns them into 'X'),
  // so both servers store the same bytes. Each imapd reads imapd.conf when
  // it starts (prefork=0: one per connection), so this applies from now on.
  std::string conf = cyrus_dir + "/primary/etc/imapd.conf";
  ASSERT_TRUE(spit(conf, slurp(conf) + "munge8bit: no\n"));

  Instance::Options o;
  o.users = {{"admin", "adminpw"}, {"testuser", "testpw"}};
  o.services = {{"imap", "imapd"}};
  Instance replimail(o);
  ASSERT_EQ(replimail.start(), "");
  auto created = replimail.tool("cyr_mbox", {"create", "user.testuser"});
  ASSERT_TRUE(created.ok()) << created.describe();

  auto files = mime_corpus();
  ASSERT_GE(files.size(), 30u);
  std::vector<std::string> args = {"--a",        std::to_string(replimail.port("imap")),
                                   "--b",        std::to_string(cyrus_port),
                                   "--user",     "testuser:testpw",
                                   "--create-b", "admin:adminpw",
                                   "--corpus",   "16"};
  args.insert(args.end(), files.begin(), files.end());
  auto cmp = replimail.python("cyrus_mime_compare.py", args);
  // "a" is replimail, "b" is Cyrus 3.6 in every difference listed.
  EXPECT_EQ(cmp.exit_code, 0) << cmp.describe();
  EXPECT_NE(cmp.out.find("\"messages\": " + std::to_string(files.size() + 16)), std::string::npos)
      << cmp.out;
}

}  // namespace
}  // namespace replimail::testing
