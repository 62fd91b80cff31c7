// SEARCH text keys answered from the full-text index must equal a scan:
// varied generated messages, many needles, every text key, with some
// messages left unindexed and some expunged after indexing.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "../../support/temp_dir.h"
#include "common/base64.h"
#include "imap/parser.h"
#include "imap/search.h"
#include "imap/selected.h"
#include "search/indexer.h"
#include "session_fixture.h"
#include "store/instance.h"
#include "store/staged_message.h"

namespace replimail::imap {
namespace {

const std::vector<std::string> kWords = {
    "apple", "banana", "Cherry", "delta", "echo",   "foxtrot", "Grüße", "straße",
    "café",  "naïve",  "привет", "мир",   "日本語", "hello",   "world", "quick",
    "brown", "jumps",  "over",   "lazy",  "dog",    "e-mail",  "x@y.z", "foo.bar",
    "50%",   "C++",    "ÉCOLE",  "über",  "Ωmega",  "résumé",  "naive", "strasse"};

std::string words(std::mt19937& rng, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    if (i) out += (rng() % 7 == 0) ? ", " : " ";
    out += kWords[rng() % kWords.size()];
  }
  return out;
}

std::string qp(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x80 || c == '=') {
      char buf[4];
      std::snprintf(buf, sizeof buf, "=%02X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string generate(std::mt19937& rng, int i) {
  std::string subject = words(rng, 1 + rng() % 4);
  std::string h = "From: " + words(rng, 1) + " <user" + std::to_string(rng() % 20) +
                  "@example.com>\r\nTo: rcpt" + std::to_string(rng() % 5) + "@example.org\r\n";
  if (rng() % 3 == 0) h += "Cc: " + words(rng, 2) + " <cc@example.net>\r\n";
  if (rng() % 5 == 0) h += "X-Tag: " + words(rng, 2) + "\r\n";
  h += "Message-ID: <m" + std::to_string(i) + "@gen>\r\n";
  if (rng() % 4 == 0) {
    h += "Subject: =?UTF-8?B?" + base64_encode(subject) + "?=\r\n";
  } else {
    h += "Subject: " + subject + "\r\n";
  }
  std::string body = words(rng, 5 + rng() % 30);
  switch (rng() % 4) {
    case 0:
      return h + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n";
    case 1:
      return h +
             "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: "
             "quoted-printable\r\n\r\n" +
             qp(body) + "\r\n";
    case 2:
      return h +
             "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
             base64_encode("<p>" + body + "</p>") + "\r\n";
    default:
      return h +
             "Content-Type: multipart/alternative; boundary=b1\r\n\r\n--b1\r\nContent-Type: "
             "text/plain\r\n\r\n" +
             words(rng, 6) + "\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<b>" +
             body + "</b>\r\n--b1--\r\n";
  }
}

class SearchIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = replimail::testing::make_temp_dir("rm_imap_search_");
    ASSERT_NE(dir_, "");
    auto cfg = Config::parse("configdirectory: " + dir_ + "/conf\npartition-default: " + dir_ +
                                 "/spool\nsearch_engine: xapian\n",
                             "imapd.conf");
    ASSERT_TRUE(cfg.ok());
    auto inst = store::Instance::open(*cfg);
    ASSERT_TRUE(inst.ok());
    instance_ = std::move(*inst);
    ASSERT_TRUE(instance_->create_mailbox("user.alice").ok());
  }
  void TearDown() override {
    instance_.reset();
    std::filesystem::remove_all(dir_);
  }
  void deliver(const std::string& bytes) { test::deliver_to(*instance_, "user.alice", bytes); }
  // UIDs matching `criteria` (a SEARCH command's arguments; "%N" stands
  // for `needle`, sent as a literal), with or without the index.
  std::vector<uint32_t> search(std::string criteria, bool use_index,
                               const std::string& needle = "") {
    size_t at = criteria.find("%N");
    if (at != std::string::npos) {
      criteria.replace(at, 2, "{" + std::to_string(needle.size()) + "}\r\n" + needle);
    }
    std::string tag;
    auto cmd = parse_command("t SEARCH " + criteria, &tag);
    EXPECT_TRUE(cmd.ok()) << criteria << ": " << cmd.status().message();
    if (!cmd.ok()) return {};
    auto req = parse_search(cmd->args);
    EXPECT_TRUE(req.ok()) << criteria << ": " << req.status().message();
    if (!req.ok()) return {};
    auto sel = SelectedMailbox::open(*instance_, "user.alice", "alice", true);
    EXPECT_TRUE(sel.ok());
    SelectedMailbox& s = **sel;
    IndexAnswers answers;
    if (use_index) answers = IndexAnswers::prepare(*instance_, s, req->key, scan_first_);
    std::vector<uint32_t> out;
    for (uint32_t seq = 1; seq <= s.exists(); ++seq) {
      const MessageView& m = s.at(seq);
      std::optional<mime::Message> msg;
      std::optional<mime::SearchBody> body;
      SearchContext ctx;
      ctx.seq = seq;
      ctx.message = &m;
      ctx.max_seq = s.exists();
      ctx.max_uid = s.at(s.exists()).uid;
      ctx.index = use_index ? &answers : nullptr;
      ctx.headers = [&]() -> const mime::Message* {
        if (!msg) {
          scanned_++;
          auto o = mime::Message::open(s.mailbox().message_path(m.uid));
          if (!o.ok()) return nullptr;
          msg.emplace(std::move(o).value());
        }
        return &*msg;
      };
      ctx.body = [&]() -> const mime::SearchBody* {
        if (!body) {
          scanned_++;
          auto o = mime::Message::open(s.mailbox().message_path(m.uid));
          if (!o.ok()) return nullptr;
          body.emplace(mime::SearchBody::of(std::move(o).value()));
        }
        return &*body;
      };
      if (search_matches(req->key, ctx)) out.push_back(m.uid);
    }
    return out;
  }

