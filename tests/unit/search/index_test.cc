#include "../../support/temp_dir.h"
#include "search/index.h"

#include <gtest/gtest.h>
#include <xapian.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "mime/message.h"
#include "search/query.h"

namespace replimail::search {
namespace {

class IndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = replimail::testing::make_temp_dir("rm_search_index_");
    ASSERT_NE(dir_, "");
    path_ = dir_ + "/alice/xapian";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void add(const std::string& guid, const std::string& bytes, uint32_t uid,
           const std::string& mbox = "mbox1") {
    auto w = IndexWriter::open(path_, IndexWriter::Mode::kOpen);
    ASSERT_TRUE(w.ok()) << w.status().to_string();
    auto msg = mime::Message::from_bytes(bytes);
    ASSERT_TRUE((*w)->add_message(guid, extract(msg), mbox, uid).is_ok());
    ASSERT_TRUE((*w)->commit().is_ok());
  }
  TextAnswer match(Field f, const std::string& needle, const std::string& mbox = "mbox1") {
    auto r = IndexReader::open(path_);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    auto a = (*r)->match(mbox, f, needle);
    EXPECT_TRUE(a.ok()) << a.status().to_string();
    return a.ok() ? *a : TextAnswer{};
  }

  std::string dir_, path_;
};

using Uids = std::vector<uint32_t>;

TEST(IndexPaths, SearchPartitionOrConfigDirectory) {
  auto cfg = Config::parse("configdirectory: /c\npartition-default: /p\n", "x");
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(index_path(*cfg, "john.doe"), "/c/search/john^doe/xapian");
  EXPECT_EQ(index_path(*cfg, ""), "/c/search/%SHARED/xapian");
  cfg->set("searchpartition-default", "/s");
  EXPECT_EQ(index_path(*cfg, "bob"), "/s/bob/xapian");
  EXPECT_FALSE(index_enabled(*cfg));
  cfg->set("search_engine", "xapian");
  EXPECT_TRUE(index_enabled(*cfg));
}

TEST(IndexPaths, StateRoundTrips) {
  MailboxState s{1700000000, 42, 12345678901ULL};
  EXPECT_EQ(parse_state(format_state(s)), s);
  EXPECT_EQ(parse_state(""), std::nullopt);
  EXPECT_EQ(parse_state("1 2"), std::nullopt);
  EXPECT_EQ(parse_state("1 2 x"), std::nullopt);
}

TEST_F(IndexTest, SingleRunNeedlesAreExact) {
  add("g1", "Subject: Hello World\r\n\r\nThe quick brown fox\r\n", 1);
  add("g2", "Subject: other\r\n\r\nfoxes are quick\r\n", 2);
  add("g3", "Subject: none\r\n\r\nnothing here\r\n", 3);
  EXPECT_EQ(match(Field::kBody, "QUICK").sure, (Uids{1, 2}));
  EXPECT_EQ(match(Field::kBody, "ox").sure, (Uids{1, 2}));  // substring of a term
  EXPECT_TRUE(match(Field::kBody, "ox").maybe.empty());
  EXPECT_EQ(match(Field::kSubject, "ell").sure, (Uids{1}));
  EXPECT_EQ(match(Field::kHeaders, "subject").sure, (Uids{1, 2, 3}));
  EXPECT_TRUE(match(Field::kBody, "zebra").sure.empty());
}

TEST_F(IndexTest, PhrasesAreCandidates) {
  add("g1", "Subject: a\r\n\r\nthe quick brown fox\r\n", 1);
  add("g2", "Subject: b\r\n\r\nbrown, quick!\r\n", 2);
  add("g3", "Subject: c\r\n\r\nquick\r\n", 3);
  add("g4", "Subject: d\r\n\r\nquick, brown\r\n", 4);
  auto a = match(Field::kBody, "ick bro");
  EXPECT_TRUE(a.sure.empty());
  // g2 has a term ending "ick" and one starting "bro", but not in a row.
  EXPECT_EQ(a.maybe, (Uids{1, 4}));
  a = match(Field::kBody, " quick ");
  EXPECT_EQ(a.maybe, (Uids{1, 2, 3, 4}));
  EXPECT_EQ(match(Field::kBody, "brown fox quick").maybe, (Uids{}));
}

TEST_F(IndexTest, PhrasesDoNotSpanTwoValues) {
  add("g1", "To: x@quick\r\nTo: brown@y\r\n\r\nbody\r\n", 1);
  add("g2", "To: x@quick brown@y\r\n\r\nbody\r\n", 2);
  EXPECT_EQ(match(Field::kTo, "quick brown").maybe, (Uids{2}));
}

TEST_F(IndexTest, IndexWithoutPositionsNarrowsByTermsAlone) {
  add("g1", "Subject: a\r\n\r\nthe quick brown fox\r\n", 1);
  add("g2", "Subject: b\r\n\r\nbrown, quick!\r\n", 2);
  {
    // What an index written before positions were stored says of itself.
    Xapian::WritableDatabase db(path_, Xapian::DB_OPEN);
    db.set_metadata(format_key(), "");
    db.commit();
  }
  add("g3", "Subject: c\r\n\r\nbrown quick\r\n", 3);
  EXPECT_EQ(match(Field::kBody, "ick bro").maybe, (Uids{1, 2, 3}));
  EXPECT_EQ(match(Field::kBody, "quick brown").maybe, (Uids{1, 2, 3}));
}

TEST_F(IndexTest, LongTermsMakeCandidates) {
  std::string blob(300, 'a');
  add("g1", "Subject: a\r\n\r\n" + blob + "\r\n", 1);
  add("g2", "Subject: b\r\n\r\nshort\r\n", 2);
  auto a = match(Field::kBody, "aaa");
  EXPECT_TRUE(a.sure.empty());
  EXPECT_EQ(a.maybe, (Uids{1}));
}

TEST_F(IndexTest, NeedleWithoutTermCharactersIsRefused) {
  add("g1", "Subject: a\r\n\r\nx\r\n", 1);
  auto r = IndexReader::open(path_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->match("mbox1", Field::kBody, " - ").status().code(), Code::kInvalidArgument);
}

TEST_F(IndexTest, OneDocumentPerGuidWithLocations) {
  add("g1", "Subject: a\r\n\r\nshared words\r\n", 5);
  {
    auto w = IndexWriter::open(path_, IndexWriter::Mode::kOpen);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->add_location("g1", "mbox2", 9).is_ok());
    EXPECT_EQ((*w)->add_location("nope", "mbox2", 10).code(), Code::kNotFound);
    ASSERT_TRUE((*w)->commit().is_ok());
  }
  EXPECT_EQ(match(Field::kBody, "words", "mbox2").sure, (Uids{9}));
  EXPECT_EQ(match(Field::kBody, "words", "mbox1").sure, (Uids{5}));
  {
    auto w = IndexWriter::open(path_, IndexWriter::Mode::kOpen);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->remove_location("mbox1", 5).is_ok());
    EXPECT_TRUE(*(*w)->has_message("g1"));
    ASSERT_TRUE((*w)->remove_location("mbox2", 9).is_ok());
    EXPECT_FALSE(*(*w)->has_message("g1"));  // no location left: deleted
    ASSERT_TRUE((*w)->commit().is_ok());
  }
  auto r = IndexReader::open(path_);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE((*r)->covered("mbox1")->empty());
}

