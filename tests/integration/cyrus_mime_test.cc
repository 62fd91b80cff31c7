// BODYSTRUCTURE, ENVELOPE and BODY against a live Cyrus 3.6 (issue 3): a
// Cyrus from Debian's packages (py/cyrus_instance.py) in a temporary
// directory on a free port, and a replimail instance, get the
// same messages by APPEND — tests/data/mime/*.eml and 16 of bench/corpus.py —
// and py/cyrus_mime_compare.py compares what each answers, byte for byte.
// Skipped, with the reason, where Cyrus cannot run (packages missing, not
// root); the test never installs anything.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "cyrus_peer.h"
#include "harness.h"

namespace replimail::testing {
namespace {

TEST(CyrusMime, EnvelopeAndBodystructureEqualCyrus36) {
  std::string why = why_no_cyrus();
  if (!why.empty()) GTEST_SKIP() << "Cyrus 3.6 cannot run here: " << why;

  // Keep 8-bit header bytes as sent (Cyrus's default turns them into 'X'),
  // so both servers store the same bytes.
  CyrusPeer cyrus("cyrus-mime", {"--users", "admin:adminpw,testuser:testpw", "--admins", "admin",
                                  "--conf", "munge8bit: no"});
  ASSERT_TRUE(cyrus.started().ok()) << cyrus.started().describe();

  Instance replimail(serving({{"imap", "imapd"}}, {{"testuser", "testpw"}}));
  ASSERT_EQ(replimail.start(), "");
  ASSERT_EQ(create_mailboxes(replimail, {"user.testuser"}), "");

  auto files = mime_corpus();
  ASSERT_GE(files.size(), 30u);
  std::vector<std::string> args = {"--a",        std::to_string(replimail.port("imap")),
                                   "--b",        std::to_string(cyrus.ports().imap),
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