  // A session of alice's with INBOX selected, on `instance`.
  static std::unique_ptr<Session> select(store::Instance& instance) {
    auto s = std::make_unique<Session>(
        instance, [](bool) { return std::make_unique<test::FakeSasl>(); }, SessionOptions{});
    s->take_output();
    s->feed("l LOGIN alice alicepw\r\ns SELECT INBOX\r\n");
    std::string out = s->take_output();
    EXPECT_NE(out.find("s OK"), std::string::npos) << out;
    return s;
  }
  // The UIDs a session's UID SEARCH answers.
  static std::vector<uint32_t> uid_search(Session& s, const std::string& criteria) {
    s.feed("t UID SEARCH CHARSET UTF-8 " + criteria + "\r\n");
    std::string out = s.take_output();
    EXPECT_NE(out.find("\r\nt OK"), std::string::npos) << criteria << ": " << out;
    std::vector<uint32_t> uids;
    size_t at = out.find("* SEARCH");
    if (at == std::string::npos) return uids;
    std::istringstream line(out.substr(at + 8, out.find("\r\n", at) - at - 8));
    for (uint32_t uid; line >> uid;) uids.push_back(uid);
    return uids;
  }

  std::string dir_;
  std::unique_ptr<store::Instance> instance_;
  size_t scanned_ = 0;
  uint32_t scan_first_ = 0;  // IndexAnswers::prepare's, for search()
};

// Every "%N" of `criteria` made a LITERAL+ holding `needle`.
std::string with_needle(std::string criteria, const std::string& needle) {
  const std::string literal = "{" + std::to_string(needle.size()) + "+}\r\n" + needle;
  for (size_t at; (at = criteria.find("%N")) != std::string::npos;) {
    criteria.replace(at, 2, literal);
  }
  return criteria;
}

TEST_F(SearchIndexTest, IndexAnswersEqualScans) {
  std::mt19937 rng(6);
  for (int i = 0; i < 150; ++i) deliver(generate(rng, i));
  search::Indexer indexer(*instance_, false);
  ASSERT_TRUE(indexer.index_mailbox("user.alice", true).ok());
  for (int i = 150; i < 170; ++i) deliver(generate(rng, i));  // not indexed
  std::vector<uint32_t> gone;
  for (uint32_t uid = 5; uid < 170; uid += 23) gone.push_back(uid);
  ASSERT_TRUE(instance_->expunge("user.alice", gone).is_ok());

  std::vector<std::string> needles = {
      "apple",       "APP",     "ana",    "err",   "grüsse",  "STRASSE", "straße",
      "cafe",        "café",    "привет", "ИВЕ",   "日本",    "e-mail",  "mail",
      "x@y",         "y.z",     "o.b",    "50",    "c++",     "+",       "hello world",
      "quick brown", "ick bro", "lo, wo", " dog",  "dog ",    "école",   "ωmega",
      "sum",         "a",       "zzz",    "rcpt1", "example", "m12@gen", "user1"};
  std::vector<std::string> keys = {"BODY", "TEXT", "SUBJECT", "FROM", "TO", "CC", "BCC"};
  size_t compared = 0, nonempty = 0;
  for (const std::string& n : needles) {
    std::vector<std::string> criteria;
    for (const std::string& k : keys) criteria.push_back("CHARSET UTF-8 " + k + " %N");
    criteria.push_back("CHARSET UTF-8 HEADER Message-ID %N");
    criteria.push_back("CHARSET UTF-8 HEADER X-Tag %N");
    criteria.push_back("CHARSET UTF-8 NOT BODY %N");
    criteria.push_back("CHARSET UTF-8 OR SUBJECT %N BODY dog");
    criteria.push_back("CHARSET UTF-8 UID 1:100 TEXT %N");
    for (const std::string& c : criteria) {
      auto scan = search(c, false, n);
      auto indexed = search(c, true, n);
      EXPECT_EQ(indexed, scan) << c << " with " << n;
      compared++;
      if (!scan.empty()) nonempty++;
    }
  }
  EXPECT_GT(nonempty, compared / 3);
}

