// Automatic failover's decisions (cluster/failover.h): which replica is
// promoted, what one controller round does, and how a second controller
// takes over its predecessor's work.
#include "cluster/failover.h"

#include <gtest/gtest.h>

namespace replimail::cluster {
namespace {

SlotInfo member(const std::string& name, int sync_port) {
  SlotInfo s;
  s.name = name;
  s.host = "10.0.0." + std::to_string(sync_port % 10);
  s.sync_port = sync_port;
  return s;
}

// slotA (dead) was alice's and bob's primary; slotB and slotC their
// replicas; carol lives on slotC.
ClusterView view_with_a_dead() {
  ClusterView v;
  v.users = {{"alice", "slotA", {"slotB", "slotC"}, 11},
             {"bob", "slotA", {"slotC", "slotB"}, 12},
             {"carol", "slotC", {"slotA"}, 13}};
  v.alive = {"slotB", "slotC"};
  for (const auto& [n, p] :
       std::map<std::string, int>{{"slotA", 2001}, {"slotB", 2002}, {"slotC", 2003}})
    v.members[n] = member(n, p);
  return v;
}

TEST(FailoverPlan, ChoosesTheLiveReplicaThatHadAppliedTheMost) {
  UserEntry u{"alice", "slotA", {"slotB", "slotC", "slot.D"}, 1};
  // Keyed by channel (channel_for_slot).
  ReplicationReport r{"slotA", 1000, {{"slotb", 900}, {"slotc", 950}, {"slot_d", 990}}};
  EXPECT_EQ(choose_replica(u, {"slotB", "slotC", "slot.D"}, r), "slot.D");
  EXPECT_EQ(choose_replica(u, {"slotB", "slotC"}, r), "slotC");
  // No report: every replica counts as 0, the first live one in the list.
  EXPECT_EQ(choose_replica(u, {"slotC", "slotB"}, std::nullopt), "slotB");
  // A replica still bootstrapping (0) loses to one the report does not list.
  ReplicationReport boot{"slotA", 1000, {{"slotb", 0}}};
  EXPECT_EQ(choose_replica(u, {"slotB", "slotC"}, boot), "slotB");
  EXPECT_EQ(choose_replica(u, {"slotA"}, r), std::nullopt);
}

TEST(FailoverPlan, ValuesRoundTrip) {
  ReplicationReport r{"slotA", 1234, {{"slotB", 1200}}};
  auto back = decode_replication("slotA", encode_replication(r));
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->at_ms, 1234);
  EXPECT_EQ(back->complete_through_ms, r.complete_through_ms);
  EXPECT_FALSE(decode_replication("slotA", "{\"replicas\":{}}").ok());
  EXPECT_FALSE(decode_replication("slotA", "[1]").ok());

