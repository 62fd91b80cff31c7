#include "imap/search.h"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <iterator>
#include <string>

#include "imap/format.h"
#include "search/extract.h"
#include "search/index.h"
#include "store/mboxname.h"
#include "store/record.h"

namespace replimail::imap {
namespace {

int64_t day_of(int64_t t) { return t - (((t % 86400) + 86400) % 86400); }

bool has_flag(const MessageView& m, const std::string& flag) {
  if (iequals(flag, "\\Recent")) return m.recent;
  if (!flag.empty() && flag[0] == '\\') {
    uint32_t bit = store::system_flag_bit(flag);
    return bit != 0 && (m.system_flags & bit) != 0;
  }
  return store::has_keyword(m.keywords, flag);
}

std::vector<uint32_t> merged(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
  std::vector<uint32_t> out;
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

std::vector<uint32_t> minus(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
  std::vector<uint32_t> out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

// The fields mime::Message::header_matches reads from the envelope.
bool is_address_field(std::string_view name) {
  return iequals(name, "from") || iequals(name, "to") || iequals(name, "cc") ||
         iequals(name, "bcc");
}

bool has(const std::vector<uint32_t>& sorted, uint32_t uid) {
  return std::binary_search(sorted.begin(), sorted.end(), uid);
}

// SUBJECT (HEADER Subject) is left to the scan: the search form of the
// Subject the store keeps beside each record (store::SubjectCursor, one
// cursor in UID order) answers it exactly, and faster than the index.
bool is_subject_key(const SearchKey& key) {
  return key.op == SearchKey::Op::kHeader && iequals(key.field, "subject");
}

// True if the index has an answer for `key` itself.
bool index_key(const SearchKey& key) {
  using Op = SearchKey::Op;
  if (key.op == Op::kBody || key.op == Op::kText) return true;
  return key.op == Op::kHeader && !key.text.empty() && !is_subject_key(key);
}

// True if the index has an answer for some key of `key`.
bool asks_index(const SearchKey& key) {
  return index_key(key) || std::any_of(key.children.begin(), key.children.end(), asks_index);
}

}  // namespace

IndexAnswers IndexAnswers::prepare(store::Instance& instance, SelectedMailbox& mailbox,
                                   const SearchKey& key, uint32_t scan_first) {
  IndexAnswers out;
  if (!search::index_enabled(instance.config()) || !asks_index(key)) return out;
  out.source_ = std::make_shared<Source>();
  out.source_->path = search::index_path(instance.config(), store::mboxname_owner(mailbox.name()));
  out.source_->uniqueid = mailbox.mailbox().entry().uniqueid;
  out.source_->uidvalidity = mailbox.uidvalidity();
  out.scan_first_ = scan_first;
  if (scan_first == 0) {
    if (out.open()) out.add(key);
    return out;
  }
  std::vector<const SearchKey*> eager;
  unguarded(key, false, eager);
  if (!eager.empty() && out.open()) {
    for (const SearchKey* k : eager) out.add_one(*k);
  }
  return out;
}

void IndexAnswers::unguarded(const SearchKey& key, bool guarded,
                             std::vector<const SearchKey*>& out) {
  if (index_key(key)) {
    if (!guarded) out.push_back(&key);
    return;
  }
  // search_matches() tries an AND's keys in order and stops at the first
  // that fails: a key after one the index does not answer is reached only
  // by the messages that one lets through.
  bool behind = guarded;
  for (const SearchKey& child : key.children) {
    unguarded(child, behind, out);
    if (key.op == SearchKey::Op::kAnd && !asks_index(child)) behind = true;
  }
}

bool IndexAnswers::open() const {
  Source& src = *source_;
  if (src.tried) return src.reader != nullptr;
  src.tried = true;
  auto reader = search::IndexReader::open(src.path);
  if (!reader.ok()) return false;
  auto state = (*reader)->state(src.uniqueid);
  if (!state.ok() || !*state || (*state)->uidvalidity != src.uidvalidity) return false;
  auto covered = (*reader)->covered(src.uniqueid);
  if (!covered.ok() || covered->empty()) return false;
  covered_ = std::move(covered).value();
  src.reader = std::move(reader).value();
  return true;
}

void IndexAnswers::add(const SearchKey& key) const {
  for (const SearchKey& child : key.children) add(child);
  add_one(key);
}

void IndexAnswers::add_one(const SearchKey& key) const {
  using Op = SearchKey::Op;
  using search::Field;
  search::IndexReader& reader = *source_->reader;
  const std::string& uniqueid = source_->uniqueid;
  auto match = [&](Field f) { return reader.match(uniqueid, f, key.text); };
  if (key.op == Op::kBody) {
    auto a = match(Field::kBody);
    if (a.ok()) answers_[&key] = std::move(a).value();
  } else if (key.op == Op::kText) {
    auto h = match(Field::kHeaders);
    auto b = match(Field::kBody);
    if (!h.ok() || !b.ok()) return;
    search::TextAnswer a;
    a.sure = merged(h->sure, b->sure);
    a.maybe = minus(merged(h->maybe, b->maybe), a.sure);
    answers_[&key] = std::move(a);
  } else if (index_key(key)) {  // a header field but Subject
    // A term found in the header text may belong to another field, and the
    // index holds address fields as written, comments included, while
    // SEARCH reads them as Cyrus's address text (mime::Message::
    // search_addresses), all of whose terms are in the field: for those the
    // index rules messages out but proves none.
    auto field = search::header_field(key.field);
    auto a = match(field.value_or(Field::kHeaders));
    if (!a.ok()) return;
    if (!field || search::is_address_field(*field)) {
      a->maybe = merged(a->sure, a->maybe);
      a->sure.clear();
    }
    answers_[&key] = std::move(a).value();
  }
}

IndexAnswers::Verdict IndexAnswers::verdict(const SearchKey& key, uint32_t uid) const {
  auto it = answers_.find(&key);
  if (it == answers_.end() && scan_first_ > 0 && source_ && index_key(key)) {
    // Lazy: scan until one message more than scan_first_ needs this key.
    uint32_t& asked = asked_[&key];
    if (asked <= scan_first_) {
      asked++;
      return Verdict::kScan;
    }
    if (asked == scan_first_ + 1 && open()) {
      asked++;  // asked of the index once, whatever it answers
      add_one(key);
      it = answers_.find(&key);
    }
  }
  if (it == answers_.end() || !has(covered_, uid)) return Verdict::kScan;
  if (has(it->second.sure, uid)) return Verdict::kMatch;
  if (has(it->second.maybe, uid)) return Verdict::kScan;
  return Verdict::kNoMatch;
}

std::optional<int64_t> rfc5322_day(std::string_view date) {
  // Tokens of letters or digits; the first number is the day, then a month
  // name, then the year.
  std::vector<std::string> tokens;
  std::string cur;
  for (char c : date) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      cur += c;
    } else if (!cur.empty()) {
      tokens.push_back(std::move(cur));
      cur.clear();
    }
    if (c == ':' && tokens.size() >= 3) break;  // the time starts
  }
  if (!cur.empty()) tokens.push_back(cur);
  static const char* kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                  "jul", "aug", "sep", "oct", "nov", "dec"};
  int day = -1, month = -1, year = -1;
  for (const auto& t : tokens) {
    bool digits = std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits && t.size() <= 4) {
      int v = std::stoi(t);
      if (day < 0 && month < 0 && t.size() <= 2) {
        day = v;
      } else if (month >= 0 && year < 0) {
        year = t.size() <= 2 ? (v < 50 ? 2000 + v : 1900 + v) : v;
        break;
      }
    } else if (month < 0 && t.size() >= 3) {
      for (int i = 0; i < 12; ++i) {
        if (iequals(t.substr(0, 3), kMonths[i])) month = i;
      }
    }
  }
  if (day < 1 || day > 31 || month < 0 || year < 1900) return std::nullopt;
  std::tm tm{};
  tm.tm_mday = day;
  tm.tm_mon = month;
  tm.tm_year = year - 1900;
  return static_cast<int64_t>(timegm(&tm));
}

