// What a cluster slot's bootstrap sends (cluster/bootstrap_gate.h): a user
// a move is bringing to this slot waits until the move has switched; one
// moved away from it is never sent; everything else is.
#include "cluster/bootstrap_gate.h"

#include <gtest/gtest.h>

namespace replimail::cluster {
namespace {

MoveRecord move(const std::string& source, const std::string& target, MovePhase phase) {
  MoveRecord m;
  m.user = "alice";
  m.source = source;
  m.target = target;
  m.phase = phase;
  return m;
}

TEST(BootstrapGate, AUserBeingMovedHereWaitsUntilTheSwitch) {
  for (MovePhase p : {MovePhase::kCopying, MovePhase::kFenced}) {
    auto v = bootstrap_verdict("slotB", move("slotA", "slotB", p));
    EXPECT_EQ(v.turn, sync::UserTurn::kLater) << move_phase_name(p);
    EXPECT_NE(v.why.find("being moved here from slotA"), std::string::npos) << v.why;
  }
  // Switched: this slot is the user's primary now.
  EXPECT_EQ(bootstrap_verdict("slotB", move("slotA", "slotB", MovePhase::kSwitched)).turn,
            sync::UserTurn::kSend);
}

TEST(BootstrapGate, TheSourceSendsUntilTheSwitchAndNeverAfter) {
  for (MovePhase p : {MovePhase::kCopying, MovePhase::kFenced})
    EXPECT_EQ(bootstrap_verdict("slotA", move("slotA", "slotB", p)).turn, sync::UserTurn::kSend)
        << move_phase_name(p);
  auto v = bootstrap_verdict("slotA", move("slotA", "slotB", MovePhase::kSwitched));
  EXPECT_EQ(v.turn, sync::UserTurn::kNotOurs);
  EXPECT_NE(v.why.find("moved away to slotB"), std::string::npos) << v.why;
}

TEST(BootstrapGate, NoMoveOrAMoveBetweenOtherSlotsSends) {
  EXPECT_EQ(bootstrap_verdict("slotA", std::nullopt).turn, sync::UserTurn::kSend);
  for (MovePhase p : {MovePhase::kCopying, MovePhase::kFenced, MovePhase::kSwitched})
    EXPECT_EQ(bootstrap_verdict("slotC", move("slotA", "slotB", p)).turn, sync::UserTurn::kSend)
        << move_phase_name(p);
}

TEST(BootstrapGate, NotAClusterSlotHasNoGateAndBadOptionsAreRefused) {
  Config plain;
  auto none = BootstrapGate::from_config(plain);
  ASSERT_TRUE(none.ok()) << none.status().to_string();
  EXPECT_EQ(*none, nullptr);
  Config bad;
  bad.set("cluster_etcd_endpoints", "ftp://x");
  bad.set("cluster_slot_name", "slotA");
  EXPECT_EQ(BootstrapGate::from_config(bad).status().code(), Code::kConfigError);
}

TEST(BootstrapGate, AnUnreachableDirectoryLeavesEveryUserForLaterAndIsNotAskedAgainAtOnce) {
  Config cfg;
  cfg.set("cluster_etcd_endpoints", "127.0.0.1:1");  // nothing listens there
  cfg.set("cluster_slot_name", "slotA");
  auto gate = BootstrapGate::from_config(cfg);
  ASSERT_TRUE(gate.ok()) << gate.status().to_string();
  ASSERT_NE(*gate, nullptr);
  for (const char* user : {"alice", "bob", "carol"}) {
    auto v = (*gate)->verdict(user);
    EXPECT_EQ(v.turn, sync::UserTurn::kLater) << user;
    EXPECT_NE(v.why.find("cannot say whether a move is under way"), std::string::npos) << v.why;
  }
  // One read: the next users within BootstrapGate::kDownFor were not asked.
  EXPECT_EQ((*gate)->directory_reads(), 1u);
}

}  // namespace
}  // namespace replimail::cluster
