#include "store/mailbox.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <thread>

#include "common/workers.h"
#include "os/fault_env.h"
#include "store/check.h"
#include "store/sqlite_db.h"
#include "store/sync_crc.h"
#include "store_test_util.h"

namespace replimail::store {
namespace {

using testing::L;
using testing::sha1_hex;
using testing::TempInstance;

const std::string kMsg1 = "From: a@example.com\r\nSubject: one\r\n\r\nhello\r\n";
const std::string kMsg2 = "From: b@example.com\r\nSubject: two\r\n\r\nworld, longer\r\n";

std::vector<IndexRecord> all_records(Mailbox& m, uint64_t since = 0) {
  std::vector<IndexRecord> out;
  EXPECT_TRUE(m.for_each_record(since, [&](const IndexRecord& r) {
                 out.push_back(r);
                 return true;
               }).is_ok());
  return out;
}

// Stored CRCs and usage equal a recomputation from the records.
void expect_derived_consistent(TempInstance& t, const std::string& name) {
  auto r = check_mailbox(t.inst(), name, {.repair = false, .verify_content = true});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  for (const auto& p : r->problems)
    ADD_FAILURE() << problem_kind_name(p.kind) << " uid " << p.uid << ": " << p.detail;
}

class MailboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto e = t.inst().create_mailbox("user.alice");
    ASSERT_TRUE(e.ok());
    entry = *e;
    t.take_log();
  }
  // The storage of user.alice even once its name is a tombstone.
  std::unique_ptr<Mailbox> open_after_delete() {
    auto ppath = t.inst().partition_path(entry.partition);
    auto m = Mailbox::open(entry, mailbox_dir(*ppath, entry.uniqueid).value(), nullptr);
    EXPECT_TRUE(m.ok()) << m.status().to_string();
    return std::move(*m);
  }
  std::unique_ptr<Mailbox> open(const std::string& name = "user.alice") {
    auto m = t.inst().open_mailbox(name);
    EXPECT_TRUE(m.ok()) << m.status().to_string();
    return std::move(*m);
  }
  TempInstance t;
  MailboxEntry entry;
};

TEST_F(MailboxTest, AppendAndReadBack) {
  auto msg = t.stage(kMsg1);
  EXPECT_EQ(msg->size(), kMsg1.size());
  EXPECT_EQ(msg->guid(), sha1_hex(kMsg1));
  AppendRequest req{"user.alice", msg.get(), kFlagSeen, {"$Label1"}, 1700000000, true};
  auto res = t.inst().append({req});
  ASSERT_EQ(res.size(), 1u);
  ASSERT_TRUE(res[0].status.is_ok()) << res[0].status.to_string();
  EXPECT_EQ(res[0].uid, 1u);
  EXPECT_EQ(res[0].uidvalidity, entry.uidvalidity);
  EXPECT_EQ(t.take_log(), (std::vector<synclog::Line>{L("MAILBOX", {"user.alice"}),
                                                      L("APPEND", {"user.alice"})}));

  auto m = open();
  auto rec = m->record(1);
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->size, kMsg1.size());
  EXPECT_EQ(rec->guid, sha1_hex(kMsg1));
  EXPECT_EQ(rec->system_flags, kFlagSeen);
  EXPECT_EQ(rec->user_flags, (std::vector<std::string>{"$Label1"}));
  EXPECT_EQ(rec->internaldate, 1700000000);
  EXPECT_EQ(rec->modseq, entry.createdmodseq + 1);
  EXPECT_EQ(rec->createdmodseq, rec->modseq);
  EXPECT_GT(rec->savedate, 0);
  auto data = fs::read_file(m->message_path(1));
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(*data, kMsg1);
  EXPECT_EQ(m->message_path(1), m->dir() + "/1.");
  EXPECT_NE(m->dir().find("/uuid/" + entry.uniqueid.substr(0, 1) + "/" +
                          entry.uniqueid.substr(1, 1) + "/" + entry.uniqueid),
            std::string::npos);
  auto fd = m->open_message(1);
  ASSERT_TRUE(fd.ok());
  ::close(*fd);

  auto c = m->counters();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->last_uid, 1u);
  EXPECT_EQ(c->highestmodseq, rec->modseq);
  EXPECT_EQ(c->exists, 1u);
  EXPECT_EQ(c->quota_used, kMsg1.size());
  EXPECT_GT(c->last_appenddate, 0);
  EXPECT_EQ(c->sync_crc, record_crc(*rec));
  EXPECT_EQ(c->sync_crc_annot, kAnnotCrcSeed ^ record_annot_crc(*rec, {}));
  // The staged file is gone once its StagedMessage is.
  std::string staged = msg->path();
  msg.reset();
  EXPECT_FALSE(fs::exists(staged));
  EXPECT_TRUE(fs::exists(m->message_path(1)));
}

