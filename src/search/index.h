// The per-user full-text index: one Xapian database per mailbox owner.
//
// Location: `searchpartition-<defaultpartition>` if set, else
// `<configdirectory>/search`; inside it `<userid>/xapian` (a '.' in the
// userid spelled '^' as in mailbox names; shared mailboxes under
// `%SHARED/xapian`).
//
// Documents are messages keyed by GUID (term "Q<guid>"), so a message in
// several folders is indexed once; each place it lives in has a location
// term "XK<mailbox uniqueid>:<uid>". The text terms are those of
// search/terms.h under each field's prefix (search/extract.h); a field
// holding a term longer than kMaxTermBytes gets the marker "XL<prefix>"
// instead. Subject and body words also go in stemmed ("Z" terms, Xapian's
// stemmer for `search_stem_language`, default english), without positions:
// only squatter -e reads them, as an AND of words. A document stores no
// data (its GUID is its "Q" term).
//
// Each field term carries its positions in the field (a value's terms are
// numbered on, with a gap between values), so a needle of several runs is
// narrowed to the documents holding its runs' terms in a row. An index begun
// before positions were stored lacks the metadata format_key() == kFormat;
// readers then narrow by the runs' terms alone until squatter rebuilds it.
//
// Per mailbox the metadata "mailbox:<uniqueid>" records how far it has been
// indexed (MailboxState). It is written in the same transaction as the
// documents, so state and content commit together and survive kill -9.
//
// The location terms are also kept as a map from UID to document, in the
// metadata "locmap:<uniqueid>:<n>" (n = uid / kLocationChunkUids, 8 hex
// digits; the value: its (uid, docid) pairs, sorted, 4-byte little-endian
// each), which the writer changes with each location, in the same
// transaction. A reader gets a mailbox's covered UIDs and their documents
// from a few metadata reads instead of one posting list per message. The
// metadata "locmap:<uniqueid>" = "1" says the map is complete; a writer
// builds it from the terms the first time it changes a mailbox without one
// (an index written before the map), and readers read the terms until then.
//
// One writer per database at a time (Xapian's lock); readers (query.h) see
// committed revisions only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/status.h"
#include "search/extract.h"

namespace replimail::search {

// The directory of `userid`'s database ("" = shared mailboxes).
std::string index_path(const Config& cfg, std::string_view userid);
// True when imapd.conf says search_engine: xapian.
bool index_enabled(const Config& cfg);

// How far a mailbox has been indexed: every record with modseq <=
// highestmodseq has been seen (indexed, or its location removed if
// expunged), for this uidvalidity.
struct MailboxState {
  uint32_t uidvalidity = 0;
  uint32_t last_uid = 0;
  uint64_t highestmodseq = 0;
  bool operator==(const MailboxState&) const = default;
};
std::string format_state(const MailboxState& s);
std::optional<MailboxState> parse_state(std::string_view text);

// Term names shared by the writer and the readers.
std::string guid_term(std::string_view guid);
std::string location_prefix(std::string_view uniqueid);
std::string location_term(std::string_view uniqueid, uint32_t uid);
std::string long_term_marker(Field field);
std::string state_key(std::string_view uniqueid);

// One entry of a location map.
struct Location {
  uint32_t uid = 0;
  uint32_t doc = 0;
  bool operator==(const Location&) const = default;
};
inline constexpr uint32_t kLocationChunkUids = 1024;
std::string location_map_key(std::string_view uniqueid);  // the "complete" marker
std::string location_chunk_prefix(std::string_view uniqueid);
std::string location_chunk_key(std::string_view uniqueid, uint32_t uid);
std::string encode_locations(const std::vector<Location>& chunk);
// Appends `value`'s entries to `out`; false if it is not a chunk's value.
bool decode_locations(std::string_view value, std::vector<Location>& out);
// Metadata naming the index format; set when a writer opens an empty index.
std::string format_key();
inline constexpr std::string_view kFormat = "positions";

class IndexWriter {
 public:
  enum class Mode {
    kOpen,       // create if missing
    kOverwrite,  // start empty (rebuild)
  };
  // Opens `path` for writing. kMailboxLocked if another writer holds it;
  // kInternal if it is damaged (rebuild with kOverwrite); kIoError else.
  // Every method answers kInternal for damage found later.
  static Result<std::unique_ptr<IndexWriter>> open(const std::string& path, Mode mode,
                                                   const std::string& stem_language = "english");
  ~IndexWriter();

  // True if a document for `guid` exists.
  Result<bool> has_message(std::string_view guid);
  // True if (uniqueid, uid) is indexed.
  Result<bool> has_location(std::string_view uniqueid, uint32_t uid);
  // Adds the document for `guid` (replacing any) with one location.
  Status add_message(std::string_view guid, const Extracted& text, std::string_view uniqueid,
                     uint32_t uid);
  // Adds a location to the existing document of `guid`; kNotFound if none.
  Status add_location(std::string_view guid, std::string_view uniqueid, uint32_t uid);
  // Removes a location; a document left without any is deleted.
  Status remove_location(std::string_view uniqueid, uint32_t uid);
  // Removes every location of a mailbox and its state.
  Status clear_mailbox(std::string_view uniqueid);

  Result<std::optional<MailboxState>> state(std::string_view uniqueid);
  // Takes effect with the next commit().
  Status set_state(std::string_view uniqueid, const MailboxState& state);
  // Makes everything so far durable, atomically.
  Status commit();

 private:
  struct Rep;
  explicit IndexWriter(std::unique_ptr<Rep> rep);
  // Takes location term `term` off its documents (deleting those left
  // without any); the map is the caller's. Throws Xapian::Error.
  void remove_term(const std::string& term);
  std::unique_ptr<Rep> rep_;
};

}  // namespace replimail::search
