#include "search/index.h"

#include <fmt/format.h>
#include <xapian.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <vector>

#include "common/fs.h"
#include "search/locations.h"
#include "search/terms.h"
#include "store/mboxname.h"

namespace replimail::search {
namespace {

Status xapian_error(const Xapian::Error& e, std::string_view what) {
  Code code = Code::kIoError;
  std::string_view type = e.get_type();
  if (type == "DatabaseLockError") code = Code::kMailboxLocked;
  if (type == "DatabaseCorruptError" || type == "DatabaseOpeningError" ||
      type == "DatabaseVersionError") {
    code = Code::kInternal;
  }
  return Status(code, std::string(what) + ": " + e.get_description());
}

template <typename T>
bool parse_number(std::string_view s, T* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::string index_path(const Config& cfg, std::string_view userid) {
  std::string root;
  if (auto p = cfg.raw("searchpartition-" + cfg.defaultpartition()); p && !p->empty()) {
    root = *p;
  } else {
    root = cfg.configdirectory() + "/search";
  }
  std::string who = userid.empty() ? std::string("%SHARED") : store::userid_to_component(userid);
  return root + "/" + who + "/xapian";
}

bool index_enabled(const Config& cfg) { return cfg.get("search_engine") == "xapian"; }

std::string format_state(const MailboxState& s) {
  return std::to_string(s.uidvalidity) + " " + std::to_string(s.last_uid) + " " +
         std::to_string(s.highestmodseq);
}

std::optional<MailboxState> parse_state(std::string_view text) {
  std::vector<std::string_view> parts;
  size_t p = 0;
  while (p <= text.size()) {
    size_t sp = text.find(' ', p);
    if (sp == std::string_view::npos) sp = text.size();
    parts.push_back(text.substr(p, sp - p));
    p = sp + 1;
  }
  MailboxState s;
  if (parts.size() != 3 || !parse_number(parts[0], &s.uidvalidity) ||
      !parse_number(parts[1], &s.last_uid) || !parse_number(parts[2], &s.highestmodseq)) {
    return std::nullopt;
  }
  return s;
}

std::string guid_term(std::string_view guid) {
  std::string term(1, 'Q');  // not `"Q" + std::string(guid)`: GCC 12 -O3's false -Wrestrict
  term += guid;
  return term;
}
std::string location_prefix(std::string_view uniqueid) {
  return "XK" + std::string(uniqueid) + ":";
}
std::string location_term(std::string_view uniqueid, uint32_t uid) {
  return location_prefix(uniqueid) + std::to_string(uid);
}
std::string long_term_marker(Field field) { return "XL" + std::string(field_prefix(field)); }
std::string state_key(std::string_view uniqueid) { return "mailbox:" + std::string(uniqueid); }
std::string format_key() { return "format"; }

std::string location_map_key(std::string_view uniqueid) {
  return "locmap:" + std::string(uniqueid);
}
std::string location_chunk_prefix(std::string_view uniqueid) {
  return location_map_key(uniqueid) + ":";
}
std::string location_chunk_key(std::string_view uniqueid, uint32_t uid) {
  return location_chunk_prefix(uniqueid) + fmt::format("{:08x}", uid / kLocationChunkUids);
}

std::string encode_locations(const std::vector<Location>& chunk) {
  std::string out;
  out.reserve(chunk.size() * 8);
  auto put = [&out](uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  for (const Location& l : chunk) {
    put(l.uid);
    put(l.doc);
  }
  return out;
}

bool decode_locations(std::string_view value, std::vector<Location>& out) {
  if (value.size() % 8 != 0) return false;
  auto get = [&value](size_t at) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(value[at + i]);
    return v;
  };
  out.reserve(out.size() + value.size() / 8);
  for (size_t at = 0; at < value.size(); at += 8) out.push_back({get(at), get(at + 4)});
  return true;
}

namespace {
bool by_uid(const Location& a, const Location& b) { return a.uid < b.uid; }
}  // namespace

bool read_location_map(const Xapian::Database& db, std::string_view uniqueid,
                       std::vector<Location>& out) {
  if (db.get_metadata(location_map_key(uniqueid)) != "1") return false;
  std::string prefix = location_chunk_prefix(uniqueid);
  for (auto k = db.metadata_keys_begin(prefix); k != db.metadata_keys_end(prefix); ++k) {
    if (!decode_locations(db.get_metadata(*k), out)) return false;
  }
  return std::is_sorted(out.begin(), out.end(), by_uid);
}

std::vector<Location> read_location_terms(const Xapian::Database& db, std::string_view uniqueid) {
  std::vector<Location> out;
  std::string prefix = location_prefix(uniqueid);
  for (auto t = db.allterms_begin(prefix); t != db.allterms_end(prefix); ++t) {
    uint32_t uid = 0;
    if (!parse_number(std::string_view(*t).substr(prefix.size()), &uid)) continue;
    for (auto d = db.postlist_begin(*t); d != db.postlist_end(*t); ++d) out.push_back({uid, *d});
  }
  std::sort(out.begin(), out.end(), by_uid);
  return out;
}

struct IndexWriter::Rep {
  Xapian::WritableDatabase db;
  Xapian::TermGenerator words;
  // The location map chunks this writer has read or written, per mailbox
  // (a mailbox is here once its map is known to be complete). Written
  // through at each change: the map is in every commit its terms are in,
  // Xapian's implicit ones included.
  std::map<std::string, std::map<uint32_t, std::vector<Location>>, std::less<>> maps;

  std::map<uint32_t, std::vector<Location>>& map_of(std::string_view uniqueid);
  std::vector<Location>& chunk(std::string_view uniqueid, uint32_t uid);
  void store(std::string_view uniqueid, uint32_t uid, const std::vector<Location>& entries);
  void map_put(std::string_view uniqueid, uint32_t uid, Xapian::docid doc);
  void map_erase(std::string_view uniqueid, uint32_t uid);
};

std::map<uint32_t, std::vector<Location>>& IndexWriter::Rep::map_of(std::string_view uniqueid) {
  auto found = maps.find(uniqueid);
  if (found != maps.end()) return found->second;
  auto& chunks = maps[std::string(uniqueid)];
  if (db.get_metadata(location_map_key(uniqueid)) == "1") return chunks;
  // An index written before the map: build it from the location terms.
  for (const Location& l : read_location_terms(db, uniqueid)) {
    chunks[l.uid / kLocationChunkUids].push_back(l);
  }
  for (const auto& [n, entries] : chunks) store(uniqueid, entries.front().uid, entries);
  db.set_metadata(location_map_key(uniqueid), "1");
  return chunks;
}

std::vector<Location>& IndexWriter::Rep::chunk(std::string_view uniqueid, uint32_t uid) {
  auto& chunks = map_of(uniqueid);
  auto found = chunks.find(uid / kLocationChunkUids);
  if (found != chunks.end()) return found->second;
  const uint32_t n = uid / kLocationChunkUids;
  auto& entries = chunks[n];
  if (!decode_locations(db.get_metadata(location_chunk_key(uniqueid, uid)), entries) ||
      !std::is_sorted(entries.begin(), entries.end(), by_uid)) {
    // Not a chunk's value: this part of the map again from the terms.
    entries.clear();
    for (const Location& l : read_location_terms(db, uniqueid)) {
      if (l.uid / kLocationChunkUids == n) entries.push_back(l);
    }
  }
  return entries;
}

void IndexWriter::Rep::store(std::string_view uniqueid, uint32_t uid,
                             const std::vector<Location>& entries) {
  // An empty value deletes the key.
  db.set_metadata(location_chunk_key(uniqueid, uid), encode_locations(entries));
}

void IndexWriter::Rep::map_put(std::string_view uniqueid, uint32_t uid, Xapian::docid doc) {
  std::vector<Location>& entries = chunk(uniqueid, uid);
  auto at = std::lower_bound(entries.begin(), entries.end(), Location{uid, 0}, by_uid);
  if (at != entries.end() && at->uid == uid) {
    at->doc = doc;
  } else {
    entries.insert(at, {uid, doc});
  }
  store(uniqueid, uid, entries);
}

void IndexWriter::Rep::map_erase(std::string_view uniqueid, uint32_t uid) {
  std::vector<Location>& entries = chunk(uniqueid, uid);
  auto at = std::lower_bound(entries.begin(), entries.end(), Location{uid, 0}, by_uid);
  if (at == entries.end() || at->uid != uid) return;
  entries.erase(at);
  store(uniqueid, uid, entries);
}

IndexWriter::IndexWriter(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
IndexWriter::~IndexWriter() = default;

Result<std::unique_ptr<IndexWriter>> IndexWriter::open(const std::string& path, Mode mode,
                                                       const std::string& stem_language) {
  Status made = fs::make_dirs(fs::dirname(path));
  if (!made) return made;
  try {
    auto rep = std::make_unique<Rep>();
    int flags =
        mode == Mode::kOverwrite ? Xapian::DB_CREATE_OR_OVERWRITE : Xapian::DB_CREATE_OR_OPEN;
    rep->db = Xapian::WritableDatabase(path, flags | Xapian::DB_BACKEND_GLASS);
    if (rep->db.get_doccount() == 0 && rep->db.get_metadata(format_key()).empty()) {
      rep->db.set_metadata(format_key(), std::string(kFormat));
    }
    rep->words.set_stemmer(Xapian::Stem(stem_language));
    rep->words.set_stemming_strategy(Xapian::TermGenerator::STEM_ALL_Z);
    return std::unique_ptr<IndexWriter>(new IndexWriter(std::move(rep)));
  } catch (const Xapian::InvalidArgumentError& e) {
    return Status(Code::kConfigError, "search index " + path + ": " + e.get_description());
  } catch (const Xapian::Error& e) {
    return xapian_error(e, "search index " + path);
  }
}

Result<bool> IndexWriter::has_message(std::string_view guid) {
  try {
    return rep_->db.term_exists(guid_term(guid));
  } catch (const Xapian::Error& e) {
    return xapian_error(e, "search index lookup");
  }
}

Result<bool> IndexWriter::has_location(std::string_view uniqueid, uint32_t uid) {
  try {
    return rep_->db.term_exists(location_term(uniqueid, uid));
  } catch (const Xapian::Error& e) {
    return xapian_error(e, "search index lookup");
  }
}

Status IndexWriter::add_message(std::string_view guid, const Extracted& text,
                                std::string_view uniqueid, uint32_t uid) {
  try {
    Xapian::Document doc;
    doc.add_boolean_term(guid_term(guid));
    doc.add_boolean_term(location_term(uniqueid, uid));
    for (size_t f = 0; f < kFieldCount; ++f) {
      Field field = static_cast<Field>(f);
      std::string prefix(field_prefix(field));
      Xapian::termpos pos = 0;
      for (const std::string& value : text.values[f]) {
        for (std::string_view term : split_terms(value)) {
          ++pos;
          if (term.size() > kMaxTermBytes) {
            doc.add_boolean_term(long_term_marker(field));
          } else {
            doc.add_posting(prefix + std::string(term), pos, 0);
          }
        }
        ++pos;  // no needle spans two values: keep them out of each other's phrases
      }
    }
    rep_->words.set_document(doc);
    rep_->words.index_text_without_positions(text.words);
    rep_->map_put(uniqueid, uid, rep_->db.replace_document(guid_term(guid), doc));
    return Status::success();
  } catch (const Xapian::Error& e) {
    rep_->maps.clear();
    return xapian_error(e, "search index add");
  }
}

Status IndexWriter::add_location(std::string_view guid, std::string_view uniqueid, uint32_t uid) {
  try {
    Xapian::PostingIterator it = rep_->db.postlist_begin(guid_term(guid));
    if (it == rep_->db.postlist_end(guid_term(guid))) {
      return Status(Code::kNotFound, "no document for guid " + std::string(guid));
    }
    Xapian::docid id = *it;
    Xapian::Document doc = rep_->db.get_document(id);
    doc.add_boolean_term(location_term(uniqueid, uid));
    rep_->db.replace_document(id, doc);
    rep_->map_put(uniqueid, uid, id);
    return Status::success();
  } catch (const Xapian::Error& e) {
    rep_->maps.clear();
    return xapian_error(e, "search index add location");
  }
}

void IndexWriter::remove_term(const std::string& term) {
  std::vector<Xapian::docid> ids;
  for (auto it = rep_->db.postlist_begin(term); it != rep_->db.postlist_end(term); ++it) {
    ids.push_back(*it);
  }
  for (Xapian::docid id : ids) {
    Xapian::Document doc = rep_->db.get_document(id);
    doc.remove_term(term);
    auto t = doc.termlist_begin();
    t.skip_to("XK");
    if (t != doc.termlist_end() && std::string_view(*t).starts_with("XK")) {
      rep_->db.replace_document(id, doc);
    } else {
      rep_->db.delete_document(id);
    }
  }
}

Status IndexWriter::remove_location(std::string_view uniqueid, uint32_t uid) {
  try {
    remove_term(location_term(uniqueid, uid));
    rep_->map_erase(uniqueid, uid);
    return Status::success();
  } catch (const Xapian::Error& e) {
    rep_->maps.clear();
    return xapian_error(e, "search index remove location");
  }
}

Status IndexWriter::clear_mailbox(std::string_view uniqueid) {
  try {
    std::string prefix = location_prefix(uniqueid);
    std::vector<std::string> terms;
    for (auto it = rep_->db.allterms_begin(prefix); it != rep_->db.allterms_end(prefix); ++it) {
      terms.push_back(*it);
    }
    for (const std::string& term : terms) remove_term(term);
    // The map goes whole (it is complete: empty).
    std::string chunks = location_chunk_prefix(uniqueid);
    std::vector<std::string> keys;
    for (auto k = rep_->db.metadata_keys_begin(chunks); k != rep_->db.metadata_keys_end(chunks);
         ++k) {
      keys.push_back(*k);
    }
    auto cached = rep_->maps.find(uniqueid);
    if (cached != rep_->maps.end()) {
      for (const auto& [n, entries] : cached->second) {
        keys.push_back(location_chunk_key(uniqueid, n * kLocationChunkUids));
      }
      rep_->maps.erase(cached);
    }
    for (const std::string& key : keys) rep_->db.set_metadata(key, "");
    rep_->db.set_metadata(location_map_key(uniqueid), "1");
    rep_->db.set_metadata(state_key(uniqueid), "");
    return Status::success();
  } catch (const Xapian::Error& e) {
    rep_->maps.clear();
    return xapian_error(e, "search index clear mailbox");
  }
}

Result<std::optional<MailboxState>> IndexWriter::state(std::string_view uniqueid) {
  try {
    return parse_state(rep_->db.get_metadata(state_key(uniqueid)));
  } catch (const Xapian::Error& e) {
    return xapian_error(e, "search index state");
  }
}

Status IndexWriter::set_state(std::string_view uniqueid, const MailboxState& state) {
  try {
    rep_->db.set_metadata(state_key(uniqueid), format_state(state));
    return Status::success();
  } catch (const Xapian::Error& e) {
    return xapian_error(e, "search index state");
  }
}

Status IndexWriter::commit() {
  try {
    rep_->db.commit();
    return Status::success();
  } catch (const Xapian::Error& e) {
    rep_->maps.clear();
    return xapian_error(e, "search index commit");
  }
}

}  // namespace replimail::search
