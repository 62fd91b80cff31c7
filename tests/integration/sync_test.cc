// Replication end to end: a primary and a replica instance on loopback, mail
// delivered to the primary over LMTP, sync_client -u against the replica's
// sync_server, then both stores compared record by record (UIDs, MODSEQs,
// flags, dates, GUIDs, counters) and file by file. Changes made on the
// primary through the store (as imapd makes them) must converge again, and
// a repeated sync must upload nothing.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/config.h"
#include "dlist/parser.h"
#include "cyrus_peer.h"
#include "digest_check.h"
#include "harness.h"
#include "net/socket.h"
#include "replication.h"
#include "store/instance.h"
#include "store/mailbox_index.h"
#include "store/message_cache.h"
#include "store/sqlite_db.h"

namespace replimail::testing {
namespace {

// The same text appended twice, 1,024 messages apart: its GUID comes again
// in the mailbox's second APPLY MESSAGE (sync_client sends at most 1,024
// files per command), made before the reply to the first is read. It is
// uploaded once.
TEST(Sync, AGuidRepeatedInTheNextUploadCommandIsUploadedOnce) {
  Instance replica(replica_options());
  ASSERT_EQ(replica.start(), "");
  Instance primary(primary_options(replica.port("csync")));
  ASSERT_EQ(primary.start(), "");
  ASSERT_TRUE(primary.tool("cyr_mbox", {"create", "user.alice"}).ok());
  {
    auto st = open_store(primary);
    const std::string twice = "Subject: twice\r\n\r\nthe same bytes\r\n";
    ASSERT_TRUE(append_text(*st, "user.alice", twice));
    for (int i = 2; i <= 1024; i++)
      ASSERT_TRUE(append_text(*st, "user.alice",
                              "Subject: m" + std::to_string(i) + "\r\n\r\nbody\r\n"));
    ASSERT_TRUE(append_text(*st, "user.alice", twice));
  }
  auto first = sync_user(primary, replica, "alice");
  ASSERT_TRUE(first.ok()) << first.describe();
  EXPECT_NE(first.out.find("uploaded 1024 messages"), std::string::npos) << first.out;
  EXPECT_TRUE(same_mailbox(primary, replica, "user.alice"));
  EXPECT_SAME_DIGEST(primary, replica);
}

TEST(Sync, UserSyncReplicatesAndConverges) {
  Instance replica(replica_options());
  ASSERT_EQ(replica.start(), "");
  Instance primary(primary_options(replica.port("csync")));
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
    // An administrator's \Seen on alice's mailbox: kept in admin's seen
    // state (imapd's set_seen for a non-owner), replicated with alice.
    auto inbox = st->lookup("user.alice");
    ASSERT_TRUE(inbox.ok());
    store::SeenRecord seen;
    seen.uniqueid = inbox->uniqueid;
    seen.lastread = 1700000000;
    seen.lastuid = 30;
    seen.lastchange = 1700000000;
    seen.seenuids = "1:3,9";
    ASSERT_TRUE(st->set_seen("admin", seen));
  }

