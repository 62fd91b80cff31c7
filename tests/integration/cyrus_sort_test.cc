// SORT, THREAD and ESORT against a live Cyrus 3.6 (issue 14): a Cyrus from
// Debian's packages (py/cyrus_instance.py) in a temporary directory on a
// free port, and a replimail instance, get the same mailbox — a generated
// corpus with real threading plus tests/data/mime/*.eml — and
// py/cyrus_sort_compare.py runs the same SORT/THREAD/ESORT commands on both:
// the answers must be equal. Skipped, with the reason, where Cyrus cannot
// run (packages missing, not root); the test never installs anything.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "cyrus_peer.h"
#include "harness.h"

namespace replimail::testing {
namespace {

TEST(CyrusSort, SortThreadAndEsortEqualCyrus36) {
  std::string why = why_no_cyrus();
  if (!why.empty()) GTEST_SKIP() << "Cyrus 3.6 cannot run here: " << why;

  CyrusPeer cyrus("cyrus-sort", {"--users", "admin:adminpw,testuser:testpw", "--admins", "admin",
                                  "--conf", "munge8bit: no"});
  ASSERT_TRUE(cyrus.started().ok()) << cyrus.started().describe();

  Instance replimail(serving({{"imap", "imapd"}}, {{"testuser", "testpw"}}));
  ASSERT_EQ(replimail.start(), "");
  ASSERT_EQ(create_mailboxes(replimail, {"user.testuser"}), "");

  std::vector<std::string> files = mime_corpus();
  std::vector<std::string> args = {"--a",        std::to_string(replimail.port("imap")),
                                   "--b",        std::to_string(cyrus.ports().imap),
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
