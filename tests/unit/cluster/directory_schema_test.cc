// The cluster directory's keys and values (docs/CLUSTER.md's layout).
#include "cluster/directory_schema.h"

#include <gtest/gtest.h>

namespace replimail::cluster {
namespace {

KeyLayout layout() { return *KeyLayout::make("/replimail"); }

TEST(DirectorySchema, KeysFollowTheDocumentedLayout) {
  KeyLayout l = layout();
  EXPECT_EQ(l.prefix(), "/replimail/");
  EXPECT_EQ(l.slot_key("slot1"), "/replimail/slots/slot1");
  EXPECT_EQ(l.user_key("alice"), "/replimail/users/alice");
  EXPECT_EQ(l.bootstrap_key("alice", "slot2"), "/replimail/bootstrap/alice/slot2");
  EXPECT_FALSE(KeyLayout::make("replimail/").ok());
  EXPECT_FALSE(KeyLayout::make("").ok());
}

TEST(DirectorySchema, ParseIsTheInverseOfTheKeyMakers) {
  KeyLayout l = layout();
  auto s = l.parse(l.slot_key("host-a.1"));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->kind, KeyLayout::Parsed::Kind::kSlot);
  EXPECT_EQ(s->slot, "host-a.1");
  auto u = l.parse(l.user_key("bob.smith@example.org"));
  ASSERT_TRUE(u);
  EXPECT_EQ(u->kind, KeyLayout::Parsed::Kind::kUser);
  EXPECT_EQ(u->user, "bob.smith@example.org");
  auto b = l.parse(l.bootstrap_key("bob", "s2"));
  ASSERT_TRUE(b);
  EXPECT_EQ(b->kind, KeyLayout::Parsed::Kind::kBootstrap);
  EXPECT_EQ(b->user, "bob");
  EXPECT_EQ(b->slot, "s2");
  // Outside the layout, or a bad name in it.
  EXPECT_FALSE(l.parse("/other/slots/x"));
  EXPECT_FALSE(l.parse("/replimail/slots/"));
  EXPECT_FALSE(l.parse("/replimail/slots/a/b"));
  EXPECT_FALSE(l.parse("/replimail/users/a b"));
  EXPECT_FALSE(l.parse("/replimail/bootstrap/bob"));
  EXPECT_FALSE(l.parse("/replimail/bootstrap/bob/s 2"));
  EXPECT_FALSE(l.parse("/replimail/hosts/x"));
}

TEST(DirectorySchema, NamesAreChecked) {
  EXPECT_TRUE(check_slot_name("a-Z_0.9").is_ok());
  EXPECT_FALSE(check_slot_name("").is_ok());
  EXPECT_FALSE(check_slot_name("a/b").is_ok());
  EXPECT_FALSE(check_slot_name(std::string(65, 'a')).is_ok());
  EXPECT_TRUE(check_user_name("alice.b@example.org").is_ok());
  EXPECT_FALSE(check_user_name("").is_ok());
  EXPECT_FALSE(check_user_name("a/b").is_ok());
  EXPECT_FALSE(check_user_name("a\nb").is_ok());
  EXPECT_FALSE(check_user_name("a b").is_ok());
}

TEST(DirectorySchema, SlotValuesRoundTripAndBadOnesAreRefused) {
  SlotInfo s;
  s.name = "slot1";
  s.host = "10.0.0.1";
  s.imap_port = 143;
  s.lmtp_port = 2003;
  s.sync_port = 2005;
  s.role = "replica";
  s.started = 1764900000;
  auto back = decode_slot("slot1", encode_slot(s));
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->name, "slot1");
  EXPECT_EQ(back->host, "10.0.0.1");
  EXPECT_EQ(back->imap_port, 143);
  EXPECT_EQ(back->pop3_port, 0);
  EXPECT_EQ(back->lmtp_port, 2003);
  EXPECT_EQ(back->sync_port, 2005);
  EXPECT_EQ(back->role, "replica");
  EXPECT_EQ(back->started, 1764900000);
  // Unknown fields are a later version's: ignored.
  EXPECT_TRUE(decode_slot("s", R"({"host":"h","zone":"b"})").ok());
  for (const char* bad : {"", "[]", "{", R"({"role":"primary"})", R"({"host":7})",
                          R"({"host":"h","imap_port":"143"})", R"({"host":"h","imap_port":70000})",
                          R"({"host":"h","role":"leader"})"}) {
    auto r = decode_slot("s", bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Code::kProtocolError) << bad;
    }
  }
}