  SlotCommand c;
  c.op = SlotCommand::Op::kPromote;
  c.old_primary = "slotA";
  c.old_primary_sync = "10.0.0.1:2005";
  c.replicas = {{"slotC", "10.0.0.3:2005"}};
  c.controller = "slotC";
  auto cb = decode_command("slotB", "promote-slotA", encode_command(c));
  ASSERT_TRUE(cb.ok()) << cb.status().to_string();
  EXPECT_EQ(cb->slot, "slotB");
  EXPECT_EQ(cb->state, SlotCommand::State::kPending);
  EXPECT_EQ(cb->old_primary_sync, "10.0.0.1:2005");
  EXPECT_EQ(cb->replicas, c.replicas);
  EXPECT_FALSE(decode_command("slotB", "x", "{\"op\":\"explode\",\"state\":\"pending\"}").ok());
  EXPECT_FALSE(decode_command("slotB", "x", "{\"op\":\"promote\",\"state\":\"pending\"}").ok())
      << "a promotion needs the old primary's address";
  EXPECT_EQ(channel_for_slot("host1.Slot2"), "host1_slot2");
}

TEST(FailoverPlan, ARoundAsksThePromotionThenFlipsOnceItIsDone) {
  ClusterView v = view_with_a_dead();
  v.reports["slotA"] = {"slotA", 1000, {{"slotb", 990}, {"slotc", 500}}};
  FailoverPlan p = plan_failover(v, "ctl");
  // Both users go to slotB (it had applied more): one promote command,
  // with slotC as the replica it feeds from then on; slotA's rejoin; no
  // flip before the promotion is done. carol's primary is alive.
  ASSERT_EQ(p.create.size(), 2u);
  EXPECT_EQ(p.create[0].slot, "slotB");
  EXPECT_EQ(p.create[0].name, "promote-slotA");
  EXPECT_EQ(p.create[0].old_primary_sync, "10.0.0.1:2001");
  EXPECT_EQ(p.create[0].replicas, (std::map<std::string, std::string>{{"slotC", "10.0.0.3:2003"}}));
  EXPECT_EQ(p.create[1].slot, "slotA");
  EXPECT_EQ(p.create[1].op, SlotCommand::Op::kRejoin);
  EXPECT_TRUE(p.flip.empty());
  EXPECT_TRUE(p.remove.empty());

  // The commands exist, the promotion not run yet: nothing new.
  v.commands = p.create;
  p = plan_failover(v, "ctl");
  EXPECT_TRUE(p.create.empty());
  EXPECT_TRUE(p.flip.empty());
  EXPECT_EQ(p.waiting.size(), 2u);

  // Done: both users flip to slotB, slotA first among their replicas, at
  // the revision read (compare-and-swap).
  v.commands[0].state = SlotCommand::State::kDone;
  p = plan_failover(v, "another-controller");
  EXPECT_TRUE(p.create.empty()) << "a successor follows the promotion under way";
  ASSERT_EQ(p.flip.size(), 2u);
  EXPECT_EQ(p.flip[0].user, "alice");
  EXPECT_EQ(p.flip[0].primary, "slotB");
  EXPECT_EQ(p.flip[0].replicas, (std::vector<std::string>{"slotA", "slotC"}));
  EXPECT_EQ(p.flip[0].mod_revision, 11);
  EXPECT_EQ(p.flip[1].user, "bob");
  EXPECT_EQ(p.flip[1].primary, "slotB");

  // Flipped: the done command is no longer needed and goes.
  v.users[0] = p.flip[0];
  v.users[1] = p.flip[1];
  p = plan_failover(v, "ctl");
  EXPECT_TRUE(p.create.empty());
  EXPECT_TRUE(p.flip.empty());
  ASSERT_EQ(p.remove.size(), 1u);
  EXPECT_EQ(p.remove[0], (std::pair<std::string, std::string>{"slotB", "promote-slotA"}));
}

TEST(FailoverPlan, APrimaryBackMidFailoverIsStillFailedOver) {
  ClusterView v = view_with_a_dead();
  FailoverPlan p = plan_failover(v, "ctl");
  v.commands = p.create;
  v.commands[0].state = SlotCommand::State::kDone;
  v.alive.insert("slotA");  // back before the flip: slotB already takes writes
  p = plan_failover(v, "ctl");
  ASSERT_EQ(p.flip.size(), 2u);
  EXPECT_EQ(p.flip[0].primary, "slotB");
}

TEST(FailoverPlan, NoLiveReplicaOrNoAddressWaits) {
  ClusterView v = view_with_a_dead();
  v.alive = {};
  FailoverPlan p = plan_failover(v, "ctl");
  EXPECT_TRUE(p.create.empty());
  EXPECT_EQ(p.waiting.size(), 3u);  // alice, bob, and carol (slotC down, slotA too)
  v = view_with_a_dead();
  v.members.erase("slotA");
  p = plan_failover(v, "ctl");
  EXPECT_TRUE(p.create.empty());
  ASSERT_FALSE(p.waiting.empty());
  EXPECT_NE(p.waiting[0].find("no known sync_server address"), std::string::npos);
}

TEST(FailoverPlan, AFailedPromotionIsRemovedToBeStartedAgain) {
  ClusterView v = view_with_a_dead();
  FailoverPlan p = plan_failover(v, "ctl");
  v.commands = p.create;
  v.commands[0].state = SlotCommand::State::kFailed;
  v.commands[0].result = "exit 1: disk full";
  p = plan_failover(v, "ctl");
  EXPECT_TRUE(p.flip.empty());
  ASSERT_EQ(p.remove.size(), 1u);
  EXPECT_EQ(p.remove[0].second, "promote-slotA");
  v.commands.erase(v.commands.begin());
  p = plan_failover(v, "ctl");
  ASSERT_EQ(p.create.size(), 1u) << "the rejoin command stays; the promotion is asked again";
  EXPECT_EQ(p.create[0].name, "promote-slotA");
}

}  // namespace
}  // namespace replimail::cluster