  auto first = sync_user(primary, replica, "alice");
  ASSERT_TRUE(first.ok()) << first.describe();
  EXPECT_NE(first.out.find("uploaded 34 messages"), std::string::npos) << first.out;
  for (const char* m : {"user.alice", "user.alice.Sent", "user.alice.Trash"})
    EXPECT_TRUE(same_mailbox(primary, replica, m));
  EXPECT_SAME_DIGEST(primary, replica);
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
  EXPECT_TRUE(same_mailbox(primary, replica, "user.alice"));
  EXPECT_TRUE(same_mailbox(primary, replica, "user.alice.Archive"));
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
  EXPECT_SAME_DIGEST(primary, replica);
}

// The replica writes each new record's message cache with the record
// (MailboxTxn::put_record): every cache row must be what parsing the
// record's file gives, for messages of every structure (tests/data/mime)
// and plain deliveries, and no record may lack its row.
TEST(Sync, TheReplicasMessageCachesAreThoseOfItsFiles) {
  Instance replica(replica_options());
  ASSERT_EQ(replica.start(), "");
  Instance primary(primary_options(replica.port("csync")));
  ASSERT_EQ(primary.start(), "");
  ASSERT_TRUE(primary.tool("cyr_mbox", {"create", "user.alice"}).ok());
  std::vector<std::string> corpus = mime_corpus();
  ASSERT_FALSE(corpus.empty());
  for (const auto& path : corpus) ASSERT_TRUE(append_text(primary, "user.alice", slurp(path)));
  ASSERT_EQ(deliver(primary, "alice", 20, "a"), "");

  auto r = sync_user(primary, replica, "alice");
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(same_mailbox(primary, replica, "user.alice"));
  auto check = replica.tool("reconstruct", {"-n"});  // no record without its cache row
  EXPECT_EQ(check.exit_code, 0) << check.describe();

  auto rs = open_store(replica);
  auto mbox = rs->open_mailbox("user.alice");
  ASSERT_TRUE(mbox.ok()) << mbox.status().to_string();
  std::vector<std::pair<uint32_t, std::string>> live;
  ASSERT_TRUE((*mbox)->for_each_record(0, [&](const store::IndexRecord& rec) {
    if (!rec.expunged()) live.emplace_back(rec.uid, rec.guid);
    return true;
  }));
  EXPECT_EQ(live.size(), corpus.size() + 20);
  for (const auto& [uid, guid] : live) {
    auto row = (*mbox)->cache(uid, guid);
    ASSERT_TRUE(row.ok()) << uid << ": " << row.status().to_string();
    auto file = store::compute_message_cache((*mbox)->message_path(uid));
    ASSERT_TRUE(file.ok()) << uid << ": " << file.status().to_string();
    EXPECT_EQ(*row, *file) << "uid " << uid;
  }
}

// Deletes the cache row of `uid` from `mailbox`'s index, as an index
// written before the cache existed lacks it.
bool drop_cache_row(Instance& inst, const std::string& mailbox, uint32_t uid) {
  std::string dir;
  {
    auto st = open_store(inst);
    auto m = st->open_mailbox(mailbox);
    if (!m.ok()) return false;
    dir = std::filesystem::path((*m)->message_path(uid)).parent_path();
  }
  auto db = store::SqliteDb::open(dir + "/" + store::index::kIndexFile);
  return db.ok() &&
         (*db)->exec("DELETE FROM message_cache WHERE uid = " + std::to_string(uid)).is_ok();
}

// A replimail replica offers X-REPLIMAIL-CACHE and a replimail master then
// sends each new record's cache row with it: the replica keeps the row it
// is sent (one marked row shows it is not computed again), and a record the
// master has no row for (an index from before the cache) gets one computed
// from the replica's file.
// A replica that answers each line as it arrives ("OK success", nothing
// held), except the first two APPLY MESSAGE commands: "NO first refused",
// "NO second refused". Lines are read with the project's dlist parser (file
// literals kept in memory). One connection.
class RefusingReplica {
 public:
  RefusingReplica() : port_(free_port()) {
    auto addr = net::parse_listen("127.0.0.1:" + std::to_string(port_));
    auto fd = addr.ok() ? net::open_listener(*addr, 4) : Result<int>(addr.status());
    EXPECT_TRUE(fd.ok()) << fd.status().to_string();
    listen_ = fd.ok() ? *fd : -1;
    thread_ = std::thread([this] { serve(); });
  }
  ~RefusingReplica() {
    ::shutdown(listen_, SHUT_RDWR);
    thread_.join();
    ::close(listen_);
  }
  int port() const { return port_; }
  // "VERB KEY" of each line received, in order (after the session ended).
  const std::vector<std::string>& lines() const { return lines_; }

 private:
  void serve() {
    int c = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return;
    const std::string banner = "* SASL PLAIN\r\n* OK fake replica\r\n";
    bool up = ::write(c, banner.data(), banner.size()) == static_cast<ssize_t>(banner.size());
    dlist::MemoryFileSink sink;
    dlist::Parser parser(&sink);
    int refused = 0;
    char buf[65536];
    while (up) {
      ssize_t n = ::read(c, buf, sizeof buf);
      if (n <= 0) break;
      std::string_view data(buf, static_cast<size_t>(n));
      while (up && !data.empty()) {
        auto fed = parser.feed(data);
        data.remove_prefix(fed.consumed);
        if (fed.event == dlist::Parser::Event::kNeedMore) continue;
        std::string verb = "<bad line>";
        if (fed.event == dlist::Parser::Event::kLine) {
          auto line = parser.take_line();
          verb = line.empty() ? "" : std::string(line[0].str().value_or(""));
          if (line.size() > 1)
            verb += " " + (line[1].key().empty() ? std::string(line[1].str().value_or(""))
                                                 : line[1].key());
        }
        lines_.push_back(verb);
        std::string reply = "OK success\r\n";
        if (verb == "APPLY MESSAGE" && refused < 2)
          reply = refused++ == 0 ? "NO first refused\r\n" : "NO second refused\r\n";
        if (verb.starts_with("EXIT")) reply = "OK Finished\r\n";
        up = ::write(c, reply.data(), reply.size()) == static_cast<ssize_t>(reply.size());
      }
    }
    ::close(c);
  }