TEST(DirectorySchema, UserValuesRoundTripAndInconsistentOnesAreRefused) {
  UserEntry u;
  u.user = "alice";
  u.primary = "s1";
  u.replicas = {"s2", "s3"};
  auto back = decode_user("alice", encode_user(u));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->user, "alice");
  EXPECT_EQ(back->primary, "s1");
  EXPECT_EQ(back->replicas, (std::vector<std::string>{"s2", "s3"}));
  EXPECT_TRUE(decode_user("alice", R"({"primary":"s1"})").ok());
  for (const char* bad :
       {R"({})", R"({"primary":"s1","replicas":["s1"]})",
        R"({"primary":"s1","replicas":["s2","s2"]})", R"({"primary":"s1","replicas":"s2"})",
        R"({"primary":"a/b"})", R"({"primary":"s1","replicas":[3]})"}) {
    EXPECT_FALSE(decode_user("alice", bad).ok()) << bad;
  }
}

TEST(DirectorySchema, FlippingThePrimaryKeepsTheOldOneAsAReplica) {
  UserEntry u;
  u.user = "alice";
  u.primary = "s1";
  u.replicas = {"s2", "s3"};
  UserEntry f = with_primary(u, "s3");
  EXPECT_EQ(f.primary, "s3");
  EXPECT_EQ(f.replicas, (std::vector<std::string>{"s1", "s2"}));
  EXPECT_TRUE(decode_user("alice", encode_user(f)).ok());
  // A slot that was no replica becomes the primary all the same.
  EXPECT_EQ(with_primary(u, "s9").replicas, (std::vector<std::string>{"s1", "s2", "s3"}));
  EXPECT_EQ(with_primary(u, "s1").replicas, u.replicas);
}

TEST(DirectorySchema, BootstrapValuesRoundTrip) {
  ReplicaBootstrap b;
  b.user = "alice";
  b.slot = "s2";
  b.state = BootstrapState::kFailed;
  b.since = 17;
  b.reason = "login refused";
  auto back = decode_bootstrap("alice", "s2", encode_bootstrap(b));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->state, BootstrapState::kFailed);
  EXPECT_EQ(back->since, 17);
  EXPECT_EQ(back->reason, "login refused");
  for (auto s : {BootstrapState::kPending, BootstrapState::kBootstrapping, BootstrapState::kRolling,
                 BootstrapState::kFailed}) {
    EXPECT_EQ(parse_bootstrap_state(bootstrap_state_name(s)), s);
  }
  EXPECT_FALSE(decode_bootstrap("alice", "s2", R"({"state":"done"})").ok());
  EXPECT_FALSE(decode_bootstrap("alice", "s2", R"({"since":1})").ok());
}

TEST(DirectorySchema, MoveKeysAndValuesRoundTrip) {
  KeyLayout l = layout();
  EXPECT_EQ(l.move_key("alice"), "/replimail/moves/alice");
  auto k = l.parse(l.move_key("alice"));
  ASSERT_TRUE(k);
  EXPECT_EQ(k->kind, KeyLayout::Parsed::Kind::kMove);
  EXPECT_EQ(k->user, "alice");
  EXPECT_FALSE(l.parse("/replimail/moves/a b"));

  MoveRecord m;
  m.user = "alice";
  m.source = "s1";
  m.target = "s2";
  m.phase = MovePhase::kSwitched;
  m.started = 10;
  m.since = 12;
  m.keep_source = false;
  // The documented format (docs/CLUSTER.md), which lmtpproxyd reads too.
  EXPECT_EQ(encode_move(m),
            R"({"keep_source":false,"phase":"switched","since":12,"source":"s1","started":10,)"
            R"("target":"s2"})");
  auto back = decode_move("alice", encode_move(m));
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->source, "s1");
  EXPECT_EQ(back->target, "s2");
  EXPECT_EQ(back->phase, MovePhase::kSwitched);
  EXPECT_EQ(back->started, 10);
  EXPECT_EQ(back->since, 12);
  EXPECT_FALSE(back->keep_source);
  EXPECT_TRUE(move_is_fenced(*back));
  back->phase = MovePhase::kCopying;
  EXPECT_FALSE(move_is_fenced(*back));
  for (auto p : {MovePhase::kCopying, MovePhase::kFenced, MovePhase::kSwitched})
    EXPECT_EQ(parse_move_phase(move_phase_name(p)), p);
  // keep_source left out means true.
  auto kept = decode_move("alice", R"({"source":"s1","target":"s2","phase":"fenced"})");
  ASSERT_TRUE(kept.ok());
  EXPECT_TRUE(kept->keep_source);
  EXPECT_TRUE(move_is_fenced(*kept));
  EXPECT_FALSE(decode_move("alice", R"({"source":"s1","target":"s1","phase":"fenced"})").ok());
  EXPECT_FALSE(decode_move("alice", R"({"source":"s1","target":"s2","phase":"done"})").ok());
  EXPECT_FALSE(decode_move("alice", R"({"source":"s1","phase":"fenced"})").ok());
  EXPECT_FALSE(decode_move("alice", R"({"source":"s1","target":"s2","phase":"fenced",)"
                                    R"("keep_source":"yes"})")
                   .ok());
}

}  // namespace
}  // namespace replimail::cluster
