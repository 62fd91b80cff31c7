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

// Runs `sql` on the index in `dir` with the instance closed; returns each
// row's columns joined by '|' (a NUL shown as '~').
std::vector<std::string> on_index(TempInstance& t, const std::string& dir, const std::string& sql) {
  t.close();
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open((dir + "/cyrus.index.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  std::vector<std::string> rows;
  const char* tail = sql.c_str();
  while (*tail) {
    EXPECT_EQ(sqlite3_prepare_v2(db, tail, -1, &st, &tail), SQLITE_OK) << sqlite3_errmsg(db);
    if (!st) break;
    while (sqlite3_step(st) == SQLITE_ROW) {
      std::string row;
      for (int i = 0; i < sqlite3_column_count(st); ++i) {
        auto p = static_cast<const char*>(sqlite3_column_blob(st, i));
        std::string v(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(st, i)));
        for (char& c : v) c = c == '\0' ? '~' : c;
        row += (i ? "|" : "") + v;
      }
      rows.push_back(row);
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  t.reopen();
  return rows;
}

// The search form of `uids`' Subject fields through one SubjectCursor, as
// SEARCH reads it (a NUL shown as '~'); the Mailbox then writes what it
// computed.
std::vector<std::string> subjects(TempInstance& t, const std::vector<uint32_t>& uids) {
  auto m = open(t, "user.alice");
  std::vector<std::string> out;
  SubjectCursor cursor(*m);
  for (uint32_t uid : uids) {
    auto form = cursor.subject(uid, m->record(uid)->guid);
    EXPECT_TRUE(form.ok()) << form.status().to_string();
    std::string v(form.ok() ? *form : "?");
    for (char& c : v) c = c == '\0' ? '~' : c;
    out.push_back(v);
  }
  return out;
}

const char kFields[] = "SELECT uid, version, subject FROM search_fields ORDER BY uid";

// user.alice holding kPlain (UID 1) and kMultipart (UID 2).
void alice_with_plain_and_multipart(TempInstance& t) {
  ASSERT_TRUE(t.inst().create_mailbox("user.alice").ok());
  ASSERT_EQ(t.deliver("user.alice", kPlain), 1u);
  ASSERT_EQ(t.deliver("user.alice", kMultipart), 2u);
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
  ASSERT_NO_FATAL_FAILURE(alice_with_plain_and_multipart(t));
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
  ASSERT_NO_FATAL_FAILURE(alice_with_plain_and_multipart(t));
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
  ASSERT_NO_FATAL_FAILURE(alice_with_plain_and_multipart(t));
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

// Every path that writes a cache row writes its search_fields row (the
// Subject fields' search form) in the same transaction; an expunge drops it.
TEST(MessageCacheTest, SearchFieldsAreWrittenWithTheCacheRow) {
  TempInstance t;
  ASSERT_TRUE(t.inst().create_mailbox("user.alice").ok());
  ASSERT_EQ(t.deliver("user.alice", kPlain), 1u);
  ASSERT_EQ(t.deliver("user.alice", "Subject: One\r\nsubject: TWO\r\n\r\nx\r\n"), 2u);
  ASSERT_EQ(t.deliver("user.alice", "From: a@b.c\r\n\r\nno subject\r\n"), 3u);
  auto staged = t.stage(kMultipart);
  IndexRecord r;
  r.uid = 7;
  r.modseq = 30;
  r.size = staged->size();
  r.guid = staged->guid();
  {
    auto m = open(t, "user.alice");
    auto txn = m->begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE((*txn)->put_record(r, staged->path()).is_ok());
    ASSERT_TRUE(t.inst().commit(*m, **txn).is_ok());
  }
  std::string dir = open(t, "user.alice")->dir();
  const std::string v = std::to_string(kSearchFieldsVersion);
  EXPECT_EQ(on_index(t, dir, kFields),
            (std::vector<std::string>{"1|" + v + "|caf\xc3\xa9~", "2|" + v + "|one~two~",
                                      "3|" + v + "|", "7|" + v + "|parts~"}));
  EXPECT_EQ(subjects(t, {1, 2, 3, 7}),
            (std::vector<std::string>{"caf\xc3\xa9~", "one~two~", "", "parts~"}));
  {
    auto m = open(t, "user.alice");
    auto txn = m->begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE((*txn)->expunge(2).is_ok());
    ASSERT_TRUE(t.inst().commit(*m, **txn).is_ok());
  }
  EXPECT_EQ(on_index(t, dir, "SELECT uid FROM search_fields ORDER BY uid"),
            (std::vector<std::string>{"1", "3", "7"}));
}

// An index written before search_fields existed: opening it makes the
// table (the upgrade in place); check_mailbox counts the rows missing; a
// scan answers from the cached header block and writes the rows back,
// which then answer by themselves.
TEST(MessageCacheTest, OldIndexGetsSearchFieldsOnFirstRead) {
  TempInstance t;
  ASSERT_NO_FATAL_FAILURE(alice_with_plain_and_multipart(t));
  ASSERT_EQ(t.deliver("user.alice", "Subject: =?iso-8859-1?q?Stra=DFe?=\r\n\r\nx\r\n"), 3u);
  std::string dir = open(t, "user.alice")->dir();
  const std::vector<std::string> want = {"caf\xc3\xa9~", "parts~", "strasse~"};
  EXPECT_EQ(subjects(t, {1, 2, 3}), want);
  const std::vector<std::string> rows = on_index(t, dir, kFields);
  ASSERT_EQ(rows.size(), 3u);
  on_index(t, dir, "DROP TABLE search_fields");
  auto report = check_mailbox(t.inst(), "user.alice", {});
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->problems.size(), 3u);
  EXPECT_EQ(on_index(t, dir, kFields), std::vector<std::string>{});
  // Only the second and third are read; the first stays missing.
  EXPECT_EQ(subjects(t, {2, 3}), (std::vector<std::string>{want[1], want[2]}));
  EXPECT_EQ(on_index(t, dir, kFields), (std::vector<std::string>{rows[1], rows[2]}));
  // The rows written answer without the header block.
  on_index(t, dir, "UPDATE message_cache SET header = 'Subject: wrong\r\n\r\n'");
  EXPECT_EQ(subjects(t, {1, 2, 3}), (std::vector<std::string>{"wrong~", want[1], want[2]}));
}

// A row of an older version, or describing another file (GUID), is stale:
// computed again and rewritten.
TEST(MessageCacheTest, StaleSearchFieldsAreComputedAgain) {
  TempInstance t;
  ASSERT_NO_FATAL_FAILURE(alice_with_plain_and_multipart(t));
  std::string dir = open(t, "user.alice")->dir();
  const std::vector<std::string> rows = on_index(t, dir, kFields);
  on_index(t, dir,
           "UPDATE search_fields SET version = 0, subject = 'x' WHERE uid = 1; UPDATE "
           "search_fields SET guid = '" +
               std::string(40, '0') + "', subject = 'y' WHERE uid = 2");
  EXPECT_EQ(subjects(t, {1, 2}), (std::vector<std::string>{"caf\xc3\xa9~", "parts~"}));
  EXPECT_EQ(on_index(t, dir, kFields), rows);
}

TEST(MessageCacheTest, ReconstructFillsSearchFields) {
  TempInstance t;
  ASSERT_NO_FATAL_FAILURE(alice_with_plain_and_multipart(t));
  std::string dir = open(t, "user.alice")->dir();
  const std::vector<std::string> rows = on_index(t, dir, kFields);
  on_index(t, dir, "DROP TABLE search_fields");
  auto n = reconstruct(t.inst(), {}, false, {.repair = true}, [](const std::string&) {});
  ASSERT_TRUE(n.ok()) << n.status().to_string();
  EXPECT_TRUE(check_mailbox(t.inst(), "user.alice", {})->ok());
  EXPECT_EQ(on_index(t, dir, kFields), rows);
}

// A scan's fill racing an expunge writes nothing for the expunged record.
TEST(MessageCacheTest, SearchFieldsFillOfAnExpungedRecordWritesNothing) {
  TempInstance t;
  ASSERT_TRUE(t.inst().create_mailbox("user.alice").ok());
  ASSERT_EQ(t.deliver("user.alice", kPlain), 1u);
  std::string dir = open(t, "user.alice")->dir();
  on_index(t, dir, "DELETE FROM search_fields");
  auto reader = open(t, "user.alice");
  {
    SubjectCursor cursor(*reader);
    ASSERT_TRUE(cursor.subject(1, reader->record(1)->guid).ok());  // queued
  }
  {
    auto w = open(t, "user.alice");
    auto txn = w->begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE((*txn)->expunge(1).is_ok());
    ASSERT_TRUE(t.inst().commit(*w, **txn).is_ok());
  }
  ASSERT_TRUE(reader->flush_cache().is_ok());
  reader.reset();
  EXPECT_EQ(on_index(t, dir, kFields), std::vector<std::string>{});
}

}  // namespace
}  // namespace replimail::store
