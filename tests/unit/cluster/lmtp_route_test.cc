// lmtpproxyd's routing decision (cluster/lmtp_route.h).
#include "cluster/lmtp_route.h"

#include <gtest/gtest.h>

namespace replimail::cluster {
namespace {

SlotInfo slot_a() {
  SlotInfo s;
  s.name = "slotA";
  s.host = "10.0.0.1";
  s.lmtp_port = 2003;
  return s;
}

using NoMove = std::optional<MoveRecord>;

MoveRecord move_in(MovePhase phase) {
  MoveRecord m;
  m.user = "alice";
  m.source = "slotA";
  m.target = "slotB";
  m.phase = phase;
  return m;
}

TEST(LmtpRoute, ThePrimarySlotsLmtpd) {
  auto t = decide_lmtp_target("alice", NoMove(), slot_a());
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ(t->slot, "slotA");
  EXPECT_EQ(t->host, "10.0.0.1");
  EXPECT_EQ(t->port, 2003);
}

TEST(LmtpRoute, AFencedOrSwitchedMoveFencesWhateverTheRouteSays) {
  for (MovePhase p : {MovePhase::kFenced, MovePhase::kSwitched}) {
    EXPECT_EQ(decide_lmtp_target("alice", NoMove(move_in(p)), slot_a()).status().code(),
              Code::kMailboxMoved);
    EXPECT_EQ(decide_lmtp_target("alice", NoMove(move_in(p)), Status(Code::kNotFound, "no user"))
                  .status()
                  .code(),
              Code::kMailboxMoved);
  }
}

TEST(LmtpRoute, AMoveStillCopyingDeliversToThePrimary) {
  auto t = decide_lmtp_target("alice", NoMove(move_in(MovePhase::kCopying)), slot_a());
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ(t->slot, "slotA");
}

TEST(LmtpRoute, UnknownUserIsPermanentEverythingElseTemporary) {
  EXPECT_EQ(
      decide_lmtp_target("dave", NoMove(), Status(Code::kNotFound, "no user")).status().code(),
      Code::kMailboxNonexistent);
  EXPECT_EQ(
      decide_lmtp_target("bob", NoMove(), Status(Code::kAgain, "slot not alive")).status().code(),
      Code::kAgain);
  EXPECT_EQ(decide_lmtp_target("bob", NoMove(), Status(Code::kIoError, "etcd unreachable"))
                .status()
                .code(),
            Code::kAgain);
  EXPECT_EQ(decide_lmtp_target("bob", Status(Code::kIoError, "etcd unreachable"), slot_a())
                .status()
                .code(),
            Code::kAgain);
  // A move record that does not decode counts as fenced.
  EXPECT_EQ(decide_lmtp_target("bob", Status(Code::kProtocolError, "bad move value"), slot_a())
                .status()
                .code(),
            Code::kMailboxMoved);
  SlotInfo no_lmtp = slot_a();
  no_lmtp.lmtp_port = 0;
  EXPECT_EQ(decide_lmtp_target("bob", NoMove(), no_lmtp).status().code(), Code::kAgain);
}

}  // namespace
}  // namespace replimail::cluster