// A mailbox finds a message by GUID through its index on guid, live
// records only; an index made before that index gets it when opened.
TEST_F(MailboxTest, RecordsAreFoundByGuidAndAnOlderIndexGetsTheGuidIndex) {
  for (const std::string& body : {kMsg1, kMsg2, kMsg1}) {
    auto msg = t.stage(body);
    auto res = t.inst().append({AppendRequest{"user.alice", msg.get(), 0, {}, 1700000000, true}});
    ASSERT_EQ(res.size(), 1u);
    ASSERT_TRUE(res[0].status.is_ok()) << res[0].status.to_string();
  }
  ASSERT_TRUE(t.inst().expunge("user.alice", {1}).is_ok());
  const std::string db = open()->dir() + "/cyrus.index.db";
  auto has_guid_index = [&] {
    return testing::query_texts(db, "SELECT name FROM sqlite_master WHERE name = 'records_guid'")
               .size() == 1;
  };
  ASSERT_TRUE(has_guid_index());
  using Pairs = std::vector<std::pair<std::string, uint32_t>>;
  const Pairs expected = {{sha1_hex(kMsg1), 3}, {sha1_hex(kMsg2), 2}};
  auto by_lookup = open()->uids_of_guids({sha1_hex(kMsg1), sha1_hex(kMsg2), std::string(40, '0')});
  ASSERT_TRUE(by_lookup.ok()) << by_lookup.status().to_string();
  EXPECT_EQ(*by_lookup, expected);
  {
    auto h = SqliteDb::open(db);
    ASSERT_TRUE(h.ok());
    ASSERT_TRUE((*h)->exec("DROP INDEX records_guid").is_ok());
  }
  // Without the index (it could not be made): the same answer from one
  // read of every record, in UID order.
  auto by_scan = open()->uids_of_guids({sha1_hex(kMsg1), sha1_hex(kMsg2)});
  ASSERT_TRUE(by_scan.ok()) << by_scan.status().to_string();
  EXPECT_EQ(*by_scan, (Pairs{{sha1_hex(kMsg2), 2}, {sha1_hex(kMsg1), 3}}));
  t.reopen();
  auto m = open();
  EXPECT_TRUE(has_guid_index());
  auto one = m->uids_of_guid(sha1_hex(kMsg1));
  ASSERT_TRUE(one.ok()) << one.status().to_string();
  EXPECT_EQ(*one, std::vector<uint32_t>{3});  // uid 1 is expunged
  auto two = m->uids_of_guid(sha1_hex(kMsg2));
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(*two, std::vector<uint32_t>{2});
  auto none = m->uids_of_guid(std::string(40, '0'));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(MailboxTest, BatchToSeveralMailboxesLinksOneFile) {
  ASSERT_TRUE(t.inst().create_mailbox("user.bob").ok());
  ASSERT_TRUE(t.inst().create_mailbox("user.carol", {.partition = "other"}).ok());
  t.take_log();
  auto msg = t.stage(kMsg1);
  std::vector<AppendRequest> reqs = {{"user.alice", msg.get()},
                                     {"user.nobody", msg.get()},
                                     {"user.bob", msg.get()},
                                     {"user.alice", msg.get()},
                                     {"user.carol", msg.get()}};
  auto res = t.inst().append(reqs);
  ASSERT_EQ(res.size(), 5u);
  EXPECT_TRUE(res[0].status.is_ok());
  EXPECT_EQ(res[1].status.code(), Code::kMailboxNonexistent);
  EXPECT_TRUE(res[2].status.is_ok());
  EXPECT_TRUE(res[3].status.is_ok());
  EXPECT_TRUE(res[4].status.is_ok()) << res[4].status.to_string();
  EXPECT_EQ(res[0].uid, 1u);
  EXPECT_EQ(res[3].uid, 2u);
  EXPECT_EQ(res[2].uid, 1u);
  // One log write for the batch: every mailbox's MAILBOX + APPEND.
  EXPECT_EQ(t.take_log(), (std::vector<synclog::Line>{
                              L("MAILBOX", {"user.alice"}), L("APPEND", {"user.alice"}),
                              L("MAILBOX", {"user.bob"}), L("APPEND", {"user.bob"}),
                              L("MAILBOX", {"user.carol"}), L("APPEND", {"user.carol"})}));
  // Single-instance store: one file, hard-linked into each mailbox (a copy
  // only when the partitions are on different filesystems).
  struct stat a, b;
  ASSERT_EQ(::stat(open("user.alice")->message_path(1).c_str(), &a), 0);
  ASSERT_EQ(::stat(open("user.bob")->message_path(1).c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_GE(a.st_nlink, 3u);
  auto copied = fs::read_file(open("user.carol")->message_path(1));
  ASSERT_TRUE(copied.ok());
  EXPECT_EQ(*copied, kMsg1);
}

TEST_F(MailboxTest, FlagChangesBumpModseqOnlyWhenSomethingChanges) {
  t.deliver("user.alice", kMsg1);
  t.deliver("user.alice", kMsg2);
  auto m = open();
  auto before = all_records(*m);
  uint64_t hms = m->counters()->highestmodseq;
  t.take_log();

  ASSERT_TRUE(
      t.inst().store_flags("user.alice", {1}, kFlagSeen | kFlagFlagged, {"$Junk"}, true).is_ok());
  EXPECT_EQ(t.take_log(), (std::vector<synclog::Line>{L("MAILBOX", {"user.alice"})}));
  auto r1 = m->record(1);
  ASSERT_TRUE(r1.ok());
  EXPECT_EQ(r1->system_flags, kFlagSeen | kFlagFlagged);
  EXPECT_EQ(r1->user_flags, (std::vector<std::string>{"$Junk"}));
  EXPECT_EQ(r1->modseq, hms + 1);
  EXPECT_EQ(m->counters()->highestmodseq, hms + 1);
  EXPECT_EQ(m->record(2)->modseq, before[1].modseq);  // untouched

  // The same flags again (user flags case-insensitively): nothing changes.
  ASSERT_TRUE(t.inst().store_flags("user.alice", {1}, kFlagSeen, {"$junk"}, true).is_ok());
  EXPECT_EQ(m->record(1)->modseq, hms + 1);
  EXPECT_EQ(m->counters()->highestmodseq, hms + 1);
  EXPECT_TRUE(t.take_log().empty());

  // Only records changed since a modseq.
  auto changed = all_records(*m, hms);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].uid, 1u);

  ASSERT_TRUE(t.inst().store_flags("user.alice", {1, 2}, kFlagFlagged, {"$Junk"}, false).is_ok());
  EXPECT_EQ(m->record(1)->system_flags, kFlagSeen);
  EXPECT_TRUE(m->record(1)->user_flags.empty());
  EXPECT_EQ(m->record(1)->modseq, hms + 2);
  EXPECT_EQ(m->record(2)->modseq, before[1].modseq);
  auto slots = m->user_flag_slots();
  ASSERT_TRUE(slots.ok());
  EXPECT_EQ(*slots, (std::vector<std::string>{"$Junk"}));
  expect_derived_consistent(t, "user.alice");
}

TEST_F(MailboxTest, ExpungeKeepsRecordRemovesFileAndReleasesUsage) {
  t.deliver("user.alice", kMsg1);
  t.deliver("user.alice", kMsg2);
  ASSERT_TRUE(t.inst().set_quota("user.alice", 100, -1).is_ok());
  EXPECT_EQ(t.inst().quota().get("user.alice")->storage_used, kMsg1.size() + kMsg2.size());
  auto m = open();
  uint64_t hms = m->counters()->highestmodseq;
  t.take_log();
  ASSERT_TRUE(t.inst().expunge("user.alice", {1, 99}).is_ok());
  EXPECT_EQ(t.take_log(), (std::vector<synclog::Line>{L("MAILBOX", {"user.alice"})}));
  auto r = m->record(1);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->expunged());
  EXPECT_EQ(r->modseq, hms + 1);
  EXPECT_FALSE(fs::exists(m->message_path(1)));
  auto c = m->counters();
  EXPECT_EQ(c->exists, 1u);
  EXPECT_EQ(c->quota_used, kMsg2.size());
  EXPECT_EQ(c->last_uid, 2u);
  EXPECT_EQ(c->sync_crc, record_crc(*m->record(2)));
  EXPECT_EQ(t.inst().quota().get("user.alice")->storage_used, kMsg2.size());
  EXPECT_EQ(t.inst().quota().get("user.alice")->message_used, 1u);
  // Expunging again is a no-op; flags on an expunged record are not changed.
  ASSERT_TRUE(t.inst().expunge("user.alice", {1}).is_ok());
  EXPECT_EQ(m->record(1)->modseq, hms + 1);
  ASSERT_TRUE(t.inst().store_flags("user.alice", {1}, kFlagSeen, {}, true).is_ok());
  EXPECT_EQ(m->record(1)->system_flags, kFlagExpunged);
  // UIDs are never reused.
  EXPECT_EQ(t.deliver("user.alice", kMsg1), 3u);
  expect_derived_consistent(t, "user.alice");
}

