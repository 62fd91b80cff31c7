// BODYSTRUCTURE, ENVELOPE and BODY against a live Cyrus 3.6 (issue 3): a
// Cyrus from Debian's packages (py/cyrus_instance.py) in a temporary
// directory on a free port, and a replimail instance, get the
// same messages by APPEND — tests/data/mime/*.eml and 16 of bench/corpus.py —
// and py/cyrus_mime_compare.py compares what each answers, byte for byte.
// Skipped, with the reason, where Cyrus cannot run (packages missing, not
// root); the test never installs anything.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "cyrus_peer.h"
#include "harness.h"

namespace replimail::testing {
namespace {

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
  // Keep 8-bit header bytes as sent (Cyrus's default turns them into 'X'),
  // so both servers store the same bytes.
  auto started = start_cyrus(cyrus_dir, {"--servername", "cyrus-mime", "--imap-port",
                                         std::to_string(cyrus_port), "--users",
                                         "admin:adminpw,testuser:testpw", "--admins", "admin",
                                         "--conf", "munge8bit: no"});
  ASSERT_TRUE(started.ok()) << started.describe();

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
