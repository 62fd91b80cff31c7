// Two IMAP sessions on one mailbox, one changing what the other still has in
// its view: cases the torture test (tests/torture/) found.
#include <gtest/gtest.h>

#include <string>

#include "harness.h"

namespace replimail::testing {
namespace {

TEST(ConcurrentSessions, CopyOfAMessageExpungedByAnotherSession) {
  Instance inst(serving({{"lmtp", "lmtpd -a"}, {"imap", "imapd"}}, {{"alice", "alicepw"}}));
  ASSERT_EQ(inst.start(), "");
  ASSERT_EQ(create_mailboxes(inst, {"user.alice", "user.alice.Work"}), "");
  ASSERT_EQ(deliver(inst, "alice", 2), "");
  auto r = inst.python("concurrent_cases.py", {"--port", std::to_string(inst.port("imap"))});
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out.rfind("ok ", 0), 0u) << r.out;
}

}  // namespace
}  // namespace replimail::testing