TEST_F(IndexTest, StateCommitsWithDocumentsOnly) {
  {
    auto w = IndexWriter::open(path_, IndexWriter::Mode::kOpen);
    ASSERT_TRUE(w.ok());
    auto msg = mime::Message::from_bytes("Subject: a\r\n\r\nx\r\n");
    ASSERT_TRUE((*w)->add_message("g1", extract(msg), "m", 1).is_ok());
    ASSERT_TRUE((*w)->set_state("m", {7, 1, 3}).is_ok());
    // Before the commit a reader sees neither the document nor the state.
    auto r = IndexReader::open(path_);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*(*r)->state("m"), std::nullopt);
    EXPECT_TRUE((*r)->covered("m")->empty());
    ASSERT_TRUE((*w)->commit().is_ok());
  }
  auto r = IndexReader::open(path_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*(*r)->state("m"), (MailboxState{7, 1, 3}));
  EXPECT_EQ(*(*r)->covered("m"), (Uids{1}));
}

TEST_F(IndexTest, SecondWriterIsLockedOut) {
  auto w1 = IndexWriter::open(path_, IndexWriter::Mode::kOpen);
  ASSERT_TRUE(w1.ok());
  auto w2 = IndexWriter::open(path_, IndexWriter::Mode::kOpen);
  ASSERT_FALSE(w2.ok());
  EXPECT_EQ(w2.status().code(), Code::kMailboxLocked);
}

