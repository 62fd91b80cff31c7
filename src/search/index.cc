#include "search/index.h"

#include <xapian.h>

#include <charconv>
#include <vector>

#include "common/fs.h"
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

struct IndexWriter::Rep {
  Xapian::WritableDatabase db;
  Xapian::TermGenerator words;
};

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
    rep_->db.replace_document(guid_term(guid), doc);
    return Status::success();
  } catch (const Xapian::Error& e) {
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
    return Status::success();
  } catch (const Xapian::Error& e) {
    return xapian_error(e, "search index add location");
  }
}

Status IndexWriter::remove_location(std::string_view uniqueid, uint32_t uid) {
  try {
    std::string term = location_term(uniqueid, uid);
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
    return Status::success();
  } catch (const Xapian::Error& e) {
    return xapian_error(e, "search index remove location");
  }
}

Status IndexWriter::clear_mailbox(std::string_view uniqueid) {
  try {
    std::string prefix = location_prefix(uniqueid);
    std::vector<uint32_t> uids;
    for (auto it = rep_->db.allterms_begin(prefix); it != rep_->db.allterms_end(prefix); ++it) {
      uint32_t uid = 0;
      if (parse_number(std::string_view(*it).substr(prefix.size()), &uid)) uids.push_back(uid);
    }
    for (uint32_t uid : uids) {
      Status s = remove_location(uniqueid, uid);
      if (!s) return s;
    }
    rep_->db.set_metadata(state_key(uniqueid), "");
    return Status::success();
  } catch (const Xapian::Error& e) {
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
    return xapian_error(e, "search index commit");
  }
}

}  // namespace replimail::search