TEST_F(MailboxTest, PutRecordAppliesMasterStateSilently) {
  auto src = t.stage(kMsg1);
  auto m = open();
  auto txn = m->begin();
  ASSERT_TRUE(txn.ok());
  IndexRecord r;
  r.uid = 5;
  r.modseq = 40;
  r.last_updated = 1795554949;
  r.system_flags = kFlagSeen;
  r.user_flags = {"$Important"};
  r.internaldate = 1795554947;
  r.size = src->size();
  r.guid = src->guid();
  r.savedate = 1795554949;
  r.createdmodseq = 5;
  ASSERT_TRUE((*txn)->put_record(r, src->path()).is_ok());
  // An expunged record without a file is fine; a live one is not.
  IndexRecord gone = r;
  gone.uid = 3;
  gone.modseq = 30;
  gone.system_flags = kFlagExpunged | kFlagDeleted;
  ASSERT_TRUE((*txn)->put_record(gone, "").is_ok());
  IndexRecord bad = r;
  bad.uid = 4;
  EXPECT_EQ((*txn)->put_record(bad, "").code(), Code::kInvalidArgument);
  MailboxCounters c = (*txn)->counters();
  c.recentuid = 5;
  c.recenttime = 1795554000;
  c.pop3_last_login = 17;
  (*txn)->set_counters(c);
  ASSERT_TRUE(t.inst().commit(*m, **txn).is_ok());
  EXPECT_EQ(t.take_log(), (std::vector<synclog::Line>{L("MAILBOX", {"user.alice"}),
                                                      L("APPEND", {"user.alice"})}));

  auto got = m->record(5);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, r);
  auto cc = m->counters();
  EXPECT_EQ(cc->last_uid, 5u);
  EXPECT_EQ(cc->highestmodseq, 40u);
  EXPECT_EQ(cc->recentuid, 5u);
  EXPECT_EQ(cc->pop3_last_login, 17);
  EXPECT_EQ(cc->exists, 1u);
  EXPECT_EQ(cc->sync_crc, record_crc(r));

  // Overwrite with the master's newer flags: the given modseq is kept.
  auto txn2 = m->begin();
  ASSERT_TRUE(txn2.ok());
  IndexRecord upd = r;
  upd.modseq = 41;
  upd.system_flags = 0;
  upd.user_flags = {};
  ASSERT_TRUE((*txn2)->put_record(upd, "").is_ok());
  ASSERT_TRUE(t.inst().commit(*m, **txn2).is_ok());
  EXPECT_EQ(*m->record(5), upd);
  EXPECT_EQ(m->counters()->highestmodseq, 41u);
  expect_derived_consistent(t, "user.alice");
  // The next local append continues after the master's UIDs.
  EXPECT_EQ(t.deliver("user.alice", kMsg2), 6u);
}