TEST_F(IndexTest, StemmedWords) {
  add("g1", "Subject: Running\r\n\r\nShe runs every morning\r\n", 1);
  add("g2", "Subject: x\r\n\r\nA runner ran\r\n", 2);
  auto r = IndexReader::open(path_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*(*r)->match_words("mbox1", "run"), (Uids{1}));  // runs, running -> run
  EXPECT_EQ(*(*r)->match_words("mbox1", "mornings"), (Uids{1}));
}

// The stemmed words carry no positions, so a hyphenated query is an AND of
// its words, not a phrase (which would find nothing without positions).
TEST_F(IndexTest, StemmedWordsAreAnAndOfWords) {
  add("g1", "Subject: e-mail\r\n\r\nThe runners ran\r\n", 1);
  add("g2", "Subject: mail\r\n\r\nrunning e\r\n", 2);
  add("g3", "Subject: x\r\n\r\nmail only\r\n", 3);
  auto r = IndexReader::open(path_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*(*r)->match_words("mbox1", "e-mail"), (Uids{1, 2}));
  EXPECT_EQ(*(*r)->match_words("mbox1", "Runner mail"), (Uids{1}));
  EXPECT_EQ(*(*r)->match_words("mbox1", "--"), (Uids{}));
}

// What the index stores beyond what its readers read: no document data, no
// positions for the stemmed words; the field terms keep theirs (phrases).
TEST_F(IndexTest, OnlyFieldTermsCarryPositions) {
  add("g1", "Subject: quick brown fox\r\n\r\njumps over the lazy dog\r\n", 1);
  Xapian::Database db(path_);
  ASSERT_EQ(db.get_doccount(), 1u);
  EXPECT_EQ(db.get_document(1).get_data(), "");
  size_t stemmed = 0, positional = 0;
  for (auto t = db.allterms_begin(); t != db.allterms_end(); ++t) {
    std::string term = *t;
    bool has_positions = db.positionlist_begin(1, term) != db.positionlist_end(1, term);
    if (term[0] == 'Z') {
      stemmed++;
      EXPECT_FALSE(has_positions) << term;
    } else if (term.starts_with("XY") || term.starts_with("XS")) {
      positional++;
      EXPECT_TRUE(has_positions) << term;
    }
  }
  EXPECT_EQ(stemmed, 8u);  // quick brown fox jump over the lazi dog
  EXPECT_EQ(positional, 8u);
}

// The location map (index.h) as the database holds it, and the locations
// its terms say, one posting list each: what the map must always equal.
std::vector<Location> stored_map(const std::string& path, const std::string& mbox) {
  Xapian::Database db(path);
  std::vector<Location> out;
  if (db.get_metadata(location_map_key(mbox)) != "1") return out;
  std::string prefix = location_chunk_prefix(mbox);
  for (auto k = db.metadata_keys_begin(prefix); k != db.metadata_keys_end(prefix); ++k) {
    std::string value = db.get_metadata(*k);
    EXPECT_FALSE(value.empty()) << *k;  // emptied chunks are deleted
    EXPECT_TRUE(decode_locations(value, out)) << *k;
  }
  return out;
}