// Lazy answers (IndexAnswers::prepare's scan_first): a key behind a cheaper
// one is scanned for its first messages, then asked of the index; a key
// every message reaches is asked at once. The answers do not change
// wherever the switch falls (keys reached by every message, by a few, in
// OR and NOT).
TEST_F(SearchIndexTest, LazyAnswersScanFirstThenAskTheIndexAndAnswerTheSame) {
  std::mt19937 rng(9);
  for (int i = 0; i < 100; ++i) deliver(generate(rng, i));
  search::Indexer indexer(*instance_, false);
  ASSERT_TRUE(indexer.index_mailbox("user.alice", true).ok());
  for (int i = 100; i < 110; ++i) deliver(generate(rng, i));  // not indexed
  ASSERT_TRUE(instance_->expunge("user.alice", {4, 50, 101}).is_ok());

  scan_first_ = 10;
  scanned_ = 0;
  search("LARGER 0 BODY apple", true);  // every message passes LARGER 0
  EXPECT_EQ(scanned_, 11u + 9u);        // the first 11 messages, then the 9 unindexed ones
  scanned_ = 0;
  search("BODY apple", true);  // not behind another key: the index at once
  EXPECT_EQ(scanned_, 9u);
  scanned_ = 0;
  search("BODY apple LARGER 0", true);  // LARGER after it guards nothing
  EXPECT_EQ(scanned_, 9u);
  scan_first_ = 0;
  scanned_ = 0;
  search("LARGER 0 BODY apple", true);
  EXPECT_EQ(scanned_, 9u);

  const std::vector<std::string> needles = {"apple", "straße", "café", "ИВЕ", "e-mail",
                                            "a",     " dog",   "zzz",  "o.b", "quick brown"};
  const std::vector<std::string> criteria = {
      "CHARSET UTF-8 BODY %N",          "CHARSET UTF-8 TEXT %N",
      "CHARSET UTF-8 FROM %N",          "CHARSET UTF-8 SUBJECT %N BODY dog",
      "CHARSET UTF-8 NOT BODY %N",      "CHARSET UTF-8 OR BODY %N HEADER X-Tag %N",
      "CHARSET UTF-8 UID 1:30 TEXT %N", "CHARSET UTF-8 LARGER 900 BODY %N"};
  size_t compared = 0, nonempty = 0;
  for (uint32_t first : {1u, 7u, 40u, 200u}) {
    for (const std::string& n : needles) {
      for (const std::string& c : criteria) {
        scan_first_ = 0;
        auto scan = search(c, false, n);
        scan_first_ = first;
        EXPECT_EQ(search(c, true, n), scan) << c << " with " << n << ", scan_first " << first;
        compared++;
        if (!scan.empty()) nonempty++;
      }
    }
  }
  EXPECT_GT(nonempty, compared / 3);
}

