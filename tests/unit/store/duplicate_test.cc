// deliver.db: the duplicate delivery records lmtpd checks and marks, the
// message-id they are keyed on, and cyr_expire -E's trimming.
#include "store/duplicate.h"

#include <gtest/gtest.h>

#include "common/fs.h"
#include "store_test_util.h"

namespace replimail::store {
namespace {

TEST(DuplicateDb, MarkedPairsAreFoundPerMailboxAndSharedBetweenConnections) {
  testing::TempInstance t;
  std::string path = DuplicateDb::path_for(t.cfg());
  EXPECT_EQ(path, t.cfg().configdirectory() + "/deliver.db");
  auto db = DuplicateDb::open(path);
  ASSERT_TRUE(db.ok()) << db.status().to_string();
  DuplicateKey a{"<m1@example.com>", "user.alice"};
  DuplicateKey b{"<m1@example.com>", "user.bob"};
  EXPECT_FALSE(*(*db)->check(a));
  ASSERT_TRUE((*db)->mark({a}, 1000).is_ok());
  EXPECT_EQ(*(*db)->check(a), 1000);
  EXPECT_FALSE(*(*db)->check(b));  // the same message for another mailbox
  EXPECT_FALSE(*(*db)->check({"<m2@example.com>", "user.alice"}));
  // Another process's connection sees the committed row.
  auto other = DuplicateDb::open(path);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(*(*other)->check(a), 1000);
  // Marking again takes the new time.
  ASSERT_TRUE((*other)->mark({a, b}, 2000).is_ok());
  EXPECT_EQ(*(*db)->check(a), 2000);
  EXPECT_EQ(*(*db)->check(b), 2000);
  EXPECT_EQ(*(*db)->count(), 2);
}

TEST(DuplicateDb, ExpireRemovesOnlyRowsMarkedBeforeTheCutoff) {
  testing::TempInstance t;
  auto db = DuplicateDb::open(DuplicateDb::path_for(t.cfg()));
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)->mark({{"<old@x>", "user.a"}, {"<old@x>", "user.b"}}, 100).is_ok());
  ASSERT_TRUE((*db)->mark({{"<new@x>", "user.a"}}, 200).is_ok());
  EXPECT_EQ(*(*db)->expire(100), 0);  // strictly older only
  EXPECT_EQ(*(*db)->expire(101), 2);
  EXPECT_FALSE(*(*db)->check({"<old@x>", "user.a"}));
  EXPECT_EQ(*(*db)->check({"<new@x>", "user.a"}), 200);
  EXPECT_EQ(*(*db)->count(), 1);
}

TEST(DuplicateDb, DuplicateDbPathOptionIsHonoured) {
  testing::TempInstance t;
  std::string custom = t.cfg().configdirectory() + "/elsewhere.db";
  auto cfg = Config::parse(
      "configdirectory: " + t.cfg().configdirectory() + "\nduplicate_db_path: " + custom + "\n",
      "test");
  ASSERT_TRUE(cfg.ok()) << cfg.status().to_string();
  EXPECT_EQ(DuplicateDb::path_for(*cfg), custom);
}

TEST(DeliveryMessageId, ResentMessageIdWinsFoldsAndBlanksGo) {
  EXPECT_EQ(delivery_message_id("From: a@b\r\nMessage-ID: <m1@x>\r\n\r\nbody"), "<m1@x>");
  EXPECT_EQ(delivery_message_id("message-id:\r\n   <folded@x>  \r\nSubject: s\r\n\r\n"),
            "<folded@x>");
  EXPECT_EQ(delivery_message_id("Message-ID: <m1@x>\r\nResent-Message-ID: <r1@x>\r\n\r\n"),
            "<r1@x>");
  // The first field of each name counts.
  EXPECT_EQ(delivery_message_id("Message-ID: <a@x>\nMessage-ID: <b@x>\n\n"), "<a@x>");
  // Fields after the header's end are body text.
  EXPECT_EQ(delivery_message_id("Subject: s\r\n\r\nMessage-ID: <body@x>\r\n"), std::nullopt);
  EXPECT_EQ(delivery_message_id("Subject: s\r\n\r\n"), std::nullopt);
  EXPECT_EQ(delivery_message_id("Message-ID:   \r\n\r\n"), std::nullopt);
  EXPECT_EQ(delivery_message_id(""), std::nullopt);
  // A name that only starts like it is another field.
  EXPECT_EQ(delivery_message_id("Message-IDs: <no@x>\r\n\r\n"), std::nullopt);
  EXPECT_EQ(delivery_message_id("Message-ID : <sp@x>\r\n\r\n"), "<sp@x>");
}

TEST(DeliveryMessageId, ReadFromAFile) {
  testing::TempInstance t;
  std::string path = t.cfg().configdirectory() + "/msg";
  ASSERT_TRUE(fs::write_file_atomic(path, "Subject: x\r\nMessage-ID: <f@x>\r\n\r\nhi\r\n").is_ok());
  auto id = delivery_message_id_of_file(path);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, "<f@x>");
  EXPECT_FALSE(delivery_message_id_of_file(path + ".missing").ok());
}

}  // namespace
}  // namespace replimail::store
