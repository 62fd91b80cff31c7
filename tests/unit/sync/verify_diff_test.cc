#include "sync/verify_diff.h"

#include <gtest/gtest.h>

namespace replimail::sync {
namespace {

MailboxState mbox() {
  MailboxState m;
  m.mboxname = "user.alice";
  m.uniqueid = "u1";
  m.partition = "default";
  m.acl = "alice\tlrswipkxtecdan\t";
  m.options = "P";
  m.uidvalidity = 100;
  m.last_uid = 5;
  m.highestmodseq = 20;
  m.sync_crc = 1234;
  m.sync_crc_annot = 5678;
  return m;
}

RecordItem rec(uint32_t uid, uint64_t modseq, char guid, uint32_t flags = 0) {
  RecordItem r;
  r.record.uid = uid;
  r.record.modseq = modseq;
  r.record.last_updated = 1000 + modseq;
  r.record.internaldate = 900;
  r.record.system_flags = flags;
  r.record.size = 10;
  r.record.guid = std::string(40, guid);
  return r;
}

TEST(VerifyDiff, EqualMailboxesHaveNoDifference) {
  EXPECT_TRUE(mailbox_differences(mbox(), mbox()).empty());
  EXPECT_FALSE(records_may_differ(mbox(), mbox()));
}

TEST(VerifyDiff, ThePartitionIsNotCompared) {
  MailboxState r = mbox();
  r.partition = "other";
  EXPECT_TRUE(mailbox_differences(mbox(), r).empty());
}

TEST(VerifyDiff, CountersAndCrcsAreNamedWithBothValues) {
  MailboxState r = mbox();
  r.highestmodseq = 22;
  r.sync_crc = 0;  // no wildcard: a GET reply carries the real CRC
  r.acl = "alice\tlr\t";
  auto d = mailbox_differences(mbox(), r);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].uid, 0u);
  EXPECT_EQ(d[0].what,
            "highestmodseq primary 20 replica 22, sync_crc primary 1234 replica 0, acl primary "
            "\"alice\\tlrswipkxtecdan\\t\" replica \"alice\\tlr\\t\"");
  EXPECT_TRUE(d[0].repairable);
  EXPECT_TRUE(records_may_differ(mbox(), r));
}

TEST(VerifyDiff, AReplicaAheadInUidsOrAnotherUniqueidIsNotRepairable) {
  MailboxState r = mbox();
  r.last_uid = 6;
  auto d = mailbox_differences(mbox(), r);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_FALSE(d[0].repairable);
  r = mbox();
  r.uniqueid = "u2";
  d = mailbox_differences(mbox(), r);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].what, "another mailbox of this name: uniqueid primary u1 replica u2");
  EXPECT_FALSE(d[0].repairable);
}

TEST(VerifyDiff, FlagsChangedOnTheReplicaAreRepairable) {
  RecordItem p = rec(2, 10, 'a', store::kFlagSeen);
  p.record.user_flags = {"$Label"};
  RecordItem r = rec(2, 12, 'a', store::kFlagSeen | store::kFlagFlagged);
  r.record.last_updated = p.record.last_updated;
  r.record.user_flags = {"$label", "$Other"};
  auto d = record_difference(&p, &r, 5);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->uid, 2u);
  EXPECT_EQ(d->what,
            "flags primary (\\Seen $Label) replica (\\Flagged \\Seen $label $Other), modseq "
            "primary 10 replica 12");
  EXPECT_TRUE(d->repairable);
}

TEST(VerifyDiff, KeywordCaseAloneIsNoDifference) {
  RecordItem p = rec(2, 10, 'a');
  p.record.user_flags = {"$Label"};
  RecordItem r = p;
  r.record.user_flags = {"$LABEL"};
  EXPECT_FALSE(record_difference(&p, &r, 5).has_value());
}

TEST(VerifyDiff, WhatOnlyAMergeResolvesIsNotRepairable) {
  RecordItem live = rec(3, 10, 'a');
  RecordItem gone = rec(3, 11, 'a', store::kFlagExpunged);
  // Expunged on the replica: its file is gone, the record cannot live again.
  auto d = record_difference(&live, &gone, 5);
  ASSERT_TRUE(d.has_value());
  EXPECT_FALSE(d->repairable);
  // Expunged on the primary only: the replica takes it.
  d = record_difference(&gone, &live, 5);
  ASSERT_TRUE(d.has_value());
  EXPECT_TRUE(d->repairable);
  // Expunged on both sides at different MODSEQs: the replica takes the
  // primary's.
  RecordItem gone_later = rec(3, 14, 'a', store::kFlagExpunged);
  d = record_difference(&gone, &gone_later, 5);
  ASSERT_TRUE(d.has_value());
  EXPECT_NE(d->what.find("modseq primary 11 replica 14"), std::string::npos) << d->what;
  EXPECT_TRUE(d->repairable);
  // Split brain.
  RecordItem other = rec(3, 10, 'b');
  d = record_difference(&live, &other, 5);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->what, "split brain: GUID primary " + std::string(40, 'a') + " replica " +
                         std::string(40, 'b'));
  EXPECT_FALSE(d->repairable);
  // Only on the replica.
  d = record_difference(nullptr, &live, 5);
  ASSERT_TRUE(d.has_value());
  EXPECT_FALSE(d->repairable);
  // Lost by the replica below its LAST_UID.
  d = record_difference(&live, nullptr, 5);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->what, "lost by the replica (below its LAST_UID 5)");
  EXPECT_FALSE(d->repairable);
}

TEST(VerifyDiff, RecordsNotSentYetAreRepairable) {
  RecordItem p = rec(6, 30, 'c');
  auto d = record_difference(&p, nullptr, 5);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->what, "not on the replica yet");
  EXPECT_TRUE(d->repairable);
  // An expunged record below the replica's LAST_UID was never sent: fine.
  RecordItem e = rec(4, 30, 'c', store::kFlagExpunged);
  EXPECT_FALSE(record_difference(&e, nullptr, 5).has_value());
  // Purged on the primary (cyr_expire -X), still expunged on the replica.
  EXPECT_FALSE(record_difference(nullptr, &e, 5).has_value());
}

TEST(VerifyDiff, TheWalkPairsRecordsByUid) {
  std::vector<RecordItem> p = {rec(1, 1, 'a'), rec(2, 2, 'b'), rec(4, 4, 'd')};
  std::vector<RecordItem> r = {rec(1, 1, 'a'), rec(3, 3, 'c'), rec(4, 5, 'd')};
  auto d = record_differences(p, r, 4);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].uid, 2u);  // lost by the replica
  EXPECT_EQ(d[1].uid, 3u);  // only on the replica
  EXPECT_EQ(d[2].uid, 4u);  // modseq
  EXPECT_NE(d[2].what.find("modseq primary 4 replica 5"), std::string::npos) << d[2].what;
}

}  // namespace
}  // namespace replimail::sync