std::vector<Location> term_locations(const std::string& path, const std::string& mbox) {
  Xapian::Database db(path);
  std::vector<Location> out;
  std::string prefix = location_prefix(mbox);
  for (auto t = db.allterms_begin(prefix); t != db.allterms_end(prefix); ++t) {
    uint32_t uid = std::stoul(std::string(*t).substr(prefix.size()));
    for (auto d = db.postlist_begin(*t); d != db.postlist_end(*t); ++d) out.push_back({uid, *d});
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.uid < b.uid; });
  return out;
}

// Takes the map away, as in an index written before it.
void strip_map(const std::string& path, const std::string& mbox) {
  Xapian::WritableDatabase db(path, Xapian::DB_OPEN);
  std::string prefix = location_chunk_prefix(mbox);
  std::vector<std::string> keys{location_map_key(mbox)};
  for (auto k = db.metadata_keys_begin(prefix); k != db.metadata_keys_end(prefix); ++k) {
    keys.push_back(*k);
  }
  for (const auto& k : keys) db.set_metadata(k, "");
  db.commit();
}

std::vector<uint32_t> uids_of(const std::vector<Location>& locs) {
  std::vector<uint32_t> out;
  for (const auto& l : locs) out.push_back(l.uid);
  return out;
}

TEST(LocationMap, ChunksRoundTripAndRefuseOtherBytes) {
  std::vector<Location> in{{1, 7}, {1023, 0xfffffffe}, {0x12345678, 3}};
  std::vector<Location> out{{9, 9}};
  ASSERT_TRUE(decode_locations(encode_locations(in), out));
  EXPECT_EQ(out, (std::vector<Location>{{9, 9}, {1, 7}, {1023, 0xfffffffe}, {0x12345678, 3}}));
  EXPECT_FALSE(decode_locations("12345", out));
  EXPECT_EQ(location_chunk_key("m", 1023), "locmap:m:00000000");
  EXPECT_EQ(location_chunk_key("m", 1024), "locmap:m:00000001");
  EXPECT_EQ(location_chunk_key("m", 0xffffffff), "locmap:m:003fffff");
}

TEST_F(IndexTest, LocationMapFollowsEveryChange) {
  // Random adds, extra locations, removals and clears over two mailboxes
  // and several chunks, commits now and then, writers reopened: after each
  // commit the map equals the terms, and readers answer from it.
  std::mt19937 rng(17);
  std::map<std::string, std::set<uint32_t>> model;  // mailbox -> UIDs
  std::vector<std::string> guids;
  const std::vector<std::string> mboxes{"mbox1", "mbox2"};
  for (int round = 0; round < 12; ++round) {
    auto w = IndexWriter::open(path_, IndexWriter::Mode::kOpen);
    ASSERT_TRUE(w.ok()) << w.status().to_string();
    for (int op = 0; op < 60; ++op) {
      const std::string& mbox = mboxes[rng() % 2];
      uint32_t uid = 1 + rng() % 5000;
      int what = rng() % 20;
      if (what < 10 || guids.empty()) {
        if (model[mbox].count(uid)) continue;  // a place holds one message
        std::string guid = "g" + std::to_string(guids.size());
        auto msg = mime::Message::from_bytes("Subject: s\r\n\r\nword" + guid + " common\r\n");
        ASSERT_TRUE((*w)->add_message(guid, extract(msg), mbox, uid).is_ok());
        guids.push_back(guid);
        model[mbox].insert(uid);
      } else if (what < 14) {
        if (model[mbox].count(uid)) continue;
        Status s = (*w)->add_location(guids[rng() % guids.size()], mbox, uid);
        if (s.code() == Code::kNotFound) continue;  // its document went with its last place
        ASSERT_TRUE(s.is_ok()) << s.to_string();
        model[mbox].insert(uid);
      } else if (what < 19) {
        if (model[mbox].empty()) continue;
        auto at = model[mbox].begin();
        std::advance(at, rng() % model[mbox].size());
        ASSERT_TRUE((*w)->remove_location(mbox, *at).is_ok());
        model[mbox].erase(at);
      } else {
        ASSERT_TRUE((*w)->clear_mailbox(mbox).is_ok());
        model[mbox].clear();
      }
    }
    ASSERT_TRUE((*w)->commit().is_ok());
    for (const std::string& mbox : mboxes) {
      auto terms = term_locations(path_, mbox);
      EXPECT_EQ(stored_map(path_, mbox), terms) << "round " << round << " " << mbox;
      std::vector<uint32_t> want(model[mbox].begin(), model[mbox].end());
      EXPECT_EQ(uids_of(terms), want);
      auto r = IndexReader::open(path_);
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(*(*r)->covered(mbox), want);
      EXPECT_EQ(match(Field::kBody, "common", mbox).sure, want);
    }
  }
}

