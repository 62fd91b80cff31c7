// FETCH and SEARCH answered from the message cache give the answers the
// message files give, and a mailbox whose index predates the cache answers
// the same (from its files) and gets its cache filled.
#include <sqlite3.h>

#include "common/fs.h"
#include "session_fixture.h"
#include "store/mailbox.h"

namespace replimail::imap::test {
namespace {

using ::testing::HasSubstr;

const char kMultipart[] =
    "From: \"Carol Q. Public\" <carol@example.org>, group: a@b.c, d@e.f;\r\n"
    "Subject: =?iso-8859-1?q?caf=E9_parts?=\r\n"
    "Date: Wed, 2 Jul 2003 11:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=XX\r\n\r\npreamble\r\n--XX\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n\r\nthe word giraffe\r\n--XX\r\n"
    "Content-Type: application/octet-stream; name=x.bin\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--XX--\r\n";

const char* const kCommands[] = {
    "f1 FETCH 1:* (ENVELOPE BODY BODYSTRUCTURE)\r\n",
    "f2 FETCH 1:* (BODY.PEEK[HEADER] RFC822.HEADER)\r\n",
    "f3 FETCH 1:* (BODY.PEEK[HEADER.FIELDS (Subject From)] BODY.PEEK[HEADER.FIELDS.NOT "
    "(Subject)]<5.20>)\r\n",
    "s1 SEARCH SUBJECT café\r\n",
    "s2 SEARCH FROM carol\r\n",
    "s3 SEARCH OR HEADER Message-ID 1@example TO bob\r\n",
    "s4 SEARCH TEXT giraffe\r\n",
    "s5 SEARCH TEXT zebras TEXT alice\r\n",
    "s6 SEARCH SENTON 2-Jul-2003\r\n",
    "s7 SORT (SUBJECT) UTF-8 ALL\r\n",
    "s8 SEARCH OR SUBJECT wrong HEADER Subject \"hello\"\r\n",
    "s9 SEARCH OR TEXT wrong TEXT \"the word\"\r\n",
};

class MessageCacheSessionTest : public SessionTest {
 protected:
  std::vector<std::string> answers() {
    auto s = login("alice");
    EXPECT_THAT(run(*s, "e EXAMINE INBOX\r\n"), HasSubstr("e OK"));
    std::vector<std::string> out;
    for (const char* c : kCommands) out.push_back(run(*s, c));
    return out;
  }
  std::string mailbox_dir() {
    auto m = instance_->open_mailbox("user.alice");
    EXPECT_TRUE(m.ok());
    return (*m)->dir();
  }
  // Runs `sql` on user.alice's index with the instance closed (no second
  // connection beside the store's), then reopens the instance; returns the
  // rows `sql` printed, one line each, columns joined by '|'.
  std::vector<std::string> on_index(const std::string& sql) {
    std::string db_path = mailbox_dir() + "/cyrus.index.db";
    Config cfg = instance_->config();
    instance_.reset();
    std::vector<std::string> rows;
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
    auto collect = [](void* out, int n, char** values, char**) {
      std::string row;
      for (int i = 0; i < n; ++i) row += (i ? "|" : "") + std::string(values[i] ? values[i] : "");
      static_cast<std::vector<std::string>*>(out)->push_back(row);
      return 0;
    };
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), collect, &rows, &err), SQLITE_OK) << err;
    sqlite3_free(err);
    sqlite3_close(db);
    auto inst = store::Instance::open(cfg);
    EXPECT_TRUE(inst.ok()) << inst.status().to_string();
    instance_ = std::move(*inst);
    return rows;
  }
  // Makes the index look as code before the message cache wrote it.
  void drop_cache_table() { on_index("DROP TABLE message_cache"); }
  std::vector<std::string> cache_rows() {
    return on_index(
        "SELECT uid, version, guid, header, envelope, bodystructure, body FROM message_cache "
        "ORDER BY uid");
  }
};