// sync_server finds a file by GUID for every record new to the replica; when
// the master sends an expunged record whose GUID is also uploaded for a live
// one (a message COPYed back into its folder, the first copy expunged), the
// expunged record must not get a file: nothing would ever remove it, and
// reconstruct -n reports it as an orphan (seen in the torture run).
TEST_F(MailboxTest, PutRecordOfANewExpungedRecordLinksNoFile) {
  auto src = t.stage(kMsg1);
  auto m = open();
  auto txn = m->begin();
  ASSERT_TRUE(txn.ok());
  IndexRecord gone;
  gone.uid = 3;
  gone.modseq = 25;
  gone.last_updated = 1795554949;
  gone.system_flags = kFlagExpunged | kFlagFlagged;
  gone.internaldate = 1795554947;
  gone.size = src->size();
  gone.guid = src->guid();
  gone.savedate = 1795554949;
  gone.createdmodseq = 8;
  ASSERT_TRUE((*txn)->put_record(gone, src->path()).is_ok());
  IndexRecord live = gone;
  live.uid = 12;
  live.modseq = 40;
  live.system_flags = 0;
  live.createdmodseq = 40;
  ASSERT_TRUE((*txn)->put_record(live, src->path()).is_ok());
  ASSERT_TRUE(t.inst().commit(*m, **txn).is_ok());
  struct stat st;
  EXPECT_NE(::stat(m->message_path(3).c_str(), &st), 0) << "file of the expunged uid 3";
  EXPECT_EQ(::stat(m->message_path(12).c_str(), &st), 0);
  EXPECT_EQ(m->counters()->exists, 1u);
  expect_derived_consistent(t, "user.alice");
}

