// SORT, THREAD and ESORT against a live Cyrus 3.6 (issue 14): a Cyrus from
// Debian's packages (py/cyrus_instance.py) in a temporary directory on a
// free port, and a replimail instance, get the same mailbox — a generated
// corpus with real threading plus tests/data/mime/*.eml — and
// py/cyrus_sort_compare.py runs the same SORT/THREAD/ESORT commands on both:
// the answers must be equal. Skipped, with the reason, where Cyrus cannot
// run (packages missing, not root); the test never installs anything.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "harness.h"

namespace replimail::testing {
namespace {

std::string why_no_cyrus() {
  if (geteuid() != 0) return "Cyrus runs as the cyrus user: the test must run as root";
  auto r = run({"/usr/bin/python3", py_script("cyrus_instance.py"), "available"});
  return r.ok() ? "" : r.out + r.err;
}

// Stops the Cyrus started in `dir` (by the PID it recorded) when the test
// ends, however it ends.
class CyrusGuard {
 public:
  explicit CyrusGuard(std::string dir) : dir_(std::move(dir)) {}
  ~CyrusGuard() { run({"/usr/bin/python3", py_script("cyrus_instance.py"), "stop", dir_}); }
  CyrusGuard(const CyrusGuard&) = delete;
  CyrusGuard& operator=(const CyrusGuard&) = delete;

 private:
  std::string dir_;
};

TEST(CyrusSort, SortThreadAndEsortEqualCyrus36) {
  std::string why = why_no_cyrus();
  if (!why.empty()) GTEST_SKIP() << "Cyrus 3.6 cannot run here: " << why;

  TempDir tmp;
  ASSERT_EQ(chmod(tmp.path().c_str(), 0755), 0);
  std::string cyrus_dir = tmp.path() + "/cyrus";
  int cyrus_port = free_port();
  CyrusGuard guard(cyrus_dir);
  auto started =
      run({"/usr/bin/python3", py_script("cyrus_instance.py"), "start", cyrus_dir, "--servername",
           "cyrus-sort", "--imap-port", std::to_string(cyrus_port), "--users",
           "admin:adminpw,testuser:testpw", "--admins", "admin", "--conf", "munge8bit: no"});
  ASSERT_TRUE(started.ok()) << started.describe();

  Instance::Options o;
  o.users = {{"admin", "adminpw"}, {"testuser", "testpw"}};
  o.services = {{"imap", "imapd"}};
  Instance replimail(o);
  ASSERT_EQ(replimail.start(), "");
  auto created = replimail.tool("cyr_mbox", {"create", "user.testuser"});
  ASSERT_TRUE(created.ok()) << created.describe();

  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(source_dir() + "/tests/data/mime"))
    if (e.path().extension() == ".eml") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  std::vector<std::string> args = {"--a",        std::to_string(replimail.port("imap")),
                                   "--b",        std::to_string(cyrus_port),
                                   "--user",     "testuser:testpw",
                                   "--create-b", "admin:adminpw"};
  args.insert(args.end(), files.begin(), files.end());
  auto cmp = replimail.python("cyrus_sort_compare.py", args);
  // "a" is replimail, "b" is Cyrus 3.6 in every difference listed.
  EXPECT_EQ(cmp.exit_code, 0) << cmp.describe();
  EXPECT_NE(cmp.out.find("\"commands\": "), std::string::npos) << cmp.out;
}

}  // namespace
}  // namespace replimail::testing
