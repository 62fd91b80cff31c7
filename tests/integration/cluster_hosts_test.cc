// Issue 19's scenarios on three "hosts" (network namespaces on one bridge,
// cluster_hosts.h): slots on each host, a 3-member etcd with one member per
// host, nginx and mailauthd in front.
#include "cluster_hosts.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "digest_check.h"
#include "harness.h"

namespace replimail::testing {
namespace {

using namespace std::chrono_literals;

// Three primaries, one per host, each replicating to a replica slot on the
// next host; alice, bob and carol each on one primary.
std::string start_three_slots(ClusterHosts& hosts) {
  for (const SlotSpec& s : std::vector<SlotSpec>{{"r0", 1, "replica", {}},
                                                 {"r1", 2, "replica", {}},
                                                 {"r2", 0, "replica", {}},
                                                 {"s0", 0, "primary", {"r0"}},
                                                 {"s1", 1, "primary", {"r1"}},
                                                 {"s2", 2, "primary", {"r2"}}}) {
    if (auto e = hosts.start_slot(s); !e.empty()) return e;
  }
  for (const auto& [user, primary, replica] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"alice", "s0", "r0"}, {"bob", "s1", "r1"}, {"carol", "s2", "r2"}}) {
    if (auto e = hosts.set_user(user, primary, {replica}); !e.empty()) return e;
    auto made = hosts.slot(primary).tool("cyr_mbox", {"create", "user." + user});
    if (!made.ok()) return "cyr_mbox create user." + user + ": " + made.describe();
  }
  return "";
}

// The Subject lines of `user`'s INBOX read through nginx's IMAP.
RunResult imap_subjects(ClusterHosts& hosts, const std::string& user, const std::string& pass) {
  return hosts.front().python(
      "imap_script.py", {"--port", std::to_string(hosts.imap_port()), "--user", user + ":" + pass,
                         "SELECT INBOX", "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])"});
}

// The Subject of every message of `user`'s maildrop through nginx's POP3.
RunResult pop3_subjects(ClusterHosts& hosts, const std::string& user, const std::string& pass) {
  return run({"/usr/bin/python3", "-c",
              "import poplib\n"
              "p=poplib.POP3('127.0.0.1'," +
                  std::to_string(hosts.pop3_port()) +
                  ",timeout=30)\n"
                  "p.user('" +
                  user + "');p.pass_('" + pass +
                  "')\n"
                  "for i in range(1,len(p.list()[1])+1):\n"
                  "  print(b'\\n'.join(p.top(i,0)[1]).decode())\n"
                  "p.quit()\n"});
}

