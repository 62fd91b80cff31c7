// The replica side against a real store in a temporary directory: APPLY
// MAILBOX creates with the master's identity, appends by UID, is idempotent,
// refuses what would lose data, and the reserve list finds local copies.
#include "sync/replica.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <cstdlib>
#include <filesystem>

#include "store/sync_crc.h"
#include "sync/guid_set.h"
#include "sync/state.h"

namespace replimail::sync {
namespace {

class ReplicaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sync-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto cfg = Config::parse("configdirectory: " + dir_ + "/conf\npartition-default: " + dir_ +
                                 "/spool\ndefaultpartition: default\n",
                             "t.conf");
    ASSERT_TRUE(cfg.ok());
    auto inst = store::Instance::open(*cfg);
    ASSERT_TRUE(inst.ok()) << inst.status().to_string();
    inst_ = std::move(*inst);
    reserve_ = std::make_unique<ReserveList>(*inst_);
    replica_ = std::make_unique<Replica>(*inst_, *reserve_);
  }
  void TearDown() override {
    replica_.reset();
    reserve_.reset();
    inst_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Uploads `text` as APPLY MESSAGE would; returns its GUID.
  std::string upload(const std::string& text) {
    std::string guid = sha1_hex(text);
    auto msg = reserve_->begin_upload("default", guid);
    EXPECT_TRUE(msg.ok());
    EXPECT_TRUE((*msg)->write(text));
    EXPECT_TRUE((*msg)->finish());
    EXPECT_EQ((*msg)->guid(), guid);
    EXPECT_TRUE(reserve_->finish_upload(guid, std::move(*msg)));
    return guid;
  }

  static std::string sha1_hex(const std::string& text) {
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), md);
    Guid g;
    std::copy(md, md + SHA_DIGEST_LENGTH, g.bytes.begin());
    return g.hex();
  }

  static RecordItem record(uint32_t uid, uint64_t modseq, const std::string& guid, uint64_t size,
                           uint32_t flags = 0) {
    RecordItem r;
    r.record.uid = uid;
    r.record.modseq = modseq;
    r.record.last_updated = 1700000000 + modseq;
    r.record.internaldate = 1700000000;
    r.record.system_flags = flags;
    r.record.size = size;
    r.record.guid = guid;
    r.record.savedate = 1700000000;
    r.record.createdmodseq = modseq;
    return r;
  }

  MailboxState master_state(std::vector<RecordItem> records) {
    MailboxState m;
    m.uniqueid = "0f6ab43c-7e2e-4b0c-9d6f-1c2d3e4f5a6b";
    m.mboxname = "user.alice";
    m.partition = "default";
    m.acl = "alice\tlrswipkxtecdan\t";
    m.options = "P";
    m.uidvalidity = 1700000001;
    m.createdmodseq = 1;
    m.foldermodseq = 1;
    uint32_t crc = 0, annot = store::kAnnotCrcSeed;
    for (const auto& r : records) {
      m.last_uid = std::max(m.last_uid, r.record.uid);
      m.highestmodseq = std::max(m.highestmodseq, r.record.modseq);
      crc ^= store::record_crc(r.record);
      annot ^= store::record_annot_crc(r.record, {});
    }
    m.sync_crc = crc;
    m.sync_crc_annot = annot;
    m.records = std::move(records);
    return m;
  }

  std::string dir_;
  std::unique_ptr<store::Instance> inst_;
  std::unique_ptr<ReserveList> reserve_;
  std::unique_ptr<Replica> replica_;
};

TEST_F(ReplicaTest, CreatesWithMasterIdentityAndKeepsUidsAndModseqs) {
  std::string a = "Subject: a\r\n\r\nA\r\n", b = "Subject: b\r\n\r\nBB\r\n";
  std::string ga = upload(a), gb = upload(b);
  auto m = master_state({record(3, 5, ga, a.size(), store::kFlagSeen), record(7, 9, gb, b.size()),
                         record(8, 10, std::string(40, 'c'), 3, store::kFlagExpunged)});
  ASSERT_TRUE(replica_->apply_mailbox(m));
  auto got = replica_->get_fullmailbox("user.alice");
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ(got->uniqueid, m.uniqueid);
  EXPECT_EQ(got->uidvalidity, m.uidvalidity);
  EXPECT_EQ(got->last_uid, 8u);
  EXPECT_EQ(got->highestmodseq, 10u);
  EXPECT_EQ(got->sync_crc, m.sync_crc);
  ASSERT_EQ(got->records->size(), 3u);
  EXPECT_EQ((*got->records)[0].record, m.records->at(0).record);
  EXPECT_EQ((*got->records)[1].record, m.records->at(1).record);
  // Applying the same state again changes nothing.
  ASSERT_TRUE(replica_->apply_mailbox(m));
  auto again = replica_->get_fullmailbox("user.alice");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *got);
}

