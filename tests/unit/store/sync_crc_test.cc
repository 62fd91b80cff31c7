#include "store/sync_crc.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace replimail::store {
namespace {

IndexRecord rec(uint32_t uid, uint64_t modseq, uint32_t flags, std::string guid,
                uint64_t createdmodseq) {
  IndexRecord r;
  r.uid = uid;
  r.modseq = modseq;
  r.last_updated = 1795554949;
  r.system_flags = flags;
  r.internaldate = 1795554947;
  r.guid = std::move(guid);
  r.savedate = 1795554949;
  r.createdmodseq = createdmodseq;
  return r;
}

TEST(SyncCrcTest, Crc32IsZlibIeee) {
  EXPECT_EQ(crc32_of(""), 0u);
  EXPECT_EQ(crc32_of("123456789"), 0xCBF43926u);
  EXPECT_EQ(crc32_of("\\seen"), crc32_of("\\seen"));
}

TEST(SyncCrcTest, FlagsAreLowerCasedAndXored) {
  EXPECT_EQ(flags_crc(0, {}), 0u);
  EXPECT_EQ(flags_crc(kFlagSeen, {}), crc32_of("\\seen"));
  EXPECT_EQ(flags_crc(kFlagSeen | kFlagExpunged, {}), crc32_of("\\seen"));
  EXPECT_EQ(flags_crc(kFlagDeleted | kFlagFlagged, {"$Important"}),
            crc32_of("\\deleted") ^ crc32_of("\\flagged") ^ crc32_of("$important"));
}

// The values a Cyrus 3.6 master sent for user.testuser.Archive in
// /work/shared/peer/cyrus/transcript.txt (APPLY MAILBOX with 3 records).
TEST(SyncCrcTest, MatchesCyrusTranscript) {
  std::vector<IndexRecord> recs = {
      rec(1, 2, 0, "5df00c69709a1f75b57e3a94cefde1af46d82bb3", 2),
      rec(2, 3, kFlagSeen, "02af1af364eada8c1c53dc1c79e52486a85aa03b", 3),
      rec(3, 4, kFlagSeen, "88d3fa1d5ecd5db58ec1ca20fcc73b23854f5e48", 4),
  };
  uint32_t crc = 0, annot = kAnnotCrcSeed;
  for (const auto& r : recs) {
    crc ^= record_crc(r);
    annot ^= record_annot_crc(r, {});
  }
  EXPECT_EQ(crc, 1266560418u);
  EXPECT_EQ(annot, 3073860278u);
}

TEST(SyncCrcTest, HandComputedRecord) {
  IndexRecord r;
  r.uid = 7;
  r.modseq = 9;
  r.last_updated = 100;
  r.internaldate = 50;
  r.guid = "00";
  EXPECT_EQ(record_crc(r), crc32_of("7 9 100 (0) 50 00"));
  r.system_flags = kFlagAnswered;
  EXPECT_EQ(record_crc(r), crc32_of(fmt::format("7 9 100 ({}) 50 00", crc32_of("\\answered"))));
  // Annotations: "<uid> <entry> <userid> <value>"; shared = empty userid.
  std::vector<MessageAnnotation> a = {
      {7, "/comment", "", "hi", 1}, {7, "/x", "bob", "v", 1}, {7, "/empty", "", "", 1}};
  EXPECT_EQ(record_annot_crc(r, a), crc32_of("7 /comment  hi") ^ crc32_of("7 /x bob v"));
}

TEST(SyncCrcTest, ExpungedRecordsContributeNothing) {
  IndexRecord r = rec(1, 2, kFlagExpunged | kFlagSeen, "ab", 2);
  EXPECT_EQ(record_crc(r), 0u);
  EXPECT_EQ(record_annot_crc(r, {{1, "/comment", "", "x", 1}}), 0u);
}

TEST(SyncCrcTest, CrcMatchesRule) {
  EXPECT_TRUE(crc_matches(0, 5));
  EXPECT_TRUE(crc_matches(5, 0));
  EXPECT_TRUE(crc_matches(5, 5));
  EXPECT_FALSE(crc_matches(5, 6));
}

}  // namespace
}  // namespace replimail::store