TEST_F(MessageCacheSessionTest, OldIndexAnswersAsTheCacheDoesAndGetsItsCache) {
  {
    auto s = login("alice");
    EXPECT_THAT(run(*s, append_cmd("a", "INBOX", kMessage)), HasSubstr("a OK"));
    EXPECT_THAT(run(*s, append_cmd("b", "INBOX", kMultipart)), HasSubstr("b OK"));
  }
  std::vector<std::string> cached = answers();
  EXPECT_THAT(cached[0], HasSubstr("\"hello there\""));
  EXPECT_THAT(cached[1], HasSubstr("RFC822.HEADER {"));
  EXPECT_THAT(cached[3], HasSubstr("* SEARCH 2\r\n"));
  EXPECT_THAT(cached[4], HasSubstr("* SEARCH 2\r\n"));
  EXPECT_THAT(cached[5], HasSubstr("* SEARCH 1\r\n"));
  EXPECT_THAT(cached[6], HasSubstr("* SEARCH 2\r\n"));
  EXPECT_THAT(cached[7], HasSubstr("* SEARCH 1\r\n"));
  EXPECT_THAT(cached[8], HasSubstr("* SEARCH 2\r\n"));

  drop_cache_table();
  // Answered from the files, exactly as from the cache.
  EXPECT_EQ(answers(), cached);
  // The cache was filled on the way: the header answers no longer need the
  // files.
  std::string dir = mailbox_dir();
  ASSERT_TRUE(fs::remove_file(store::message_file(dir, 1)).is_ok());
  ASSERT_TRUE(fs::remove_file(store::message_file(dir, 2)).is_ok());
  std::vector<std::string> without_files = answers();
  for (size_t i : {0, 1, 2, 3, 4, 5, 8, 9, 10}) {
    EXPECT_EQ(without_files[i], cached[i]) << kCommands[i];
  }
}

// One record's row removed, one of an older version and one describing
// another file (its GUID differs), each holding wrong answers: the three are
// read as missing, answered from their files, and written again.
TEST_F(MessageCacheSessionTest, MissingAndStaleRowsAreAnsweredFromTheFileAndRebuilt) {
  {
    auto s = login("alice");
    EXPECT_THAT(run(*s, append_cmd("a", "INBOX", kMessage)), HasSubstr("a OK"));
    EXPECT_THAT(run(*s, append_cmd("b", "INBOX", kMultipart)), HasSubstr("b OK"));
    EXPECT_THAT(run(*s, append_cmd("c", "INBOX", kMessage)), HasSubstr("c OK"));
  }
  const std::vector<std::string> rows = cache_rows();
  ASSERT_EQ(rows.size(), 3u);
  std::vector<std::string> cached = answers();
  EXPECT_THAT(cached[0], HasSubstr("\"hello there\""));
  EXPECT_THAT(cached[3], HasSubstr("* SEARCH 2\r\n"));
  EXPECT_THAT(cached[10], HasSubstr("* SEARCH 1 3\r\n"));
  EXPECT_THAT(cached[11], HasSubstr("* SEARCH 2\r\n"));

  const std::string wrong =
      "header = 'Subject: wrong\r\n\r\n', envelope = '(NIL \"wrong\" NIL NIL NIL NIL NIL NIL "
      "NIL NIL)', bodystructure = '(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 1 1)', "
      "body = '(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 1 1)'";
  const std::string spoil =
      "DELETE FROM message_cache WHERE uid = 1; UPDATE message_cache SET version = 0, " + wrong +
      " WHERE uid = 2; UPDATE message_cache SET guid = '" + std::string(40, '0') + "', " +
      wrong + " WHERE uid = 3";
  on_index(spoil);
  // A SEARCH first (no FETCH has read and repaired the rows): its header
  // and body keys read one column of each row, and a stale row is none.
  {
    auto s = login("alice");
    EXPECT_THAT(run(*s, "e EXAMINE INBOX\r\n"), HasSubstr("e OK"));
    EXPECT_EQ(run(*s, kCommands[10]), cached[10]);
    EXPECT_EQ(run(*s, kCommands[11]), cached[11]);
  }
  on_index(spoil);
  ASSERT_EQ(cache_rows().size(), 2u);

  // Answered from the files, exactly as from the cache.
  std::vector<std::string> repaired = answers();
  for (size_t i = 0; i < cached.size(); ++i) EXPECT_EQ(repaired[i], cached[i]) << kCommands[i];
  // ...and the rows were written again as delivery wrote them.
  EXPECT_EQ(cache_rows(), rows);
  // The rebuilt rows answer without the files.
  std::string dir = mailbox_dir();
  for (uint32_t uid : {1, 2, 3}) {
    ASSERT_TRUE(fs::remove_file(store::message_file(dir, uid)).is_ok());
  }
  std::vector<std::string> without_files = answers();
  for (size_t i : {0, 1, 2, 3, 4, 5, 8, 9, 10}) {
    EXPECT_EQ(without_files[i], cached[i]) << kCommands[i];
  }
}