TEST_F(ReplicaTest, StepwiseApplyCommitsOnlyAtFinish) {
  std::string a = "Subject: a\r\n\r\nA\r\n", b = "Subject: b\r\n\r\nBB\r\n";
  std::string ga = upload(a), gb = upload(b);
  auto m = master_state({record(3, 5, ga, a.size()), record(7, 9, gb, b.size())});
  MailboxState head = m;
  head.records.reset();
  {
    // Abandoned half-way (the connection dropped): nothing of it stays.
    auto apply = replica_->begin_mailbox(head);
    ASSERT_TRUE(apply.ok()) << apply.status().to_string();
    ASSERT_TRUE((*apply)->add(m.records->at(0)));
  }
  auto none = replica_->get_fullmailbox("user.alice");
  ASSERT_TRUE(none.ok()) << none.status().to_string();
  EXPECT_EQ(none->records->size(), 0u);
  EXPECT_EQ(none->last_uid, 0u);

  auto apply = replica_->begin_mailbox(head);
  ASSERT_TRUE(apply.ok());
  ASSERT_TRUE((*apply)->add(m.records->at(0)));
  // UIDs must ascend.
  EXPECT_EQ((*apply)->add(m.records->at(0)).code(), Code::kProtocolBadParameters);
  apply->reset();
  auto fresh = replica_->begin_mailbox(head);
  ASSERT_TRUE(fresh.ok()) << fresh.status().to_string();
  ASSERT_TRUE((*fresh)->add(m.records->at(0)));
  ASSERT_TRUE((*fresh)->add(m.records->at(1)));
  ASSERT_TRUE((*fresh)->finish(m));
  auto got = replica_->get_fullmailbox("user.alice");
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->records->size(), 2u);
  EXPECT_EQ(got->last_uid, 7u);
  EXPECT_EQ(got->sync_crc, m.sync_crc);

  // A mailbox type that is not plain mail cannot be applied stepwise.
  MailboxState other = head;
  other.mbtype = "x";
  EXPECT_EQ(replica_->begin_mailbox(other).status().code(), Code::kMailboxNotSupported);
}

TEST_F(ReplicaTest, RefusesSplitBrainMissingFilesAndReplicaAhead) {
  std::string a = "Subject: a\r\n\r\nA\r\n";
  std::string ga = upload(a);
  auto m = master_state({record(1, 2, ga, a.size())});
  ASSERT_TRUE(replica_->apply_mailbox(m));
  // Same UID, another message: split brain.
  auto other = master_state({record(1, 3, std::string(40, 'd'), 5)});
  EXPECT_EQ(replica_->apply_mailbox(other).code(), Code::kSyncChecksum);
  // A new UID whose message was never reserved nor uploaded.
  auto missing = master_state({record(1, 2, ga, a.size()), record(2, 4, std::string(40, 'e'), 5)});
  EXPECT_EQ(replica_->apply_mailbox(missing).code(), Code::kIoError);
  auto c = replica_->get_fullmailbox("user.alice");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->last_uid, 1u);  // the failed APPLY left nothing behind
  // A master behind the replica is refused.
  auto behind = m;
  behind.highestmodseq = 1;
  behind.records->clear();
  EXPECT_EQ(replica_->apply_mailbox(behind).code(), Code::kSyncChecksum);
  // A stale SINCE_MODSEQ is refused.
  auto stale = m;
  stale.since_modseq = 1;
  EXPECT_EQ(replica_->apply_mailbox(stale).code(), Code::kSyncChanged);
}