namespace {

// SEQUENCE and UID: the set given, or `$` (the last SEARCH's result).
bool in_set(const SearchKey& key, const SearchContext& ctx, uint32_t number, uint32_t max) {
  if (key.set.saved) {
    const MessageView& m = *ctx.message;
    return ctx.saved && std::find(ctx.saved->begin(), ctx.saved->end(), m.uid) != ctx.saved->end();
  }
  return key.set.contains(number, max);
}

// SENTBEFORE, SENTON, SENTSINCE: the day of the first Date: header.
bool sent_date_matches(const SearchKey& key, const SearchContext& ctx) {
  using Op = SearchKey::Op;
  const mime::Message* msg = ctx.headers();
  if (!msg) return false;
  auto dates = msg->header_values("Date");
  if (dates.empty()) return false;
  auto day = rfc5322_day(dates[0]);
  if (!day) return false;
  if (key.op == Op::kSentBefore) return *day < key.number;
  if (key.op == Op::kSentOn) return *day == key.number;
  return *day >= key.number;
}

bool header_key_matches(const SearchKey& key, const SearchContext& ctx) {
  // Subject is read in the search form the index keeps; address fields
  // from the parsed envelope; any other field straight from the header
  // block.
  if (ctx.subject && iequals(key.field, "subject")) {
    auto form = ctx.subject();
    return form && mime::search_form_contains(*form, key.text);
  }
  if (!is_address_field(key.field) && ctx.header_block) {
    const std::string* block = ctx.header_block();
    if (!block) return false;
    return mime::header_field_contains(*block, key.field, key.text);
  }
  const mime::Message* msg = ctx.headers();
  return msg && msg->header_matches(key.field, key.text);
}

bool body_key_matches(const SearchKey& key, const SearchContext& ctx) {
  const mime::SearchBody* body = ctx.body();
  return body && body->matches(key.text);
}

bool text_key_matches(const SearchKey& key, const SearchContext& ctx) {
  // The header block is decoded as it is, without parsing the message
  // header's structure; the body is read only when the header has no
  // match.
  if (ctx.header_block) {
    const std::string* block = ctx.header_block();
    if (block && mime::header_text_contains(*block, key.text)) return true;
  } else {
    const mime::Message* header = ctx.headers();
    if (header && mime::contains_folded(header->header_text(), key.text)) return true;
  }
  return body_key_matches(key, ctx);
}

// The keys on the message's record alone: dates, size, modseq, ids.
bool record_key_matches(const SearchKey& key, const SearchContext& ctx) {
  using Op = SearchKey::Op;
  const MessageView& m = *ctx.message;
  switch (key.op) {
    case Op::kBefore:
      return day_of(m.internaldate) < key.number;
    case Op::kOn:
      return day_of(m.internaldate) == key.number;
    case Op::kSince:
      return day_of(m.internaldate) >= key.number;
    case Op::kSavedBefore:
      return day_of(m.savedate) < key.number;
    case Op::kSavedOn:
      return day_of(m.savedate) == key.number;
    case Op::kSavedSince:
      return day_of(m.savedate) >= key.number;
    case Op::kLarger:
      return m.size > static_cast<uint64_t>(key.number);
    case Op::kSmaller:
      return m.size < static_cast<uint64_t>(key.number);
    case Op::kModseq:
      return m.modseq >= static_cast<uint64_t>(key.number);
    case Op::kEmailId:
      return key.text == email_id(m.guid);
    case Op::kOlder:
      return m.internaldate <= ctx.now - key.number;
    case Op::kYounger:
      return m.internaldate >= ctx.now - key.number;
    default:
      return false;
  }
}

}  // namespace