// SEARCH SUBJECT reads the index's search_fields rows. An index written
// before they existed (the table dropped) answers the same, from the cached
// header block, and gets its rows: they then answer even when the header
// block says otherwise.
TEST_F(MessageCacheSessionTest, SubjectIsAnsweredFromSearchFieldsAndOldIndexGetsThem) {
  {
    auto s = login("alice");
    EXPECT_THAT(run(*s, append_cmd("a", "INBOX", kMessage)), HasSubstr("a OK"));
    EXPECT_THAT(run(*s, append_cmd("b", "INBOX", kMultipart)), HasSubstr("b OK"));
    EXPECT_THAT(run(*s, append_cmd("c", "INBOX", kMessage)), HasSubstr("c OK"));
  }
  const char* const subject_commands[] = {
      "u1 UID SEARCH SUBJECT CAF\xc3\x89\r\n",
      "u2 SEARCH CHARSET UTF-8 SUBJECT \"caf\xc3\xa9 Parts\"\r\n",
      "u3 UID SEARCH SUBJECT \"\"\r\n",
      "u4 SEARCH NOT SUBJECT hello\r\n",
      "u5 SEARCH OR SUBJECT \"o t\" SUBJECT zzz\r\n",
  };
  auto subject_answers = [&] {
    auto s = login("alice");
    EXPECT_THAT(run(*s, "e EXAMINE INBOX\r\n"), HasSubstr("e OK"));
    std::vector<std::string> out;
    for (const char* c : subject_commands) out.push_back(run(*s, c));
    return out;
  };
  const std::vector<std::string> want = subject_answers();
  EXPECT_THAT(want[0], HasSubstr("* SEARCH 2\r\n"));
  EXPECT_THAT(want[1], HasSubstr("* SEARCH 2\r\n"));
  EXPECT_THAT(want[2], HasSubstr("* SEARCH 1 2 3\r\n"));
  EXPECT_THAT(want[3], HasSubstr("* SEARCH 2\r\n"));
  EXPECT_THAT(want[4], HasSubstr("* SEARCH 1 3\r\n"));
  const std::vector<std::string> rows =
      on_index("SELECT uid, guid FROM search_fields ORDER BY uid");
  ASSERT_EQ(rows.size(), 3u);

  on_index("DROP TABLE search_fields");
  EXPECT_EQ(subject_answers(), want);
  EXPECT_EQ(on_index("SELECT uid, guid FROM search_fields ORDER BY uid"), rows);
  on_index("UPDATE message_cache SET header = 'Subject: wrong\r\n\r\n'");
  EXPECT_EQ(subject_answers(), want);
}

}  // namespace
}  // namespace replimail::imap::test
