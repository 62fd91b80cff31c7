// The target's side of a move (cluster/move_target.h): when a slot lifts
// the stale fence of a user moving back to it, and the unfence command's
// value.
#include "cluster/move_target.h"

#include <gtest/gtest.h>

#include "cluster/failover.h"

namespace replimail::cluster {
namespace {

UserEntry entry(const std::string& primary) { return {"alice", primary, {"slotB"}, 7}; }

TEST(MoveTarget, TheFenceIsLiftedOnlyOnceTheDirectoryNamesThisSlotPrimary) {
  // A fence here, the user still on the source: not yet (the slot must not
  // accept the user's writes while another slot is its primary).
  EXPECT_EQ(decide_unfence("slotA", entry("slotB"), true), UnfenceStep::kNotYet);
  EXPECT_EQ(decide_unfence("slotA", std::nullopt, true), UnfenceStep::kNotYet);
  // After the switch: lifted.
  EXPECT_EQ(decide_unfence("slotA", entry("slotA"), true), UnfenceStep::kLift);
  // No fence here (the user never left this slot): nothing to wait for,
  // whatever the directory says.
  EXPECT_EQ(decide_unfence("slotA", entry("slotB"), false), UnfenceStep::kNothing);
  EXPECT_EQ(decide_unfence("slotA", entry("slotA"), false), UnfenceStep::kNothing);
}

TEST(MoveTarget, TheUnfenceCommandRoundTripsAndNeedsAUser) {
  SlotCommand c;
  c.op = SlotCommand::Op::kUnfence;
  c.user = "alice";
  c.controller = "slotB";
  auto back = decode_command("slotA", unfence_command_name("alice"), encode_command(c));
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->op, SlotCommand::Op::kUnfence);
  EXPECT_EQ(back->user, "alice");
  EXPECT_EQ(back->name, "unfence-alice");
  EXPECT_FALSE(
      decode_command("slotA", "unfence-x", "{\"op\":\"unfence\",\"state\":\"pending\"}").ok());
  EXPECT_FALSE(decode_command("slotA", "unfence-x",
                              "{\"op\":\"unfence\",\"state\":\"done\",\"user\":\"a/b\"}")
                   .ok());
}

TEST(MoveTarget, TheFailoverControllerLeavesAMovesCommandAlone) {
  ClusterView v;
  v.users = {{"alice", "slotA", {"slotB"}, 11}};
  v.alive = {"slotA", "slotB"};
  for (auto state : {SlotCommand::State::kDone, SlotCommand::State::kFailed}) {
    SlotCommand c;
    c.slot = "slotA";
    c.name = unfence_command_name("alice");
    c.op = SlotCommand::Op::kUnfence;
    c.state = state;
    c.user = "alice";
    v.commands = {c};
    FailoverPlan plan = plan_failover(v, "slotB");
    EXPECT_TRUE(plan.remove.empty());
    EXPECT_TRUE(plan.create.empty());
    EXPECT_TRUE(plan.flip.empty());
  }
}

}  // namespace
}  // namespace replimail::cluster