bool search_matches(const SearchKey& key, const SearchContext& ctx) {
  using Op = SearchKey::Op;
  const MessageView& m = *ctx.message;
  if (ctx.index && (key.op == Op::kHeader || key.op == Op::kBody || key.op == Op::kText)) {
    auto v = ctx.index->verdict(key, m.uid);
    if (v != IndexAnswers::Verdict::kScan) return v == IndexAnswers::Verdict::kMatch;
  }
  switch (key.op) {
    case Op::kAll:
      return true;
    case Op::kAnd:
      return std::all_of(key.children.begin(), key.children.end(),
                         [&](const SearchKey& k) { return search_matches(k, ctx); });
    case Op::kOr:
      return search_matches(key.children[0], ctx) || search_matches(key.children[1], ctx);
    case Op::kNot:
      return !search_matches(key.children[0], ctx);
    case Op::kFlag:
      return has_flag(m, key.text);
    case Op::kSequence:
      return in_set(key, ctx, ctx.seq, ctx.max_seq);
    case Op::kUid:
      return in_set(key, ctx, m.uid, ctx.max_uid);
    case Op::kSentBefore:
    case Op::kSentOn:
    case Op::kSentSince:
      return sent_date_matches(key, ctx);
    case Op::kHeader:
      return header_key_matches(key, ctx);
    case Op::kBody:
      return body_key_matches(key, ctx);
    case Op::kText:
      return text_key_matches(key, ctx);
    case Op::kThreadId:
      // No conversations, so no thread ids: Cyrus 3.6 matches nothing.
      return false;
    case Op::kBefore:
    case Op::kOn:
    case Op::kSince:
    case Op::kSavedBefore:
    case Op::kSavedOn:
    case Op::kSavedSince:
    case Op::kLarger:
    case Op::kSmaller:
    case Op::kModseq:
    case Op::kEmailId:
    case Op::kOlder:
    case Op::kYounger:
      return record_key_matches(key, ctx);
  }
  return false;
}

}  // namespace replimail::imap
