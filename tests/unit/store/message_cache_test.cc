// The message cache: written with the record on every path that writes a
// record, read without the message file, filled lazily or by reconstruct
// for an index written before the cache existed.
#include "store/message_cache.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "mime/message.h"
#include "store/check.h"
#include "store/mailbox.h"
#include "store/staged_message.h"
#include "store_test_util.h"

namespace replimail::store {
namespace {

using testing::TempInstance;

const std::string kPlain =
    "From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n"
    "Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n\r\nhello\r\n";
const std::string kMultipart =
    "From: carol@example.org\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=XX\r\n\r\npreamble\r\n--XX\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n\r\none\r\n--XX\r\n"
    "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    "AAEC\r\n--XX--\r\n";

MessageCache expected(const std::string& bytes) {
  return make_message_cache(mime::Message::from_bytes(bytes));
}

std::unique_ptr<Mailbox> open(TempInstance& t, const std::string& name) {
  auto m = t.inst().open_mailbox(name);
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  return std::move(*m);
}

// The index as code before the cache wrote it: no message_cache table.
void drop_cache_table(TempInstance& t, const std::string& dir) {
  t.close();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir + "/cyrus.index.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "DROP TABLE message_cache", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  t.reopen();
}

TEST(MessageCacheTest, CacheHoldsWhatFetchPrints) {
  MessageCache c = expected(kMultipart);
  EXPECT_EQ(c.header,
            "From: carol@example.org\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=XX\r\n\r\n");
  auto m = mime::Message::from_bytes(kMultipart);
  EXPECT_EQ(c.envelope, m.envelope());
  EXPECT_EQ(c.bodystructure, m.bodystructure());
  EXPECT_EQ(c.body, m.body());
}

TEST(MessageCacheTest, DeliveryWritesTheCacheWithTheRecord) {
  TempInstance t;
  ASSERT_TRUE(t.inst().create_mailbox("user.alice").ok());
  ASSERT_EQ(t.deliver("user.alice", kPlain), 1u);
  ASSERT_EQ(t.deliver("user.alice", kMultipart), 2u);
  auto m = open(t, "user.alice");
  // Read without the file: the cache is in the index.
  ASSERT_TRUE(fs::remove_file(m->message_path(2)).is_ok());
  auto rec = m->record(2);
  ASSERT_TRUE(rec.ok());
  auto c = m->cache(2, rec->guid);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(*c, expected(kMultipart));
  // A GUID the row does not describe is stale: computed from the (missing) file.
  EXPECT_FALSE(m->cache(2, std::string(40, '0')).ok());
}

TEST(MessageCacheTest, ReplicaRecordsGetTheCacheAndExpungeDropsIt) {
  TempInstance t;
  ASSERT_TRUE(t.inst().create_mailbox("user.alice").ok());
  auto staged = t.stage(kMultipart);
  auto m = open(t, "user.alice");
  IndexRecord r;
  r.uid = 7;
  r.modseq = 3;
  r.size = staged->size();
  r.guid = staged->guid();
  {
    auto txn = m->begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE((*txn)->put_record(r, staged->path()).is_ok());
    auto has = (*txn)->has_cache(7);
    ASSERT_TRUE(has.ok());
    EXPECT_TRUE(*has);
    ASSERT_TRUE(t.inst().commit(*m, **txn).is_ok());
  }
  std::string bytes = *fs::read_file(m->message_path(7));
  ASSERT_TRUE(fs::remove_file(m->message_path(7)).is_ok());
  auto c = m->cache(7, r.guid);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(*c, expected(kMultipart));
  ASSERT_TRUE(fs::write_file_atomic(m->message_path(7), bytes).is_ok());
  {
    auto txn = m->begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE((*txn)->expunge(7).is_ok());
    ASSERT_TRUE(t.inst().commit(*m, **txn).is_ok());
  }
  auto txn = m->begin();
  ASSERT_TRUE(txn.ok());
  auto has = (*txn)->has_cache(7);
  ASSERT_TRUE(has.ok());
  EXPECT_FALSE(*has);
}

TEST(MessageCacheTest, OldIndexIsAnsweredFromTheFileAndFilledLazily) {
  TempInstance t;
  ASSERT_TRUE(t.inst().create_mailbox("user.alice").ok());
  ASSERT_EQ(t.deliver("user.alice", kPlain), 1u);
  ASSERT_EQ(t.deliver("user.alice", kMultipart), 2u);
  std::string dir = open(t, "user.alice")->dir();
  drop_cache_table(t, dir);
  std::string guid2;
  {
    auto m = open(t, "user.alice");
    {
      auto txn = m->begin();
      ASSERT_TRUE(txn.ok());
      EXPECT_FALSE(*(*txn)->has_cache(1));
      EXPECT_FALSE(*(*txn)->has_cache(2));
    }
    guid2 = m->record(2)->guid;
    auto c = m->cache(2, guid2);
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    EXPECT_EQ(*c, expected(kMultipart));
  }  // the Mailbox writes what it computed
  auto m = open(t, "user.alice");
  ASSERT_TRUE(fs::remove_file(m->message_path(2)).is_ok());
  auto c = m->cache(2, guid2);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(*c, expected(kMultipart));
}

// An index whose cache table is the first version's (no text_segments
// column, rows of version 1): opening it adds the column, its rows are
// stale, and the cache computed again holds the text segments.
TEST(MessageCacheTest, FirstVersionCacheTableGetsTheTextSegments) {
  TempInstance t;
  ASSERT_TRUE(t.inst().create_mailbox("user.alice").ok());
  ASSERT_EQ(t.deliver("user.alice", kMultipart), 1u);
  std::string dir = open(t, "user.alice")->dir();
  std::string guid = open(t, "user.alice")->record(1)->guid;
  t.close();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir + "/cyrus.index.db").c_str(), &db), SQLITE_OK);
  const std::string v1 =
      "DROP TABLE message_cache; CREATE TABLE message_cache(uid INTEGER PRIMARY KEY, version "
      "INTEGER NOT NULL, guid TEXT NOT NULL, header TEXT NOT NULL, envelope TEXT NOT NULL, "
      "bodystructure TEXT NOT NULL, body TEXT NOT NULL); INSERT INTO message_cache VALUES(1, 1, '" +
      guid + "', 'h', 'e', 'bs', 'b');";
  ASSERT_EQ(sqlite3_exec(db, v1.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  t.reopen();
  {
    auto m = open(t, "user.alice");
    auto c = m->cache(1, guid);
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    EXPECT_EQ(*c, expected(kMultipart));
    EXPECT_NE(c->text_segments, "");
  }  // the Mailbox writes what it computed
  auto m = open(t, "user.alice");
  ASSERT_TRUE(fs::remove_file(m->message_path(1)).is_ok());
  auto c = m->cache(1, guid);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(*c, expected(kMultipart));
}

TEST(MessageCacheTest, LazyFillOfAnExpungedRecordWritesNothing) {
  TempInstance t;
  ASSERT_TRUE(t.inst().create_mailbox("user.alice").ok());
  ASSERT_EQ(t.deliver("user.alice", kPlain), 1u);
  std::string dir = open(t, "user.alice")->dir();
  drop_cache_table(t, dir);
  auto reader = open(t, "user.alice");
  std::string guid = reader->record(1)->guid;
  ASSERT_TRUE(reader->cache(1, guid).ok());  // queued
  {
    auto w = open(t, "user.alice");
    auto txn = w->begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE((*txn)->expunge(1).is_ok());
    ASSERT_TRUE(t.inst().commit(*w, **txn).is_ok());
  }
  ASSERT_TRUE(reader->flush_cache().is_ok());
  auto txn = reader->begin();
  ASSERT_TRUE(txn.ok());
  EXPECT_FALSE(*(*txn)->has_cache(1));
}

TEST(MessageCacheTest, ReconstructFillsTheCacheOfAnOldIndex) {
  TempInstance t;
  ASSERT_TRUE(t.inst().create_mailbox("user.alice").ok());
  ASSERT_EQ(t.deliver("user.alice", kPlain), 1u);
  ASSERT_EQ(t.deliver("user.alice", kMultipart), 2u);
  std::string dir = open(t, "user.alice")->dir();
  drop_cache_table(t, dir);
  auto report = check_mailbox(t.inst(), "user.alice", {});
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  ASSERT_EQ(report->problems.size(), 2u);
  EXPECT_EQ(report->problems[0].kind, CheckProblem::Kind::kMissingCache);
  EXPECT_EQ(report->problems[1].uid, 2u);
  t.take_log();
  std::vector<std::string> lines;
  auto n = reconstruct(t.inst(), {}, false, {.repair = true},
                       [&](const std::string& l) { lines.push_back(l); });
  ASSERT_TRUE(n.ok()) << n.status().to_string();
  EXPECT_EQ(*n, 2u);
  // No replicated state changed: nothing to announce.
  EXPECT_TRUE(t.take_log().empty());
  EXPECT_TRUE(check_mailbox(t.inst(), "user.alice", {})->ok());
  auto m = open(t, "user.alice");
  std::string guid1 = m->record(1)->guid;
  ASSERT_TRUE(fs::remove_file(m->message_path(1)).is_ok());
  auto c = m->cache(1, guid1);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(*c, expected(kPlain));
}

}  // namespace
}  // namespace replimail::store