// SEARCH in a session, as imapd runs it (SUBJECT from the store's
// search_fields rows, never from the index; the other text keys from the
// index), answers as a session without the index and as parsing each
// message's file: SUBJECT alone and mixed with keys the index answers.
TEST_F(SearchIndexTest, SessionAnswersSubjectAloneAndMixedAsScans) {
  std::mt19937 rng(8);
  for (int i = 0; i < 120; ++i) deliver(generate(rng, i));
  search::Indexer indexer(*instance_, false);
  ASSERT_TRUE(indexer.index_mailbox("user.alice", true).ok());
  for (int i = 120; i < 135; ++i) deliver(generate(rng, i));  // not indexed
  ASSERT_TRUE(instance_->expunge("user.alice", {3, 40, 77, 121}).is_ok());
  Config cfg = instance_->config();
  cfg.set("search_engine", "none");
  auto plain = store::Instance::open(cfg);
  ASSERT_TRUE(plain.ok());
  auto indexed = select(*instance_);
  auto scanning = select(**plain);

  const std::vector<std::string> needles = {"apple", "APP",  "straße", "STRASSE",     "café",
                                            "cafe",  "ИВЕ",  "привет", "e-mail",      "日本",
                                            "a",     " dog", "zzz",    "quick brown", "lo, wo"};
  const std::vector<std::string> criteria = {"SUBJECT %N",
                                             "HEADER Subject %N",
                                             "SUBJECT %N BODY dog",
                                             "BODY apple SUBJECT %N",
                                             "OR SUBJECT %N BODY %N",
                                             "NOT SUBJECT %N",
                                             "SUBJECT %N NOT TEXT hello",
                                             "OR NOT SUBJECT %N FROM %N",
                                             "UID 50:* SUBJECT %N TEXT o"};
  size_t compared = 0, nonempty = 0;
  for (const std::string& n : needles) {
    for (const std::string& c : criteria) {
      const std::string keys = with_needle(c, n);
      auto answer = uid_search(*indexed, keys);
      EXPECT_EQ(answer, uid_search(*scanning, keys)) << c << " with " << n;
      EXPECT_EQ(answer, search(keys, false)) << c << " with " << n;
      compared++;
      if (!answer.empty()) nonempty++;
    }
  }
  EXPECT_GT(nonempty, compared / 2);
}

// SUBJECT is never asked of the index; the other text keys are, beside it.
TEST_F(SearchIndexTest, SubjectIsLeftToTheScan) {
  deliver("Subject: apple pie\r\n\r\napple\r\n");
  search::Indexer indexer(*instance_, false);
  ASSERT_TRUE(indexer.index_mailbox("user.alice", true).ok());
  auto sel = SelectedMailbox::open(*instance_, "user.alice", "alice", true);
  ASSERT_TRUE(sel.ok());
  std::string tag;
  auto cmd = parse_command("t SEARCH SUBJECT apple BODY apple", &tag);
  ASSERT_TRUE(cmd.ok());
  auto req = parse_search(cmd->args);
  ASSERT_TRUE(req.ok());
  ASSERT_EQ(req->key.children.size(), 2u);
  const SearchKey& subject = req->key.children[0];
  const SearchKey& body = req->key.children[1];
  auto both = IndexAnswers::prepare(*instance_, **sel, req->key);
  EXPECT_EQ(both.verdict(subject, 1), IndexAnswers::Verdict::kScan);
  EXPECT_EQ(both.verdict(body, 1), IndexAnswers::Verdict::kMatch);
  auto alone = IndexAnswers::prepare(*instance_, **sel, subject);
  EXPECT_EQ(alone.verdict(subject, 1), IndexAnswers::Verdict::kScan);
}

TEST_F(SearchIndexTest, SingleWordsNeedNoScanOfIndexedMessages) {
  std::mt19937 rng(7);
  for (int i = 0; i < 50; ++i) deliver(generate(rng, i));
  search::Indexer indexer(*instance_, false);
  ASSERT_TRUE(indexer.index_mailbox("user.alice", true).ok());
  deliver(generate(rng, 50));
  scanned_ = 0;
  search("BODY apple", true);
  EXPECT_EQ(scanned_, 1u);  // only the unindexed message
  scanned_ = 0;
  search("BODY apple", false);
  EXPECT_EQ(scanned_, 51u);
}

TEST_F(SearchIndexTest, WithoutSearchEngineNothingIsAnswered) {
  deliver("Subject: x\r\n\r\napple\r\n");
  search::Indexer indexer(*instance_, false);
  ASSERT_TRUE(indexer.index_mailbox("user.alice", true).ok());
  Config cfg = instance_->config();
  cfg.set("search_engine", "none");
  auto plain = store::Instance::open(cfg);
  ASSERT_TRUE(plain.ok());
  auto sel = SelectedMailbox::open(**plain, "user.alice", "alice", true);
  ASSERT_TRUE(sel.ok());
  SearchKey key;
  key.op = SearchKey::Op::kBody;
  key.text = "apple";
  auto answers = IndexAnswers::prepare(**plain, **sel, key);
  EXPECT_EQ(answers.verdict(key, 1), IndexAnswers::Verdict::kScan);
  auto on = IndexAnswers::prepare(*instance_, **sel, key);
  EXPECT_EQ(on.verdict(key, 1), IndexAnswers::Verdict::kMatch);
}

}  // namespace
}  // namespace replimail::imap
