#include "search/query.h"

#include <xapian.h>

#include <algorithm>

#include "common/fs.h"
#include "mime/message.h"
#include "search/locations.h"
#include "search/terms.h"

namespace replimail::search {
namespace {

Status read_error(const Xapian::Error& e) {
  return Status(Code::kIoError, "search index read: " + e.get_description());
}

// A set of document ids, dense over the database's id range.
using DocSet = std::vector<char>;

// Above this many terms over all runs a phrase query costs more than the
// scan of the candidates it would spare (a short run inside terms matches
// most of the vocabulary).
constexpr size_t kMaxPhraseTerms = 2000;

}  // namespace

struct IndexReader::Rep {
  Xapian::Database db;
  bool positions = false;  // every field term carries its positions (index.h)
  // Per mailbox: its locations, sorted by UID.
  std::map<std::string, std::vector<Location>, std::less<>> locations;
};

IndexReader::IndexReader(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
IndexReader::~IndexReader() = default;

Result<std::unique_ptr<IndexReader>> IndexReader::open(const std::string& path) {
  if (!fs::exists(path)) return Status(Code::kNotFound, "no search index at " + path);
  try {
    auto rep = std::make_unique<Rep>();
    rep->db = Xapian::Database(path);
    rep->positions = rep->db.get_metadata(format_key()) == kFormat;
    return std::unique_ptr<IndexReader>(new IndexReader(std::move(rep)));
  } catch (const Xapian::Error& e) {
    return Status(Code::kIoError, "search index " + path + ": " + e.get_description());
  }
}

Result<std::optional<MailboxState>> IndexReader::state(std::string_view uniqueid) {
  try {
    return parse_state(rep_->db.get_metadata(state_key(uniqueid)));
  } catch (const Xapian::Error& e) {
    return read_error(e);
  }
}

Result<const std::vector<Location>*> IndexReader::locations(std::string_view uniqueid) {
  auto found = rep_->locations.find(uniqueid);
  if (found != rep_->locations.end()) return &found->second;
  try {
    std::vector<Location> locs;
    if (!read_location_map(rep_->db, uniqueid, locs)) {
      locs = read_location_terms(rep_->db, uniqueid);
    }
    auto [it, inserted] = rep_->locations.emplace(std::string(uniqueid), std::move(locs));
    return &it->second;
  } catch (const Xapian::Error& e) {
    return read_error(e);
  }
}

Result<std::vector<uint32_t>> IndexReader::covered(std::string_view uniqueid) {
  auto locs = locations(uniqueid);
  if (!locs.ok()) return locs.status();
  std::vector<uint32_t> out;
  out.reserve((*locs)->size());
  for (const Location& l : **locs) {
    if (out.empty() || out.back() != l.uid) out.push_back(l.uid);
  }
  return out;
}

Result<TextAnswer> IndexReader::match(std::string_view uniqueid, Field field,
                                      std::string_view needle) {
  std::vector<NeedleRun> runs = needle_runs(mime::search_fold(needle));
  if (runs.empty()) {
    return Status(Code::kInvalidArgument, "needle has no term characters; scan instead");
  }
  auto locs = locations(uniqueid);
  if (!locs.ok()) return locs.status();
  try {
    Xapian::Database& db = rep_->db;
    const size_t size = db.get_lastdocid() + 1;
    const std::string prefix(field_prefix(field));
    auto add_postings = [&](const std::string& term, DocSet& set) {
      for (auto d = db.postlist_begin(term); d != db.postlist_end(term); ++d) set[*d] = 1;
    };
    // Per run, the terms that can hold it. A run that must start a term is
    // a prefix: only those terms are read.
    std::vector<std::vector<std::string>> fitting(runs.size());
    size_t total = 0;
    for (size_t r = 0; r < runs.size(); ++r) {
      std::string scan = runs[r].starts_term ? prefix + runs[r].text : prefix;
      for (auto t = db.allterms_begin(scan); t != db.allterms_end(scan); ++t) {
        std::string term = *t;
        if (run_fits(runs[r], std::string_view(term).substr(prefix.size()))) {
          fitting[r].push_back(std::move(term));
        }
      }
      total += fitting[r].size();
    }
    DocSet candidates(size, 0);
    if (runs.size() > 1 && rep_->positions && total <= kMaxPhraseTerms) {
      // Separators only lie between a needle's runs, so where the text holds
      // the needle its runs are in consecutive terms.
      std::vector<Xapian::Query> each;
      each.reserve(fitting.size());
      for (const auto& terms : fitting) {
        each.emplace_back(Xapian::Query::OP_OR, terms.begin(), terms.end());
      }
      Xapian::Enquire enquire(db);
      enquire.set_query(
          Xapian::Query(Xapian::Query::OP_PHRASE, each.begin(), each.end(), runs.size()));
      enquire.set_weighting_scheme(Xapian::BoolWeight());
      Xapian::MSet mset = enquire.get_mset(0, db.get_doccount());
      for (auto m = mset.begin(); m != mset.end(); ++m) {
        if (*m < size) candidates[*m] = 1;
      }
    } else {
      for (size_t r = 0; r < runs.size(); ++r) {
        DocSet docs(size, 0);
        for (const std::string& term : fitting[r]) add_postings(term, docs);
        if (r == 0) {
          candidates = std::move(docs);
        } else {
          for (size_t i = 0; i < size; ++i)
            candidates[i] = static_cast<char>(candidates[i] && docs[i]);
        }
      }
    }
    const bool exact = runs.size() == 1 && !runs[0].starts_term && !runs[0].ends_term;
    DocSet long_terms(size, 0);
    add_postings(long_term_marker(field), long_terms);
    TextAnswer answer;  // in UID order, as the locations are
    for (const Location& l : **locs) {
      if (l.doc >= size) continue;
      if (candidates[l.doc] && exact) {
        answer.sure.push_back(l.uid);
      } else if (candidates[l.doc] || long_terms[l.doc]) {
        answer.maybe.push_back(l.uid);
      }
    }
    return answer;
  } catch (const Xapian::Error& e) {
    return read_error(e);
  }
}

Result<std::vector<uint32_t>> IndexReader::match_words(std::string_view uniqueid,
                                                       std::string_view words,
                                                       const std::string& stem_language) {
  auto locs = locations(uniqueid);
  if (!locs.ok()) return locs.status();
  try {
    // The words' terms as the writer made them (index.cc): the same
    // generator, so the same stems. No phrase: the "Z" terms carry no
    // positions.
    Xapian::TermGenerator generator;
    generator.set_stemmer(Xapian::Stem(stem_language));
    generator.set_stemming_strategy(Xapian::TermGenerator::STEM_ALL_Z);
    Xapian::Document terms;
    generator.set_document(terms);
    generator.index_text_without_positions(std::string(words));
    if (terms.termlist_count() == 0) return std::vector<uint32_t>{};
    Xapian::Enquire enquire(rep_->db);
    enquire.set_query(
        Xapian::Query(Xapian::Query::OP_AND, terms.termlist_begin(), terms.termlist_end()));
    enquire.set_weighting_scheme(Xapian::BoolWeight());
    Xapian::MSet mset = enquire.get_mset(0, rep_->db.get_doccount());
    DocSet found(rep_->db.get_lastdocid() + 1, 0);
    for (auto m = mset.begin(); m != mset.end(); ++m) {
      if (*m < found.size()) found[*m] = 1;
    }
    std::vector<uint32_t> out;
    for (const Location& l : **locs) {
      if (l.doc < found.size() && found[l.doc]) out.push_back(l.uid);
    }
    return out;
  } catch (const Xapian::Error& e) {
    return read_error(e);
  }
}

}  // namespace replimail::search