  int listen_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::vector<std::string> lines_;
};

// sync_client sends the next APPLY MESSAGE before it reads the reply to the
// one before. When that reply is NO, the next one's reply must still be
// read before anything else is sent: read out of step, "NO second refused"
// would become the answer to a later command.
TEST(Sync, AnUploadRefusedWhileTheNextIsUnderWayKeepsTheSessionInStep) {
  RefusingReplica fake;
  Instance primary(primary_options(fake.port()));
  ASSERT_EQ(primary.start(), "");
  ASSERT_TRUE(primary.tool("cyr_mbox", {"create", "user.alice"}).ok());
  ASSERT_EQ(deliver(primary, "alice", 1030, "a"), "");  // two batches (1,024 files each)
  auto r = sync_user(primary, "127.0.0.1:" + std::to_string(fake.port()), "alice");
  EXPECT_NE(r.exit_code, 0) << r.describe();
  const std::string out = r.out + r.err;
  EXPECT_NE(out.find("first refused"), std::string::npos) << out.substr(0, 3000);
  EXPECT_EQ(out.find("second refused"), std::string::npos) << out.substr(0, 3000);
  auto& lines = fake.lines();
  auto first = std::find(lines.begin(), lines.end(), "APPLY MESSAGE");
  ASSERT_NE(first, lines.end());
  ASSERT_LT(first + 1, lines.end());
  EXPECT_EQ(*(first + 1), "APPLY MESSAGE");  // sent before the NO was read
  EXPECT_EQ(std::find(lines.begin(), lines.end(), "<bad line>"), lines.end());
  // Nothing of the refused mailbox is applied.
  EXPECT_EQ(std::find(first, lines.end(), "APPLY MAILBOX"), lines.end());
}

TEST(Sync, TheReplicaKeepsTheCacheItsMasterSends) {
  Instance replica(replica_options());
  ASSERT_EQ(replica.start(), "");
  Instance primary(primary_options(replica.port("csync")));
  ASSERT_EQ(primary.start(), "");
  ASSERT_TRUE(primary.tool("cyr_mbox", {"create", "user.alice"}).ok());
  ASSERT_EQ(deliver(primary, "alice", 6, "a"), "");
  const std::string marked = "(\"marked by the master\" NIL NIL NIL NIL NIL NIL NIL NIL NIL)";
  {
    auto st = open_store(primary);
    auto m = st->open_mailbox("user.alice");
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    auto rec = (*m)->record(2);
    ASSERT_TRUE(rec.ok());
    auto row = (*m)->cache(2, rec->guid);
    ASSERT_TRUE(row.ok());
    store::MessageCache c = *row;
    c.envelope = marked;
    auto txn = (*m)->begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE((*txn)->put_cache(2, c));
    ASSERT_TRUE(st->commit(**m, **txn));
  }
  ASSERT_TRUE(drop_cache_row(primary, "user.alice", 4));

  auto r = sync_user(primary, replica, "alice");
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(same_mailbox(primary, replica, "user.alice"));
  auto rs = open_store(replica);
  auto mbox = rs->open_mailbox("user.alice");
  ASSERT_TRUE(mbox.ok()) << mbox.status().to_string();
  for (uint32_t uid = 1; uid <= 6; uid++) {
    auto rec = (*mbox)->record(uid);
    ASSERT_TRUE(rec.ok()) << uid;
    auto row = (*mbox)->stored_cache(uid, rec->guid);
    ASSERT_TRUE(row.ok()) << uid;
    ASSERT_TRUE(row->has_value()) << "uid " << uid << " has no cache row";
    auto file = store::compute_message_cache((*mbox)->message_path(uid));
    ASSERT_TRUE(file.ok()) << uid;
    if (uid == 2) {
      EXPECT_EQ((*row)->envelope, marked);
      EXPECT_EQ((*row)->header, file->header);
    } else {
      EXPECT_EQ(**row, *file) << "uid " << uid;
    }
  }
}

TEST(Sync, SplitBrainKeepsBothMessages) {
  Instance replica(replica_options());
  ASSERT_EQ(replica.start(), "");
  Instance primary(primary_options(replica.port("csync")));
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
  EXPECT_TRUE(same_mailbox(primary, replica, "user.bob", DigestLines::kLiveOnly));
  EXPECT_EQ(live_records(primary, "user.bob"), 5u);
}

TEST(Sync, WrongPasswordAndNonAdminAreRefused) {
  Instance::Options ro = replica_options();
  ro.users = {{"admin", "adminpw"}, {"mallory", "secret"}};
  Instance replica(ro);
  ASSERT_EQ(replica.start(), "");
  Instance::Options po = primary_options(replica.port("csync"));
  po.imapd_extra = {"sync_authname: admin", "sync_password: wrong"};
  Instance primary(po);
  ASSERT_EQ(primary.start(), "");
  ASSERT_TRUE(primary.tool("cyr_mbox", {"create", "user.carol"}).ok());
  auto bad = sync_user(primary, replica, "carol");
  EXPECT_EQ(bad.exit_code, 1) << bad.describe();
  primary.stop();

  Instance::Options po2 = primary_options(replica.port("csync"));
  po2.imapd_extra = {"sync_authname: mallory", "sync_password: secret"};
  Instance primary2(po2);
  ASSERT_EQ(primary2.start(), "");
  ASSERT_TRUE(primary2.tool("cyr_mbox", {"create", "user.carol"}).ok());
  auto denied = sync_user(primary2, replica, "carol");
  EXPECT_EQ(denied.exit_code, 1) << denied.describe();
  EXPECT_NE(denied.err.find("IMAP_PERMISSION_DENIED"), std::string::npos) << denied.describe();
  EXPECT_NE(replica.snapshot("user.carol").error, "");

  // The server is still up and serves an admin.
  Instance::Options po3 = primary_options(replica.port("csync"));
  Instance primary3(po3);
  ASSERT_EQ(primary3.start(), "");
  ASSERT_TRUE(primary3.tool("cyr_mbox", {"create", "user.carol"}).ok());
  auto good = sync_user(primary3, replica, "carol");
  EXPECT_TRUE(good.ok()) << good.describe();
  EXPECT_EQ(replica.snapshot("user.carol").error, "");
}

TEST(Sync, MailboxAllAndLogFileModesConverge) {
  Instance replica(replica_options());
  ASSERT_EQ(replica.start(), "");
  Instance primary(primary_options(replica.port("csync")));
  ASSERT_EQ(primary.start(), "");
  for (const char* m : {"user.dave", "user.dave.Lists", "user.erin", "shared.news"})
    ASSERT_TRUE(primary.tool("cyr_mbox", {"create", m}).ok());
  ASSERT_EQ(deliver(primary, "dave", 4, "d"), "");
  std::string target = "127.0.0.1:" + std::to_string(replica.port("csync"));

  // -m: just these mailboxes.
  auto m = primary.tool("sync_client", {"-v", "-S", target, "-m", "user.dave.Lists"});
  ASSERT_TRUE(m.ok()) << m.describe();
  EXPECT_TRUE(same_mailbox(primary, replica, "user.dave.Lists"));
  EXPECT_NE(replica.snapshot("user.dave").error, "");

  // -A: every user and the shared mailboxes.
  auto all = primary.tool("sync_client", {"-v", "-S", target, "-A"});
  ASSERT_TRUE(all.ok()) << all.describe();
  for (const char* name : {"user.dave", "user.dave.Lists", "user.erin", "shared.news"})
    EXPECT_TRUE(same_mailbox(primary, replica, name));

  // -f: the primary's own channel log, replayed.
  ASSERT_EQ(deliver(primary, "erin", 2, "e"), "");
  {
    // The administrator's \Seen on erin's INBOX is logged as SEEN admin
    // <uniqueid>; replaying the log carries it over (GET META admin).
    auto st = open_store(primary);
    auto inbox = st->lookup("user.erin");
    ASSERT_TRUE(inbox.ok());
    store::SeenRecord seen;
    seen.uniqueid = inbox->uniqueid;
    seen.lastuid = 2;
    seen.seenuids = "1:2";
    ASSERT_TRUE(st->set_seen("admin", seen));
  }
  auto f =
      primary.tool("sync_client", {"-v", "-S", target, "-f", primary.channel_log_path("replica")});
  ASSERT_TRUE(f.ok()) << f.describe();
  EXPECT_NE(f.out.find("uploaded 2 messages"), std::string::npos) << f.out;
  EXPECT_TRUE(same_mailbox(primary, replica, "user.erin"));
  // Replaying the same log again is harmless and sends nothing.
  auto f2 =
      primary.tool("sync_client", {"-v", "-S", target, "-f", primary.channel_log_path("replica")});
  ASSERT_TRUE(f2.ok()) << f2.describe();
  EXPECT_NE(f2.out.find("uploaded 0 messages"), std::string::npos) << f2.out;
  EXPECT_SAME_DIGEST(primary, replica);
}

TEST(Sync, ServerKilledMidSyncThenConverges) {
  Instance replica(replica_options());
  ASSERT_EQ(replica.start(), "");
  Instance primary(primary_options(replica.port("csync")));
  ASSERT_EQ(primary.start(), "");
  ASSERT_TRUE(primary.tool("cyr_mbox", {"create", "user.frank"}).ok());
  ASSERT_EQ(deliver(primary, "frank", 400, "m", 20000), "");
  RunResult interrupted;
  std::atomic<bool> over{false};
  std::thread sync([&] {
    interrupted = sync_user(primary, replica, "frank");
    over = true;
  });
  // Mid-sync: once the replica stages message files (or the sync is over).
  wait_until(
      [&] {
        std::error_code ec;
        std::filesystem::recursive_directory_iterator it(replica.partition_dir() + "/sync.", ec);
        for (; !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
          if (it->is_regular_file(ec)) return true;
        return over.load();
      },
      std::chrono::seconds(30));
  auto servers = processes_of(replica, "sync_server");
  for (pid_t pid : servers) ::kill(pid, SIGKILL);
  sync.join();
  EXPECT_FALSE(servers.empty());
  // Whatever the first run managed, the second one converges.
  auto second = sync_user(primary, replica, "frank");
  ASSERT_TRUE(second.ok()) << second.describe() << interrupted.describe();
  EXPECT_TRUE(same_mailbox(primary, replica, "user.frank"));
  auto third = sync_user(primary, replica, "frank");
  ASSERT_TRUE(third.ok()) << third.describe();
  EXPECT_NE(third.out.find("uploaded 0 messages"), std::string::npos) << third.out;
  EXPECT_SAME_DIGEST(primary, replica);
  // No message file twice: exactly one file per live record (same_mailbox).
  EXPECT_EQ(live_records(replica, "user.frank"), 400u);
}

// Sends `input` to a fresh csync connection and returns everything the
// server wrote until it closed the connection.
std::string converse(int port, const std::string& input) {
  auto fd = net::connect_to("127.0.0.1", static_cast<uint16_t>(port));
  if (!fd.ok()) return "connect failed";
  std::string all = input;
  while (!all.empty()) {
    ssize_t n = ::write(*fd, all.data(), all.size());
    if (n <= 0) break;
    all.erase(0, static_cast<size_t>(n));
  }
  ::shutdown(*fd, SHUT_WR);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(*fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(*fd);
  return out;
}

TEST(Sync, GarbageGetsBadAndTheServerStaysUp) {
  Instance replica(replica_options());
  ASSERT_EQ(replica.start(), "");
  int port = replica.port("csync");
  std::string out =
      converse(port,
               "GET USER alice\r\n"
               "AUTHENTICATE PLAIN AGFkbWluAGFkbWlucHc=\r\n"
               "APPLY MAILBOX %(UNIQUEID x MBOXNAME ))\r\n"
               "APPLY MAILBOX %(UNIQUEID x MBOXNAME user.a)\r\n"
               "BOGUS\r\n"
               "APPLY MESSAGE (%{default 0123456789012345678901234567890123456789 5}\r\n"
               "ab");
  EXPECT_NE(out.find("* OK "), std::string::npos) << out;
  EXPECT_NE(out.find("NO Please authenticate first"), std::string::npos) << out;
  EXPECT_NE(out.find("OK Success"), std::string::npos) << out;
  EXPECT_NE(out.find("BAD IMAP_PROTOCOL_ERROR"), std::string::npos) << out;
  EXPECT_NE(out.find("NO IMAP_PROTOCOL_BAD_PARAMETERS"), std::string::npos) << out;
  EXPECT_NE(out.find("BAD IMAP_PROTOCOL_ERROR Unrecognized command"), std::string::npos) << out;
  // A truncated upload leaves no staged file behind.
  EXPECT_FALSE(std::filesystem::exists(replica.partition_dir() + "/sync./") &&
               !std::filesystem::is_empty(replica.partition_dir() + "/sync./"));
  // Still serving.
  std::string again = converse(port, "NOOP\r\nEXIT\r\n");
  EXPECT_NE(again.find("OK Noop completed"), std::string::npos) << again;
  EXPECT_NE(again.find("OK Finished"), std::string::npos) << again;
}

}  // namespace
}  // namespace replimail::testing
