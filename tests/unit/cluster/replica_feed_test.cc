// A primary slot feeding the replicas its users are placed on
// (cluster/replica_feed.h): which channels it adds and which bootstrap keys
// it writes from the channels' states.
#include "cluster/replica_feed.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "../../support/temp_dir.h"

namespace replimail::cluster {
namespace {

SlotInfo member(const std::string& name, const std::string& host, int sync_port) {
  SlotInfo s;
  s.name = name;
  s.host = host;
  s.sync_port = sync_port;
  s.role = "replica";
  return s;
}

store::ChannelState phase(store::ChannelPhase p, const std::string& reason = "") {
  return store::ChannelState{"", p, 1000, reason};
}

// s0 is alice's and bob's primary, replicas n1 (alice, bob) and N.2 (bob);
// carol lives on n1.
FeedView view() {
  FeedView v;
  v.slot = "s0";
  v.now = 500;
  v.users = {
      {"alice", "s0", {"n1"}, 1}, {"bob", "s0", {"n1", "N.2"}, 2}, {"carol", "n1", {"s0"}, 3}};
  v.members = {{"s0", member("s0", "10.0.0.1", 2005)},
               {"n1", member("n1", "10.0.0.2", 2005)},
               {"N.2", member("N.2", "10.0.0.3", 2006)}};
  return v;
}

const ReplicaBootstrap* find(const FeedPlan& p, const std::string& user, const std::string& slot) {
  for (const ReplicaBootstrap& b : p.put)
    if (b.user == user && b.slot == slot) return &b;
  return nullptr;
}

TEST(ReplicaFeed, AddsAChannelPerReplicaSlotOnceAndSaysPending) {
  FeedPlan p = plan_feed(view());
  // One channel per replica slot, named after it, to its sync_server.
  EXPECT_EQ(p.add, (std::vector<FeedTarget>{{"n1", "n1", "10.0.0.2:2005"},
                                            {"N.2", "n_2", "10.0.0.3:2006"}}));
  ASSERT_EQ(p.put.size(), 3u);  // carol is n1's business
  const ReplicaBootstrap* b = find(p, "bob", "N.2");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->state, BootstrapState::kPending);
  EXPECT_EQ(b->since, 500);
  EXPECT_EQ(b->reason, "channel n_2 to 10.0.0.3:2006 being added");
  EXPECT_TRUE(p.remove.empty());
}

TEST(ReplicaFeed, KeysFollowTheChannelsStates) {
  FeedView v = view();
  v.channels["n1"] = {"10.0.0.2:2005", phase(store::ChannelPhase::kBootstrapping)};
  v.channels["n_2"] = {"10.0.0.3:2006", phase(store::ChannelPhase::kFailed, "refused\nmore")};
  FeedPlan p = plan_feed(v);
  EXPECT_TRUE(p.add.empty());
  ASSERT_NE(find(p, "alice", "n1"), nullptr);
  EXPECT_EQ(find(p, "alice", "n1")->state, BootstrapState::kBootstrapping);
  EXPECT_EQ(find(p, "bob", "N.2")->state, BootstrapState::kFailed);
  EXPECT_EQ(find(p, "bob", "N.2")->reason, "refused");  // one line

  // Written once: the same state and reason again is not written.
  for (const ReplicaBootstrap& b : p.put) v.keys.push_back(b);
  v.now = 900;
  EXPECT_TRUE(plan_feed(v).put.empty());
  v.channels["n1"].phase = phase(store::ChannelPhase::kRolling);
  FeedPlan rolled = plan_feed(v);
  ASSERT_EQ(rolled.put.size(), 2u);
  EXPECT_EQ(rolled.put[0].state, BootstrapState::kRolling);
  EXPECT_EQ(rolled.put[0].since, 900);
  // A channel not recorded yet is pending, with the reason.
  v.channels["n1"].phase.reset();
  EXPECT_EQ(find(plan_feed(v), "alice", "n1")->state, BootstrapState::kPending);
}

TEST(ReplicaFeed, ANewReasonKeepsTheStatesSince) {
  FeedView v = view();
  v.channels["n_2"] = {"10.0.0.3:2006", phase(store::ChannelPhase::kFailed, "first")};
  v.keys.push_back({"bob", "N.2", BootstrapState::kFailed, 100, "before"});
  const ReplicaBootstrap* b = find(plan_feed(v), "bob", "N.2");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->reason, "first");
  EXPECT_EQ(b->since, 100);
}

TEST(ReplicaFeed, AMovedSyncServerOrAFailedAdditionOrAnUnknownSlot) {
  FeedView v = view();
  v.channels["n1"] = {"10.0.0.9:2005", phase(store::ChannelPhase::kRolling)};
  v.add_failed["n1"] = "exit 78: no sync_authname";
  v.members.erase("N.2");
  FeedPlan p = plan_feed(v);
  EXPECT_EQ(p.add, (std::vector<FeedTarget>{{"n1", "n1", "10.0.0.2:2005"}}));
  EXPECT_EQ(find(p, "alice", "n1")->state, BootstrapState::kPending);
  EXPECT_EQ(find(p, "alice", "n1")->reason, "adding channel n1 failed: exit 78: no sync_authname");
  EXPECT_EQ(find(p, "bob", "N.2")->reason,
            "slot N.2 has no known sync_server address (never registered)");
}

