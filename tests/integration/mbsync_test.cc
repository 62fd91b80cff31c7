// Debian's mbsync (isync) against a real master + imapd: a 1,000-message
// mailbox mirrored to a local Maildir, local changes pushed back, and a run
// with nothing to do (tests/integration/py/mbsync_cases.py drives it).
#include <gtest/gtest.h>

#include <string>

#include "harness.h"

namespace replimail::testing {
namespace {

TEST(Mbsync, MirrorsPushesBackAndSettles) {
  Instance inst(serving({{"imap", "imapd"}}, {{"alice", "alicepw"}}));
  ASSERT_EQ(inst.start(), "");
  ASSERT_EQ(create_mailboxes(inst, {"user.alice"}), "");

  TempDir local;
  auto r = inst.python("mbsync_cases.py", {"--port", std::to_string(inst.port("imap")), "--dir",
                                           local.path(), "--count", "1000"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out.rfind("ok ", 0), 0u) << r.out;

  auto inbox = inst.snapshot("user.alice");
  ASSERT_EQ(inbox.error, "");
  EXPECT_EQ(inbox.counters.exists, 1000u);
  EXPECT_EQ(inst.snapshot("user.alice.Local").counters.exists, 1u);
  std::string log = inst.channel_log("replica");
  EXPECT_NE(log.find("MAILBOX user.alice.Local"), std::string::npos) << log.substr(0, 2000);
}

}  // namespace
}  // namespace replimail::testing