TEST_F(ReplicaTest, ReserveFindsLocalCopiesAndExpungeKeepsModseq) {
  std::string a = "Subject: a\r\n\r\nA\r\n";
  std::string ga = upload(a);
  ASSERT_TRUE(replica_->apply_mailbox(master_state({record(1, 2, ga, a.size())})));
  reserve_->clear();
  auto missing =
      reserve_->reserve("default", {"user.alice", "user.nobody"}, {ga, std::string(40, 'f')});
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(*missing, std::vector<std::string>{std::string(40, 'f')});
  EXPECT_FALSE(reserve_->find(ga).empty());

  auto st = replica_->get_mailboxes({"user.alice"});
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->size(), 1u);
  ASSERT_TRUE(replica_->apply_expunge({"user.alice", (*st)[0].uniqueid, {1}}));
  auto full = replica_->get_fullmailbox("user.alice");
  ASSERT_TRUE(full.ok());
  EXPECT_TRUE((*full->records)[0].record.expunged());
  EXPECT_EQ((*full->records)[0].record.modseq, 2u);
  EXPECT_EQ(replica_->apply_expunge({"user.alice", "wrong", {1}}).code(), Code::kMailboxMoved);
}

TEST_F(ReplicaTest, UnuserRemovesMailboxesSubsAndQuota) {
  std::string a = "Subject: a\r\n\r\nA\r\n";
  std::string ga = upload(a);
  ASSERT_TRUE(replica_->apply_mailbox(master_state({record(1, 2, ga, a.size())})));
  ASSERT_TRUE(inst_->create_mailbox("user.alice.Sent").ok());
  ASSERT_TRUE(replica_->apply_sub({"alice", "user.alice.Sent"}, true));
  ASSERT_TRUE(replica_->apply_quota({"user.alice", 1000, -1, 4}));
  auto u = replica_->get_user("alice", true);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->mailboxes.size(), 2u);
  EXPECT_EQ(u->quotas.size(), 1u);
  EXPECT_EQ(u->lsub.size(), 1u);
  ASSERT_TRUE(replica_->apply_unuser("alice"));
  auto gone = replica_->get_user("alice", true);
  ASSERT_TRUE(gone.ok());
  // delete_mode: delayed (the default): the mailboxes are kept under
  // DELETED., which GET USER lists as Cyrus does; a second UNUSER keeps them.
  ASSERT_EQ(gone->mailboxes.size(), 2u);
  for (const auto& m : gone->mailboxes)
    EXPECT_TRUE(m.mboxname.starts_with("DELETED.user.alice.")) << m.mboxname;
  EXPECT_EQ(gone->mailboxes[0].uniqueid, u->mailboxes[0].uniqueid);
  EXPECT_FALSE(inst_->lookup("user.alice").ok());
  EXPECT_TRUE(gone->quotas.empty());
  EXPECT_TRUE(gone->lsub.empty());
  ASSERT_TRUE(replica_->apply_unuser("alice"));
  auto again = replica_->get_user("alice", true);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->mailboxes.size(), 2u);
}

TEST_F(ReplicaTest, UnmailboxHonoursDelayedDelete) {
  ASSERT_TRUE(inst_->create_mailbox("user.bob").ok());
  ASSERT_TRUE(inst_->create_mailbox("user.bob.Old").ok());
  ASSERT_TRUE(inst_->create_mailbox("user.bob.Parent").ok());
  ASSERT_TRUE(inst_->create_mailbox("user.bob.Parent.Child").ok());
  auto old = inst_->lookup("user.bob.Old");
  ASSERT_TRUE(old.ok());
  ASSERT_TRUE(replica_->apply_unmailbox("user.bob.Old"));
  EXPECT_FALSE(inst_->lookup("user.bob.Old").ok());
  std::vector<std::string> kept;
  ASSERT_TRUE(inst_->mailboxes().list("DELETED.user.bob.Old.", false, [&](const auto& e) {
    kept.push_back(e.uniqueid);
    return true;
  }));
  EXPECT_EQ(kept, std::vector<std::string>{old->uniqueid});
  // A DELETED copy itself, and a mailbox with children, go at once.
  ASSERT_TRUE(replica_->apply_unmailbox("user.bob.Parent"));
  EXPECT_FALSE(inst_->lookup("user.bob.Parent").ok());
  EXPECT_TRUE(inst_->lookup("user.bob.Parent.Child").ok());
  auto deleted = inst_->mailboxes().lookup_uniqueid(old->uniqueid);
  ASSERT_TRUE(deleted.ok());
  ASSERT_TRUE(replica_->apply_unmailbox(deleted->name));
  EXPECT_FALSE(inst_->lookup(deleted->name).ok());
}

}  // namespace
}  // namespace replimail::sync