TEST(ReplicaFeed, APrimaryRoleSlotIsNotFedByPlacement) {
  FeedView v = view();
  v.members["n1"].role = "primary";
  FeedPlan p = plan_feed(v);
  EXPECT_EQ(p.add, (std::vector<FeedTarget>{{"N.2", "n_2", "10.0.0.3:2006"}}));
  EXPECT_EQ(find(p, "alice", "n1")->state, BootstrapState::kPending);
  EXPECT_EQ(find(p, "alice", "n1")->reason,
            "slot n1 is registered with role primary: not fed by placement");
  // A channel it has already (a promotion's, to the old primary) counts.
  v.channels["n1"] = {"10.0.0.2:2005", phase(store::ChannelPhase::kRolling)};
  EXPECT_EQ(find(plan_feed(v), "alice", "n1")->state, BootstrapState::kRolling);
}

TEST(ReplicaFeed, NoChannelAddedWhileTheSlotIsFailedOver) {
  FeedView v = view();
  v.failing_over = true;
  v.channels["n1"] = {"10.0.0.2:2005", phase(store::ChannelPhase::kRolling)};
  FeedPlan p = plan_feed(v);
  EXPECT_TRUE(p.add.empty());
  EXPECT_EQ(find(p, "bob", "N.2")->reason, "slot s0 is being failed over: no channel added");
  EXPECT_EQ(find(p, "alice", "n1")->state, BootstrapState::kRolling);
}

TEST(ReplicaFeed, KeysOfReplicasNoLongerNamedGo) {
  FeedView v = view();
  v.users[0].replicas = {};  // alice left n1
  v.keys = {{"alice", "n1", BootstrapState::kRolling, 1, ""},
            {"carol", "s0", BootstrapState::kRolling, 1, ""},  // n1's user
            {"gone", "n1", BootstrapState::kRolling, 1, ""}};  // no entry
  FeedPlan p = plan_feed(v);
  EXPECT_EQ(p.remove, (std::vector<std::pair<std::string, std::string>>{{"alice", "n1"}}));
}

TEST(ReplicaFeed, OwnedChannelsNoUserNeedsAreDroppedOthersKept) {
  FeedView v = view();
  v.channels["n1"] = {"10.0.0.2:2005", phase(store::ChannelPhase::kRolling)};
  v.channels["n_2"] = {"10.0.0.3:2006", phase(store::ChannelPhase::kRolling)};
  v.channels["old"] = {"10.0.0.4:2005", phase(store::ChannelPhase::kRolling)};     // owned
  v.channels["byhand"] = {"10.0.0.5:2005", phase(store::ChannelPhase::kRolling)};  // not
  v.owned = {"n1", "n_2", "old", "gone"};
  FeedPlan p = plan_feed(v);
  EXPECT_EQ(p.drop, (std::vector<std::string>{"old"}));
  EXPECT_EQ(p.disown, (std::vector<std::string>{"gone"}));  // not there: only forgotten
  // bob leaves N.2: its channel goes too; carol naming s0 counts for n1's
  // feeding, not this slot's.
  v.users[1].replicas = {"n1"};
  EXPECT_EQ(plan_feed(v).drop, (std::vector<std::string>{"n_2", "old"}));
  // Every user moved away: every owned channel goes.
  v.users[0].primary = v.users[1].primary = "n1";
  EXPECT_EQ(plan_feed(v).drop, (std::vector<std::string>{"n1", "n_2", "old"}));
}

TEST(ReplicaFeed, NothingDroppedWhileThisSlotIsPromotedOrFailedOver) {
  FeedView v = view();
  v.channels["old"] = {"10.0.0.4:2005", phase(store::ChannelPhase::kBootstrapping)};
  v.owned = {"old"};
  v.being_promoted = true;  // its users are not flipped to it yet
  EXPECT_TRUE(plan_feed(v).drop.empty());
  v.owned.insert("coming");  // recorded by the promotion, not added yet
  EXPECT_TRUE(plan_feed(v).disown.empty());
  v.owned.erase("coming");
  v.being_promoted = false;
  v.failing_over = true;  // the rejoin drops the channels itself
  EXPECT_TRUE(plan_feed(v).drop.empty());
  v.failing_over = false;
  EXPECT_EQ(plan_feed(v).drop, (std::vector<std::string>{"old"}));
}

TEST(ReplicaFeed, TheOwnedRecordSurvivesAndAMissingOneIsEmpty) {
  const std::string dir = testing::make_temp_dir("owned_channels");
  ASSERT_FALSE(dir.empty());
  const std::string path = owned_channels_path(dir);
  auto none = read_owned_channels(path);
  ASSERT_TRUE(none.ok()) << none.status().to_string();
  EXPECT_TRUE(none->empty());
  ASSERT_TRUE(write_owned_channels(path, {"n1", "n_2"}).is_ok());
  auto back = read_owned_channels(path);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, (std::set<std::string>{"n1", "n_2"}));
  ASSERT_TRUE(write_owned_channels(path, {}).is_ok());
  EXPECT_TRUE(read_owned_channels(path)->empty());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace replimail::cluster
