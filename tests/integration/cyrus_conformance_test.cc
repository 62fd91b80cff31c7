// The IMAP conformance suite (issue 14, tests/conformance/README.md): the
// same scripted sessions (tests/conformance/sessions/*.txt) against
// replimail and a Cyrus 3.6 peer (py/cyrus_instance.py, Debian's packages,
// on a free port in the test's own directory), configured alike; the runner
// tests/conformance/imap_conformance.py compares every normalized answer.
// CONFORMANCE_SESSIONS=fetch,search (file stems) runs only those sessions;
// CONFORMANCE_VERBOSE=1 prints every answer, the equal ones too.
// Skipped, with the reason, where Cyrus cannot run (packages missing, not
// root); the test never installs anything.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cyrus_peer.h"
#include "harness.h"

namespace replimail::testing {
namespace {

std::string conformance_dir() { return source_dir() + "/tests/conformance"; }

// The session files to play: every one, or those CONFORMANCE_SESSIONS names.
std::vector<std::string> session_files() {
  std::set<std::string> wanted;
  if (const char* env = std::getenv("CONFORMANCE_SESSIONS")) {
    std::stringstream in(env);
    for (std::string s; std::getline(in, s, ',');)
      if (!s.empty()) wanted.insert(s);
  }
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(conformance_dir() + "/sessions")) {
    if (e.path().extension() != ".txt") continue;
    if (!wanted.empty() && !wanted.count(e.path().stem().string())) continue;
    out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(CyrusConformance, ImapSessionsAnswerAsCyrus36) {
  std::string why = why_no_cyrus();
  if (!why.empty()) GTEST_SKIP() << "Cyrus 3.6 cannot run here: " << why;
  auto files = session_files();
  ASSERT_FALSE(files.empty()) << "no session matches CONFORMANCE_SESSIONS";

  std::string runner = conformance_dir() + "/imap_conformance.py";
  std::vector<std::string> argv = {"/usr/bin/python3", runner, "users"};
  argv.insert(argv.end(), files.begin(), files.end());
  auto listed = run(argv);
  ASSERT_TRUE(listed.ok()) << listed.describe();
  std::map<std::string, std::string> users = {{"admin", "adminpw"}};
  std::string cyrus_users = "admin:adminpw";
  for (const auto& line : lines_of(listed.out)) {
    auto colon = line.find(':');
    ASSERT_NE(colon, std::string::npos) << line;
    users[line.substr(0, colon)] = line.substr(colon + 1);
    cyrus_users += "," + line;
  }

  // Both alike: altnamespace and unixhierarchysep (replimail's defaults,
  // cyrus_instance.py sets them), no pause after a failed login; Cyrus
  // keeps 8-bit header bytes as sent, as replimail does.
  const std::vector<std::string> common = {"failedloginpause: 0"};
  std::vector<std::string> cargs = {"--users", cyrus_users, "--admins", "admin", "--conf",
                                    "munge8bit: no"};
  for (const auto& c : common) cargs.insert(cargs.end(), {"--conf", c});
  CyrusPeer cyrus("conformance", cargs);
  ASSERT_TRUE(cyrus.started().ok()) << cyrus.started().describe();

  Instance::Options o;
  o.servername = "conformance";
  o.users = users;
  o.services = {{"imap", "imapd"}};
  o.imapd_extra = common;
  Instance replimail(o);
  ASSERT_EQ(replimail.start(), "");

  argv = {"/usr/bin/python3",        runner, "--a", std::to_string(replimail.port("imap")), "--b",
          std::to_string(cyrus.ports().imap)};
  if (std::getenv("CONFORMANCE_VERBOSE")) argv.push_back("--verbose");
  argv.insert(argv.end(), files.begin(), files.end());
  auto cmp = run(argv);
  // The report is printed either way: it lists what only Cyrus advertises.
  std::cout << cmp.out << cmp.err;
  EXPECT_EQ(cmp.exit_code, 0) << "replimail and Cyrus 3.6 answer differently (see above)";
}

}  // namespace
}  // namespace replimail::testing