TEST_F(MailboxTest, MessageAnnotationsFeedTheAnnotCrc) {
  t.deliver("user.alice", kMsg1);
  auto m = open();
  auto txn = m->begin();
  ASSERT_TRUE(txn.ok());
  ASSERT_TRUE((*txn)->set_annotation(1, "/comment", "", "note").is_ok());
  ASSERT_TRUE((*txn)->set_annotation(1, "/private", "alice", "mine").is_ok());
  ASSERT_TRUE(t.inst().commit(*m, **txn).is_ok());
  auto annots = m->annotations(1);
  ASSERT_TRUE(annots.ok());
  ASSERT_EQ(annots->size(), 2u);
  EXPECT_EQ((*annots)[0].entry, "/comment");
  EXPECT_EQ((*annots)[1].userid, "alice");
  auto rec = m->record(1);
  EXPECT_EQ(m->counters()->sync_crc_annot, kAnnotCrcSeed ^ record_annot_crc(*rec, *annots));
  expect_derived_consistent(t, "user.alice");
  auto txn2 = m->begin();
  ASSERT_TRUE((*txn2)->set_annotation(1, "/comment", "", "").is_ok());
  ASSERT_TRUE(t.inst().commit(*m, **txn2).is_ok());
  EXPECT_EQ(m->annotations(1)->size(), 1u);
  expect_derived_consistent(t, "user.alice");
}

TEST_F(MailboxTest, PutAnnotationKeepsModseqs) {
  t.deliver("user.alice", kMsg1);
  auto m = open();
  auto before = m->record(1);
  uint64_t hms = m->counters()->highestmodseq;
  auto txn = m->begin();
  ASSERT_TRUE(txn.ok());
  ASSERT_TRUE((*txn)->put_annotation({1, "/comment", "", "from master", 3}).is_ok());
  EXPECT_EQ((*txn)->put_annotation({9, "/comment", "", "x", 3}).code(), Code::kNotFound);
  ASSERT_TRUE(t.inst().commit(*m, **txn).is_ok());
  EXPECT_EQ(*m->record(1), *before);
  EXPECT_EQ(m->counters()->highestmodseq, hms);
  auto annots = m->annotations(1);
  ASSERT_EQ(annots->size(), 1u);
  EXPECT_EQ((*annots)[0].modseq, 3u);
  EXPECT_EQ(m->counters()->sync_crc_annot, kAnnotCrcSeed ^ record_annot_crc(*before, *annots));
  expect_derived_consistent(t, "user.alice");
}

