// Replica placement (cluster/placement.h): other hosts than the primary's
// and than each other's, the primary's existing replica slots first, then
// the least loaded, and a refusal naming the hosts when too few remain.
#include "cluster/placement.h"

#include <gtest/gtest.h>

namespace replimail::cluster {
namespace {

// Hosts h1..h3: a1, a2 on h1; b1, b2 on h2; c1 on h3. All alive.
PlacementView three_hosts() {
  PlacementView v;
  v.candidates = {{"a1", "h1"}, {"a2", "h1"}, {"b1", "h2"}, {"b2", "h2"}, {"c1", "h3"}};
  v.known = v.candidates;
  return v;
}

UserEntry user(const std::string& name, const std::string& primary,
               std::vector<std::string> replicas = {}) {
  return UserEntry{name, primary, std::move(replicas), 7};
}

TEST(Placement, ReplicasOnOtherHostsThanThePrimaryAndEachOther) {
  PlacementView v = three_hosts();
  v.users = {user("alice", "a1")};
  auto p = place_replicas(v, v.users[0], 2);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  // a2 shares a1's host; b1 and b2 share one host: one of them and c1.
  EXPECT_EQ(p->entry.replicas, (std::vector<std::string>{"b1", "c1"}));
  EXPECT_EQ(p->added, p->entry.replicas);
  EXPECT_EQ(p->entry.primary, "a1");
  EXPECT_EQ(p->entry.mod_revision, 7);  // the compare-and-swap's base
}

TEST(Placement, RefusesWithTheReasonWhenTooFewHosts) {
  PlacementView v = three_hosts();
  v.users = {user("alice", "a1")};
  auto p = place_replicas(v, v.users[0], 3);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), Code::kAgain);
  EXPECT_NE(p.status().message().find("3 replica(s) wanted"), std::string::npos)
      << p.status().message();
  EXPECT_NE(p.status().message().find("only 2 such host(s)"), std::string::npos);
  EXPECT_NE(p.status().message().find("b1@h2"), std::string::npos);
  // One host only: no replica at all.
  PlacementView one;
  one.candidates = {{"a1", "h1"}, {"a2", "h1"}};
  one.known = one.candidates;
  EXPECT_EQ(place_replicas(one, user("bob", "a1"), 1).status().code(), Code::kAgain);
  // An unknown primary: its host cannot be told.
  EXPECT_EQ(place_replicas(v, user("carol", "zz"), 1).status().code(), Code::kNotFound);
}

TEST(Placement, FewestUsersFirst) {
  PlacementView v = three_hosts();
  // b1 holds two users, b2 none, c1 one.
  v.users = {user("u1", "b1"), user("u2", "c1", {"b1"}), user("alice", "a1")};
  auto p = place_replicas(v, v.users[2], 1);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->entry.replicas, (std::vector<std::string>{"b2"}));
  auto two = place_replicas(v, v.users[2], 2);
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->entry.replicas, (std::vector<std::string>{"b2", "c1"}));
}

TEST(Placement, TheSlotsThePrimaryFeedsAlreadyComeFirst) {
  PlacementView v = three_hosts();
  // a1 feeds c1 already (bob), though c1 is the busiest.
  v.users = {user("bob", "a1", {"c1"}), user("x", "c1"), user("y", "c1"), user("alice", "a1")};
  auto p = place_replicas(v, v.users[3], 1);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->entry.replicas, (std::vector<std::string>{"c1"}));
}

TEST(Placement, KeepsGoodReplicasDropsBadOnesAndOnlyAdds) {
  PlacementView v = three_hosts();
  v.known["gone"] = "h2";  // known, dead: kept
  v.candidates.erase("b1");
  v.known.erase("b1");  // removed from the cluster: dropped
  // a2 is on the primary's host, c1 twice: dropped.
  UserEntry alice = user("alice", "a1", {"a2", "gone", "b1", "c1", "c1"});
  v.users = {alice};
  auto p = place_replicas(v, alice, 2);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->entry.replicas, (std::vector<std::string>{"gone", "c1"}));
  EXPECT_TRUE(p->added.empty());
  EXPECT_EQ(p->dropped, (std::vector<std::string>{"a2", "b1", "c1"}));
  // Enough already: nothing changes, even when fewer are wanted.
  UserEntry bob = user("bob", "a1", {"b2", "c1"});
  auto same = place_replicas(v, bob, 1);
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(same->changed());
  EXPECT_EQ(same->entry.replicas, bob.replicas);
}

TEST(Placement, ARoundPlacesAPrimarysUsersOnTheSameReplicaSlots) {
  PlacementView v;
  v.candidates = {{"s0", "h0"}, {"n1", "h1"}, {"n2", "h2"}};
  v.known = v.candidates;
  v.users = {user("alice", "s0"), user("bob", "s0"), user("carol", "s0", {"n2"}),
             user("dave", "n1")};
  PlacementRound r = place_users(v, {"alice", "bob", "carol", "dave", "nobody"}, 1);
  // n1 holds dave, n2 carol: equal load, n2 is fed by s0 already.
  ASSERT_EQ(r.placed.size(), 3u);
  EXPECT_EQ(r.placed[0].entry.replicas, (std::vector<std::string>{"n2"}));
  EXPECT_EQ(r.placed[1].entry.replicas, (std::vector<std::string>{"n2"}));
  EXPECT_EQ(r.placed[2].entry.user, "dave");
  EXPECT_EQ(r.placed[2].entry.replicas, (std::vector<std::string>{"n2"}));
  ASSERT_EQ(r.refused.size(), 1u);
  EXPECT_NE(r.refused[0].find("nobody"), std::string::npos);
}

}  // namespace
}  // namespace replimail::cluster
