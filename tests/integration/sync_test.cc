// Replication end to end: a primary and a replica instance on loopback, mail
// delivered to the primary over LMTP, sync_client -u against the replica's
// sync_server, then both stores compared record by record (UIDs, MODSEQs,
// flags, dates, GUIDs, counters) and file by file. Changes made on the
// primary through the store (as imapd makes them) must converge again, and
// a repeated sync must upload nothing.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "common/config.h"
#include "harness.h"
#include "store/instance.h"
#include "store/staged_message.h"

namespace replimail::testing {
namespace {

Instance::Options replica_options() {
  Instance::Options o;
  o.services = {{"lmtp", "lmtpd -a"}, {"csync", "sync_server"}};
  o.imapd_extra = {"failedloginpause: 0"};
  return o;
}

Instance::Options primary_options() {
  Instance::Options o;
  o.users = {{"admin", "adminpw"}};
  o.imapd_extra = {"sync_authname: admin", "sync_password: adminpw"};
  return o;
}

// The primary's store, opened by the test as imapd would open it.
std::unique_ptr<store::Instance> open_store(const Instance& inst) {
  auto cfg = Config::load(inst.imapd_conf());
  EXPECT_TRUE(cfg.ok());
  auto s = store::Instance::open(*cfg);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  return std::move(*s);
}

RunResult sync_user(const Instance& primary, const Instance& replica, const std::string& user,
                    std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"-v", "-S",
                                   "127.0.0.1:" + std::to_string(replica.port("csync"))};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back("-u");
  args.push_back(user);
  return primary.tool("sync_client", args);
}

// Both copies of `name` are identical: counters, every record, every file.
// With `live_only`, expunged records are left out: after a split brain each
// side keeps its own expunged copy of the conflicting UID, as Cyrus does.
void expect_same_mailbox(const Instance& primary, const Instance& replica, const std::string& name,
                         bool live_only = false) {
  auto p = primary.snapshot(name);
  auto r = replica.snapshot(name);
  if (live_only) {
    for (auto* snap : {&p, &r})
      std::erase_if(snap->records, [](const store::IndexRecord& x) { return x.expunged(); });
  }
  ASSERT_EQ(p.error, "") << name;
  ASSERT_EQ(r.error, "") << name;
  EXPECT_EQ(p.counters, r.counters) << name;
  ASSERT_EQ(p.records.size(), r.records.size()) << name;
  for (size_t i = 0; i < p.records.size(); i++) {
    EXPECT_EQ(p.records[i], r.records[i]) << name << " record " << i;
    if (p.records[i].expunged()) continue;
    std::string file = "/" + std::to_string(p.records[i].uid) + ".";
    EXPECT_EQ(sha1_file(r.dir + file), p.records[i].guid) << name << file;
  }
}

std::string deliver(const Instance& primary, const std::string& rcpt, int n,
                    const std::string& prefix) {
  auto r =
      primary.python("lmtp_deliver.py", {"--port", std::to_string(primary.lmtp_port()), "-n",
                                         std::to_string(n), "--rcpt", rcpt, "--prefix", prefix});
  return r.ok() ? "" : r.describe();
}

Status append_text(store::Instance& st, const std::string& mailbox, const std::string& text) {
  auto msg = st.stage_message();
  if (!msg.ok()) return msg.status();
  Status s = (*msg)->write(text);
  if (s) s = (*msg)->finish();
  if (!s) return s;
  store::AppendRequest req;
  req.mailbox = mailbox;
  req.message = msg->get();
  return st.append({req})[0].status;
}

TEST(Sync, UserSyncReplicatesAndConverges) {
  Instance replica(replica_options());
  ASSERT_EQ(replica.start(), "");
  Instance primary(primary_options());
  ASSERT_EQ(primary.start(), "");
  ASSERT_TRUE(primary.tool("cyr_mbox", {"create", "user.alice"}).ok());
  ASSERT_TRUE(primary.tool("cyr_mbox", {"create", "user.alice.Sent"}).ok());
  ASSERT_TRUE(primary.tool("cyr_mbox", {"create", "user.alice.Trash"}).ok());
  ASSERT_EQ(deliver(primary, "alice", 30, "a"), "");
  {
    auto st = open_store(primary);
    for (int i = 0; i < 5; i++)
      ASSERT_TRUE(append_text(*st, "user.alice.Sent",
                              "Subject: sent " + std::to_string(i) + "\r\n\r\nbody\r\n"));
    ASSERT_TRUE(st->set_subscribed("alice", "user.alice.Sent", true));
    ASSERT_TRUE(st->store_flags("user.alice", {1, 2, 3}, store::kFlagSeen, {"$Label1"}, true));
    ASSERT_TRUE(st->expunge("user.alice", {4}));
    ASSERT_TRUE(st->set_quota("user.alice", 100000, -1));
  }

  auto first = sync_user(primary, replica, "alice");
  ASSERT_TRUE(first.ok()) << first.describe();
  EXPECT_NE(first.out.find("uploaded 34 messages"), std::string::npos) << first.out;
  for (const char* m : {"user.alice", "user.alice.Sent", "user.alice.Trash"})
    expect_same_mailbox(primary, replica, m);
  {
    auto rs = open_store(replica);
    auto subs = rs->userdata().subscriptions("alice");
    ASSERT_TRUE(subs.ok());
    EXPECT_EQ(*subs, std::vector<std::string>{"user.alice.Sent"});
    auto q = rs->quota().get("user.alice");
    ASSERT_TRUE(q.ok());
    EXPECT_EQ(q->storage_limit_kib, 100000);
  }

  // Idempotent: nothing to send the second time.
  auto again = sync_user(primary, replica, "alice");
  ASSERT_TRUE(again.ok()) << again.describe();
  EXPECT_NE(again.out.find("uploaded 0 messages"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("applied 0 mailboxes"), std::string::npos) << again.out;

  // Flag change, expunge, rename, delete and a new delivery on the primary.
  {
    auto st = open_store(primary);
    ASSERT_TRUE(st->store_flags("user.alice", {1}, store::kFlagSeen, {}, false));
    ASSERT_TRUE(st->store_flags("user.alice", {5, 6}, store::kFlagFlagged, {"$Important"}, true));
    ASSERT_TRUE(st->expunge("user.alice", {7, 8}));
    ASSERT_TRUE(st->rename_mailbox("user.alice.Sent", "user.alice.Archive"));
    ASSERT_TRUE(st->delete_mailbox("user.alice.Trash"));
    ASSERT_TRUE(st->set_subscribed("alice", "user.alice.Sent", false));
    ASSERT_TRUE(st->set_subscribed("alice", "user.alice.Archive", true));
  }
  ASSERT_EQ(deliver(primary, "alice", 3, "b"), "");
  auto third = sync_user(primary, replica, "alice");
  ASSERT_TRUE(third.ok()) << third.describe();
  EXPECT_NE(third.out.find("uploaded 3 messages"), std::string::npos) << third.out;
  expect_same_mailbox(primary, replica, "user.alice");
  expect_same_mailbox(primary, replica, "user.alice.Archive");
  EXPECT_NE(replica.snapshot("user.alice.Trash").error, "");
  EXPECT_NE(replica.snapshot("user.alice.Sent").error, "");
  {
    auto rs = open_store(replica);
    auto subs = rs->userdata().subscriptions("alice");
    ASSERT_TRUE(subs.ok());
    EXPECT_EQ(*subs, std::vector<std::string>{"user.alice.Archive"});
  }
  auto fourth = sync_user(primary, replica, "alice");
  ASSERT_TRUE(fourth.ok()) << fourth.describe();
  EXPECT_NE(fourth.out.find("uploaded 0 messages"), std::string::npos) << fourth.out;
}

TEST(Sync, SplitBrainKeepsBothMessages) {
  Instance replica(replica_options());
  ASSERT_EQ(replica.start(), "");
  Instance primary(primary_options());
  ASSERT_EQ(primary.start(), "");
  ASSERT_TRUE(primary.tool("cyr_mbox", {"create", "user.bob"}).ok());
  ASSERT_EQ(deliver(primary, "bob", 3, "p"), "");
  auto first = sync_user(primary, replica, "bob");
  ASSERT_TRUE(first.ok()) << first.describe();
  // Each side gets a different message at UID 4.
  {
    auto rs = open_store(replica);
    ASSERT_TRUE(append_text(*rs, "user.bob", "Subject: replica only\r\n\r\nr\r\n"));
    auto ps = open_store(primary);
    ASSERT_TRUE(append_text(*ps, "user.bob", "Subject: primary only\r\n\r\np\r\n"));
  }
  auto second = sync_user(primary, replica, "bob");
  ASSERT_TRUE(second.ok()) << second.describe();
  expect_same_mailbox(primary, replica, "user.bob", true);
  auto snap = primary.snapshot("user.bob");
  size_t live = 0;
  for (const auto& r : snap.records) live += r.expunged() ? 0 : 1;
  EXPECT_EQ(live, 5u);
}

TEST(Sync, WrongPasswordAndNonAdminAreRefused) {
  Instance::Options ro = replica_options();
  ro.users = {{"admin", "adminpw"}, {"mallory", "secret"}};
  Instance replica(ro);
  ASSERT_EQ(replica.start(), "");
  Instance::Options po = primary_options();
  po.imapd_extra = {"sync_authname: admin", "sync_password: wrong"};
  Instance primary(po);
  ASSERT_EQ(primary.start(), "");
  ASSERT_TRUE(primary.tool("cyr_mbox", {"create", "user.carol"}).ok());
  auto bad = sync_user(primary, replica, "carol");
  EXPECT_EQ(bad.exit_code, 1) << bad.describe();
  primary.stop();

  Instance::Options po2 = primary_options();
  po2.imapd_extra = {"sync_authname: mallory", "sync_password: secret"};
  Instance primary2(po2);
  ASSERT_EQ(primary2.start(), "");
  ASSERT_TRUE(primary2.tool("cyr_mbox", {"create", "user.carol"}).ok());
  auto denied = sync_user(primary2, replica, "carol");
  EXPECT_EQ(denied.exit_code, 1) << denied.describe();
  EXPECT_NE(denied.err.find("IMAP_PERMISSION_DENIED"), std::string::npos) << denied.describe();
  EXPECT_NE(replica.snapshot("user.carol").error, "");

  // The server is still up and serves an admin.
  Instance::Options po3 = primary_options();
  Instance primary3(po3);
  ASSERT_EQ(primary3.start(), "");
  ASSERT_TRUE(primary3.tool("cyr_mbox", {"create", "user.carol"}).ok());
  auto good = sync_user(primary3, replica, "carol");
  EXPECT_TRUE(good.ok()) << good.describe();
  EXPECT_EQ(replica.snapshot("user.carol").error, "");
}

}  // namespace
}  // namespace replimail::testing