TEST_F(MailboxTest, AppendWaitingForTheLockSeesADeleteThatWonIt) {
  // A child process holds the mailbox lock, as delete_mailbox() does, turns
  // the name into a tombstone and releases. Our append, which opened the
  // mailbox and waited for the lock meanwhile, must refuse rather than
  // write into the deleted mailbox.
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto inst = Instance::open(t.cfg());
    if (!inst.ok()) ::_exit(2);
    auto m = (*inst)->open_mailbox("user.alice");
    if (!m.ok()) ::_exit(3);
    auto txn = (*m)->begin();
    if (!txn.ok()) ::_exit(4);
    if (::write(ready[1], "x", 1) != 1) ::_exit(5);
    ::usleep(500 * 1000);
    // The list's writers are Instance's alone; the test writes the
    // tombstone with SQL, as delete_mailbox() would leave it.
    auto list = SqliteDb::open(t.cfg().configdirectory() + "/mailboxes.db");
    if (!list.ok()) ::_exit(6);
    if (!(*list)->exec("UPDATE mailboxes SET mbtype = 'ed' WHERE name = 'user.alice'")) ::_exit(7);
    txn->reset();
    ::_exit(0);
  }
  ::close(ready[1]);
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  auto msg = t.stage(kMsg1);
  auto res = t.inst().append({{"user.alice", msg.get()}});
  EXPECT_EQ(res[0].status.code(), Code::kMailboxNonexistent) << res[0].status.to_string();
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  auto m = open_after_delete();
  EXPECT_EQ(m->counters()->last_uid, 0u);
  EXPECT_FALSE(fs::exists(m->message_path(1)));
}

TEST_F(MailboxTest, UncommittedTransactionLeavesNothing) {
  auto msg = t.stage(kMsg1);
  auto m = open();
  {
    auto txn = m->begin();
    ASSERT_TRUE(txn.ok());
    auto r = (*txn)->append_new(*msg, 0, {}, 0);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(fs::exists(m->message_path(1)));
  }
  EXPECT_FALSE(fs::exists(m->message_path(1)));
  EXPECT_EQ(m->counters()->last_uid, 0u);
  EXPECT_TRUE(t.take_log().empty());
}

// A transaction remembers the UIDs whose files it linked as runs (one run
// for a replica's 100,000 ascending records), and every one of them goes
// on rollback, runs with gaps and out-of-order UIDs included.
TEST(UidRunsTest, HoldsEachUidOnceAsRuns) {
  UidRuns runs;
  EXPECT_TRUE(runs.empty());
  for (uint32_t u = 1; u <= 100000; u++) runs.add(u);
  runs.add(100000);  // in the last run: held already
  runs.add(7);       // likewise
  runs.add(200000);
  runs.add(UINT32_MAX);
  runs.add(3);
  std::vector<uint32_t> seen;
  runs.for_each([&](uint32_t u) { seen.push_back(u); });
  ASSERT_EQ(seen.size(), 100000u + 3u);
  EXPECT_EQ(seen[99999], 100000u);
  EXPECT_EQ(seen[100000], 200000u);
  EXPECT_EQ(seen[100001], UINT32_MAX);
  EXPECT_EQ(seen[100002], 3u);
  runs.clear();
  EXPECT_TRUE(runs.empty());
}

TEST_F(MailboxTest, RollbackRemovesEveryLinkedFile) {
  auto src = t.stage(kMsg1);
  auto m = open();
  {
    auto txn = m->begin();
    ASSERT_TRUE(txn.ok());
    uint64_t modseq = 1;
    for (uint32_t uid : {2u, 3u, 4u, 9u, 10u, 6u}) {
      IndexRecord r;
      r.uid = uid;
      r.modseq = modseq++;
      r.size = src->size();
      r.guid = src->guid();
      ASSERT_TRUE((*txn)->put_record(r, src->path()).is_ok());
      EXPECT_TRUE(fs::exists(m->message_path(uid)));
    }
  }
  for (uint32_t uid = 1; uid <= 10; uid++) EXPECT_FALSE(fs::exists(m->message_path(uid))) << uid;
  EXPECT_TRUE(fs::exists(src->path()));
  EXPECT_EQ(m->counters()->last_uid, 0u);
}