TEST_F(IndexTest, IndexWithoutMapIsReadFromTermsAndMappedAtItsNextChange) {
  add("g1", "Subject: a\r\n\r\nalpha\r\n", 5);
  add("g2", "Subject: b\r\n\r\nalpha beta\r\n", 2000);
  add("g3", "Subject: c\r\n\r\nbeta\r\n", 7, "other");
  strip_map(path_, "mbox1");
  ASSERT_TRUE(stored_map(path_, "mbox1").empty());
  EXPECT_EQ(match(Field::kBody, "alpha").sure, (Uids{5, 2000}));  // from the terms
  {
    auto r = IndexReader::open(path_);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*(*r)->covered("mbox1"), (Uids{5, 2000}));
  }
  add("g4", "Subject: d\r\n\r\nalpha\r\n", 3000);
  EXPECT_EQ(uids_of(stored_map(path_, "mbox1")), (Uids{5, 2000, 3000}));
  EXPECT_EQ(stored_map(path_, "mbox1"), term_locations(path_, "mbox1"));
  EXPECT_EQ(match(Field::kBody, "alpha").sure, (Uids{5, 2000, 3000}));
  EXPECT_EQ(match(Field::kBody, "beta", "other").sure, (Uids{7}));
}

TEST_F(IndexTest, UnreadableMapChunkFallsBackToTheTerms) {
  add("g1", "Subject: a\r\n\r\nalpha\r\n", 5);
  add("g2", "Subject: b\r\n\r\nalpha\r\n", 6);
  {
    Xapian::WritableDatabase db(path_, Xapian::DB_OPEN);
    db.set_metadata(location_chunk_key("mbox1", 5), "12345");
    db.commit();
  }
  EXPECT_EQ(match(Field::kBody, "alpha").sure, (Uids{5, 6}));
  add("g3", "Subject: c\r\n\r\nalpha\r\n", 7);  // the chunk is rewritten whole
  EXPECT_EQ(stored_map(path_, "mbox1"), term_locations(path_, "mbox1"));
}

TEST_F(IndexTest, MapCommitsWithTheDocuments) {
  {
    auto w = IndexWriter::open(path_, IndexWriter::Mode::kOpen);
    ASSERT_TRUE(w.ok());
    auto msg = mime::Message::from_bytes("Subject: a\r\n\r\nx\r\n");
    ASSERT_TRUE((*w)->add_message("g1", extract(msg), "m", 1).is_ok());
    EXPECT_TRUE(stored_map(path_, "m").empty());  // nothing before the commit
    // No commit: Xapian commits on closing, the map with the rest.
  }
  EXPECT_EQ(uids_of(stored_map(path_, "m")), (Uids{1}));
  EXPECT_EQ(stored_map(path_, "m"), term_locations(path_, "m"));
}

TEST_F(IndexTest, DamagedDatabaseIsReportedAndOverwritable) {
  add("g1", "Subject: a\r\n\r\nx\r\n", 1);
  for (const auto& f : std::filesystem::directory_iterator(path_)) {
    std::filesystem::resize_file(f.path(), 0);
  }
  auto w = IndexWriter::open(path_, IndexWriter::Mode::kOpen);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), Code::kInternal) << w.status().to_string();
  auto fresh = IndexWriter::open(path_, IndexWriter::Mode::kOverwrite);
  ASSERT_TRUE(fresh.ok()) << fresh.status().to_string();
}

}  // namespace
}  // namespace replimail::search
