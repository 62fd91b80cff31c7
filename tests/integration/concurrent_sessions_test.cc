// Two IMAP sessions on one mailbox, one changing what the other still has in
// its view: cases the torture test (tests/torture/) found.
#include <gtest/gtest.h>

#include <string>

#include "harness.h"

namespace replimail::testing {
namespace {

TEST(ConcurrentSessions, CopyOfAMessageExpungedByAnotherSession) {
  Instance::Options o;
  o.users = {{"admin", "adminpw"}, {"alice", "alicepw"}};
  o.services = {{"lmtp", "lmtpd -a"}, {"imap", "imapd"}};
  Instance inst(o);
  ASSERT_EQ(inst.start(), "");
  for (const char* m : {"user.alice", "user.alice.Work"}) {
    auto r = inst.tool("cyr_mbox", {"create", m});
    ASSERT_TRUE(r.ok()) << r.describe();
  }
  auto d = inst.python("lmtp_deliver.py",
                       {"--port", std::to_string(inst.lmtp_port()), "--rcpt", "alice", "-n", "2"});
  ASSERT_TRUE(d.ok()) << d.describe();
  auto r = inst.python("concurrent_cases.py", {"--port", std::to_string(inst.port("imap"))});
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out.rfind("ok ", 0), 0u) << r.out;
}

}  // namespace
}  // namespace replimail::testing