class SlowLinkEnv : public os::PosixEnv {
 protected:
  int sys_link(const std::string& from, const std::string& to) override {
    std::this_thread::sleep_for(std::chrono::microseconds(300));
    return os::PosixEnv::sys_link(from, to);
  }
};

// A replica's APPLY MAILBOX links new files on other threads
// (MailboxTxn::defer_links): the commit has them all, a rollback none, and
// a link that fails fails the commit with nothing left behind.
TEST_F(MailboxTest, DeferredLinksAreAllMadeByTheCommitAndAllGoWithARollback) {
  auto src = t.stage(kMsg1);
  auto m = open();
  Workers workers(2);
  auto put = [&](MailboxTxn& txn, uint32_t first, uint32_t n) {
    for (uint32_t uid = first; uid < first + n; uid++) {
      IndexRecord r;
      r.uid = uid;
      r.modseq = uid;
      r.size = src->size();
      r.guid = src->guid();
      ASSERT_TRUE(txn.put_record(r, src->path()).is_ok());
    }
  };
  {
    // Links slow enough to be under way when the transaction goes.
    SlowLinkEnv slow;
    os::ScopedEnv scope(&slow);
    auto txn = m->begin();
    ASSERT_TRUE(txn.ok());
    (*txn)->defer_links(workers);
    put(**txn, 1, 600);  // two batches and a part
  }
  for (uint32_t uid = 1; uid <= 600; uid++) ASSERT_FALSE(fs::exists(m->message_path(uid))) << uid;
  EXPECT_EQ(m->counters()->last_uid, 0u);

  auto txn = m->begin();
  ASSERT_TRUE(txn.ok());
  (*txn)->defer_links(workers);
  put(**txn, 1, 600);
  ASSERT_TRUE(t.inst().commit(*m, **txn).is_ok());
  for (uint32_t uid = 1; uid <= 600; uid++) ASSERT_TRUE(fs::exists(m->message_path(uid))) << uid;
  EXPECT_EQ(m->counters()->exists, 600u);
  expect_derived_consistent(t, "user.alice");

  os::FaultEnv f;
  {
    os::ScopedEnv scope(&f);
    auto txn2 = m->begin();
    ASSERT_TRUE(txn2.ok());
    (*txn2)->defer_links(workers);
    f.inject(os::Fault::nth_call(os::Op::kLink, 300));
    put(**txn2, 601, 600);
    Status s = t.inst().commit(*m, **txn2);
    EXPECT_FALSE(s.is_ok());
    EXPECT_EQ(f.injected(), 1);
  }
  for (uint32_t uid = 601; uid <= 1200; uid++)
    ASSERT_FALSE(fs::exists(m->message_path(uid))) << uid;
  EXPECT_EQ(m->counters()->exists, 600u);
  EXPECT_EQ(m->counters()->last_uid, 600u);
  EXPECT_TRUE(fs::exists(src->path()));
  expect_derived_consistent(t, "user.alice");
}

TEST_F(MailboxTest, StagedMessageStreamsAndTruncates) {
  auto msg = t.inst().stage_message();
  ASSERT_TRUE(msg.ok());
  ASSERT_TRUE((*msg)->write("garbage").is_ok());
  ASSERT_TRUE((*msg)->truncate().is_ok());
  std::string big;
  for (int i = 0; i < 2000; i++) big += "line " + std::to_string(i) + " of a big message\r\n";
  for (size_t off = 0; off < big.size(); off += 777)
    ASSERT_TRUE((*msg)->write(std::string_view(big).substr(off, 777)).is_ok());
  ASSERT_TRUE((*msg)->finish().is_ok());
  EXPECT_EQ((*msg)->size(), big.size());
  EXPECT_EQ((*msg)->guid(), sha1_hex(big));
  EXPECT_FALSE((*msg)->write("more").is_ok());
  auto d = digest_file((*msg)->path());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->guid, sha1_hex(big));
  EXPECT_EQ(d->size, big.size());
}

}  // namespace
}  // namespace replimail::store