size_t count_of(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// One LMTP transaction through lmtpproxyd (py/lmtpkit.py): message `prefix`
// to `rcpts`; prints each recipient's reply as "<rcpt> <code> <text>" lines.
RunResult lmtp_transaction(ClusterHosts& hosts, const std::vector<std::string>& rcpts,
                           const std::string& prefix) {
  std::string list;
  for (const std::string& r : rcpts) list += (list.empty() ? "'" : ",'") + r + "'";
  return run({"/usr/bin/python3", "-c",
              "import sys\nsys.path.insert(0,'" + source_dir() +
                  "/tests/integration/py')\nimport lmtpkit\n"
                  "c=lmtpkit.connect(" +
                  std::to_string(hosts.lmtp_port()) + ")\nrcpts=[" + list +
                  "]\n"
                  "res=lmtpkit.deliver(c,'sender@example.com',rcpts,lmtpkit.make_message('" +
                  prefix +
                  "',0,rcpts[0]))\n"
                  "for r in rcpts: print(r,res[r][0],res[r][1])\n"
                  "c.quit()\n"});
}

TEST(ClusterHosts, MailRoutedByLmtpproxydReadThroughNginxReplicasEqual) {
  ClusterHosts hosts;
  if (auto why = hosts.unavailable(); !why.empty()) GTEST_SKIP() << why;
  ASSERT_EQ(hosts.start(), "") << hosts.logs();
  ASSERT_EQ(start_three_slots(hosts), "") << hosts.logs();

  // Each slot registered at its own host's address.
  for (const char* name : {"s0", "s1", "s2", "r0", "r1", "r2"}) {
    auto reg = hosts.directory().slot(name);
    ASSERT_TRUE(reg.ok() && reg->has_value()) << name;
    EXPECT_EQ((*reg)->host, hosts.address(hosts.host_of(name))) << name;
  }

  // Three messages, each to all three users in one transaction: lmtpproxyd
  // splits it into one transaction per slot, on three hosts.
  auto all = run({"/usr/bin/python3", py_script("lmtp_deliver.py"), "--port",
                  std::to_string(hosts.lmtp_port()), "--rcpt", "alice", "--rcpt", "bob", "--rcpt",
                  "carol", "-n", "3", "--prefix", "all"});
  ASSERT_TRUE(all.ok()) << all.describe() << hosts.logs();

  // A user the directory does not know: 550 at RCPT, the others delivered.
  auto mixed = lmtp_transaction(hosts, {"alice", "dave", "carol@example.org"}, "mixed");
  ASSERT_TRUE(mixed.ok()) << mixed.describe();
  EXPECT_NE(mixed.out.find("alice 250 "), std::string::npos) << mixed.out;
  EXPECT_NE(mixed.out.find("dave 550 5.1.1"), std::string::npos) << mixed.out;
  EXPECT_NE(mixed.out.find("carol@example.org 250 "), std::string::npos) << mixed.out;

  // bob's move (its key, docs/CLUSTER.md): still copying, his mail goes to
  // his primary; fenced, 451 4.2.1 and the MTA retries; delivered again
  // once the key is gone.
  const std::string move_key = hosts.directory().layout().move_key("bob");
  cluster::MoveRecord move;
  move.user = "bob";
  move.source = "s1";
  move.target = "s0";
  move.phase = cluster::MovePhase::kCopying;
  ASSERT_TRUE(hosts.directory().etcd().put(move_key, cluster::encode_move(move)).ok());
  auto copying = lmtp_transaction(hosts, {"bob"}, "copying");
  ASSERT_TRUE(copying.ok()) << copying.describe();
  EXPECT_NE(copying.out.find("bob 250 "), std::string::npos) << copying.out;
  move.phase = cluster::MovePhase::kFenced;
  ASSERT_TRUE(hosts.directory().etcd().put(move_key, cluster::encode_move(move)).ok());
  auto fenced = lmtp_transaction(hosts, {"bob", "alice"}, "fenced");
  ASSERT_TRUE(fenced.ok()) << fenced.describe();
  EXPECT_NE(fenced.out.find("bob 451 4.2.1"), std::string::npos) << fenced.out;
  EXPECT_NE(fenced.out.find("alice 250 "), std::string::npos) << fenced.out;
  ASSERT_TRUE(hosts.directory().etcd().erase(move_key).ok());
  auto unfenced = lmtp_transaction(hosts, {"bob"}, "unfenced");
  ASSERT_TRUE(unfenced.ok()) << unfenced.describe();
  EXPECT_NE(unfenced.out.find("bob 250 "), std::string::npos) << unfenced.out;

  // Read through nginx: each login lands on the user's primary, on its
  // host, and finds what lmtpproxyd delivered for it, nothing else.
  const std::map<std::string, std::vector<std::string>> expected = {
      {"alice", {"all 0", "all 1", "all 2", "mixed 0", "fenced 0"}},
      {"bob", {"all 0", "all 1", "all 2", "copying 0", "unfenced 0"}},
      {"carol", {"all 0", "all 1", "all 2", "mixed 0"}}};
  for (const auto& [user, subjects] : expected) {
    auto r = imap_subjects(hosts, user, user == "alice" ? "alicepw" : user + "pw");
    ASSERT_TRUE(r.ok()) << r.describe() << hosts.logs();
    for (const std::string& subject : subjects)
      EXPECT_EQ(count_of(r.out, "Subject: test " + subject + "\r"), 1u) << user << ": " << r.out;
    EXPECT_EQ(count_of(r.out, "Subject: "), subjects.size()) << user << ": " << r.out;
  }
  auto pop = pop3_subjects(hosts, "bob", "bobpw");
  ASSERT_TRUE(pop.ok()) << pop.describe();
  EXPECT_EQ(count_of(pop.out, "Subject: test "), 5u) << pop.out;
  EXPECT_EQ(count_of(pop.out, "Subject: test unfenced 0"), 1u) << pop.out;

  // Each replica converges on its primary (rolling replication between
  // hosts) and the primaries hold the mail (what nginx read).
  EXPECT_TRUE(converges_to_same_digest(hosts.slot("s0"), hosts.slot("r0"), 30s));
  EXPECT_TRUE(converges_to_same_digest(hosts.slot("s1"), hosts.slot("r1"), 30s));
  EXPECT_TRUE(converges_to_same_digest(hosts.slot("s2"), hosts.slot("r2"), 30s));
  EXPECT_EQ(live_records(hosts.slot("s0"), "user.alice"), 5u);

  // carol's slot stopped (its clusterd revokes the lease): 451, not 550.
  hosts.slot("s2").stop();
  ASSERT_TRUE(wait_until([&] {
    auto s = hosts.directory().slot("s2");
    return s.ok() && !s->has_value();
  }));
  auto down = lmtp_transaction(hosts, {"carol", "alice"}, "down");
  ASSERT_TRUE(down.ok()) << down.describe();
  EXPECT_NE(down.out.find("carol 451 "), std::string::npos) << down.out;
  EXPECT_NE(down.out.find("alice 250 "), std::string::npos) << down.out;
}

TEST(ClusterHosts, HostCutOffLeavesTheDirectoryAndRejoinsWhenItsLinkIsBack) {
  // No failover here (a controller is failover19's): what the fixture's cut
  // does to the cluster. Host 2 holds carol's primary s2, bob's replica r1
  // and one of the three etcd members.
  ClusterHosts hosts;
  if (auto why = hosts.unavailable(); !why.empty()) GTEST_SKIP() << why;
  ASSERT_EQ(hosts.start(), "") << hosts.logs();
  ASSERT_EQ(start_three_slots(hosts), "") << hosts.logs();
  auto before = lmtp_transaction(hosts, {"carol", "bob"}, "before");
  ASSERT_TRUE(before.ok()) << before.describe();
  EXPECT_NE(before.out.find("carol 250 "), std::string::npos) << before.out;

  ASSERT_EQ(hosts.cut(2), "");
  auto cut_at = std::chrono::steady_clock::now();
  // Its slots' leases are renewed nowhere (its etcd member has no quorum
  // alone): they leave the directory one TTL (3 s) after the last renewal.
  auto gone = [&](const char* slot) {
    auto s = hosts.directory().slot(slot);
    return s.ok() && !s->has_value();
  };
  ASSERT_TRUE(wait_until([&] { return gone("s2") && gone("r1"); }, 30s)) << hosts.logs();
  std::printf("host 2 cut: its slots left the directory after %lld ms (lease TTL 3 s)\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - cut_at)
                                         .count()));
  for (const char* alive : {"s0", "s1", "r0", "r2"}) EXPECT_FALSE(gone(alive)) << alive;

  // carol's mail is deferred (451: the MTA keeps it), the others' goes on;
  // her login is refused as temporary, alice's still served.
  auto during = lmtp_transaction(hosts, {"carol", "alice", "bob"}, "during");
  ASSERT_TRUE(during.ok()) << during.describe();
  EXPECT_NE(during.out.find("carol 451 "), std::string::npos) << during.out;
  EXPECT_NE(during.out.find("alice 250 "), std::string::npos) << during.out;
  EXPECT_NE(during.out.find("bob 250 "), std::string::npos) << during.out;
  auto carol_login = imap_subjects(hosts, "carol", "carolpw");
  EXPECT_FALSE(carol_login.ok()) << carol_login.describe();
  auto alice_login = imap_subjects(hosts, "alice", "alicepw");
  ASSERT_TRUE(alice_login.ok()) << alice_login.describe();
  EXPECT_EQ(count_of(alice_login.out, "Subject: test during 0\r"), 1u) << alice_login.out;

  // The link back: the slots register again by themselves, carol is
  // delivered to and served again, and bob's replica on host 2 catches up
  // with what his primary took during the cut.
  ASSERT_EQ(hosts.restore(2), "");
  ASSERT_TRUE(wait_until([&] { return !gone("s2") && !gone("r1"); }, 60s)) << hosts.logs();
  auto after = lmtp_transaction(hosts, {"carol"}, "after");
  ASSERT_TRUE(after.ok()) << after.describe();
  EXPECT_NE(after.out.find("carol 250 "), std::string::npos) << after.out;
  auto carol = imap_subjects(hosts, "carol", "carolpw");
  ASSERT_TRUE(carol.ok()) << carol.describe() << hosts.logs();
  EXPECT_EQ(count_of(carol.out, "Subject: test before 0\r"), 1u) << carol.out;
  EXPECT_EQ(count_of(carol.out, "Subject: test after 0\r"), 1u) << carol.out;
  EXPECT_EQ(count_of(carol.out, "Subject: test during 0\r"), 0u) << carol.out;
  EXPECT_TRUE(converges_to_same_digest(hosts.slot("s1"), hosts.slot("r1"), 60s));
  EXPECT_TRUE(converges_to_same_digest(hosts.slot("s2"), hosts.slot("r2"), 60s));
}

}  // namespace
}  // namespace replimail::testing
