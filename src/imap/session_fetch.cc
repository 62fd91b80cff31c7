// FETCH and SEARCH.
#include <algorithm>
#include <ctime>
#include <iterator>
#include <optional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "imap/format.h"
#include "imap/search.h"
#include "imap/session.h"
#include "mime/message.h"
#include "mime/search_body.h"
#include "store/message_cache.h"
#include "store/record.h"

namespace replimail::imap {
namespace {

using K = FetchItem::Kind;

bool sets_seen(const FetchItem& it) {
  return ((it.kind == K::kSection || it.kind == K::kBinary) && !it.peek) || it.kind == K::kRfc822 ||
         it.kind == K::kRfc822Text;
}

mime::Section to_mime(const FetchItem& it) {
  mime::Section s;
  s.path = it.part;
  s.fields = it.fields;
  using MK = mime::Section::Kind;
  if (it.kind == K::kRfc822Header) {
    s.kind = MK::kHeader;
  } else if (it.kind == K::kRfc822Text) {
    s.kind = MK::kText;
  } else if (it.specifier == "HEADER") {
    s.kind = MK::kHeader;
  } else if (it.specifier == "HEADER.FIELDS") {
    s.kind = MK::kHeaderFields;
  } else if (it.specifier == "HEADER.FIELDS.NOT") {
    s.kind = MK::kHeaderFieldsNot;
  } else if (it.specifier == "TEXT") {
    s.kind = MK::kText;
  } else if (it.specifier == "MIME") {
    s.kind = MK::kMime;
  } else {
    s.kind = MK::kAll;
  }
  return s;
}

std::string literal(std::string_view bytes) {
  return "{" + std::to_string(bytes.size()) + "}\r\n" + std::string(bytes);
}

// FETCH BINARY data: a literal8 (RFC 3516 ~{n}) only when it holds a NUL,
// as Cyrus 3.6 sends it.
std::string binary_literal(std::string_view bytes) {
  if (bytes.find('\0') == std::string_view::npos) return literal(bytes);
  return "~" + literal(bytes);
}

// A set made only of 0s ("0", "0:0,0"): Cyrus 3.6 reads 0 as a message
// number that names no message (NO), where the grammar's nz-number says BAD.
bool only_zeros(std::string_view text) {
  if (text.empty()) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == ',' || c == ':') {
      if (i == 0 || text[i - 1] == ',' || text[i - 1] == ':' || i + 1 == text.size()) return false;
    } else if (c != '0' || (i > 0 && text[i - 1] == '0')) {
      return false;
    }
  }
  return true;
}

// One message's data for FETCH, each kind read at most once and only when
// an item needs it: the parsed message file, and the message cache row
// (ENVELOPE, BODY, BODYSTRUCTURE and the header, without opening the file).
class FetchSource {
 public:
  FetchSource(store::Mailbox& mbox, const MessageView& m) : mbox_(mbox), m_(m) {}

  Result<const mime::Message*> parsed() {
    if (!msg_) {
      auto opened = mime::Message::open(mbox_.message_path(m_.uid));
      if (!opened.ok()) return opened.status();
      msg_.emplace(std::move(opened).value());
    }
    return &*msg_;
  }

  Result<const store::MessageCache*> cached() {
    if (!cache_) {
      auto c = mbox_.cache(m_.uid, m_.guid);
      if (!c.ok()) return c.status();
      cache_.emplace(std::move(c).value());
    }
    return &*cache_;
  }

 private:
  store::Mailbox& mbox_;
  const MessageView& m_;
  std::optional<mime::Message> msg_;
  std::optional<store::MessageCache> cache_;
};

// The <start.length> part of `bytes` the item asks for, or all of them.
std::string_view partial(std::string_view bytes, const FetchItem& it) {
  if (!it.partial_start) return bytes;
  return *it.partial_start >= bytes.size() ? std::string_view()
                                           : bytes.substr(*it.partial_start, it.partial_length);
}

// PREVIEW: Cyrus 3.6 makes no preview of its own: it shows the shared
// message annotation named by jmap_preview_annot (its first 256 bytes),
// else NIL.
Result<std::string> preview_item(const Config& cfg, store::Mailbox& mbox, uint32_t uid) {
  std::string annot = cfg.get("jmap_preview_annot");
  if (annot.rfind("/shared/", 0) != 0) return std::string("PREVIEW NIL");
  std::string entry = annot.substr(7);
  auto annots = mbox.annotations(uid);
  if (!annots.ok()) return annots.status();
  std::string value;
  for (const auto& a : *annots) {
    if (a.entry == entry && a.userid.empty()) value = a.value.substr(0, 256);
  }
  return "PREVIEW " + cyrus_string(value);
}

// BINARY[part]<partial> and BINARY.SIZE[part] (RFC 3516).
Result<std::string> binary_item(const FetchItem& it, FetchSource& src) {
  auto p = src.parsed();
  if (!p.ok()) return p.status();
  auto data = (*p)->binary_section(it.part);
  if (!data.ok() && data.status().code() != Code::kNotFound) return data.status();
  if (it.kind == K::kBinarySize)
    return it.response_name + " " + std::to_string(data.ok() ? data->size() : 0);
  if (!data.ok()) return it.response_name + " NIL";
  return it.response_name + " " + binary_literal(partial(*data, it));
}

// BODY[section]<partial>, RFC822.HEADER and RFC822.TEXT; the message's own
// header (whole or some fields) comes from the cache.
Result<std::string> section_item(const FetchItem& it, FetchSource& src) {
  std::string name = it.kind == K::kRfc822Header ? "RFC822.HEADER"
                     : it.kind == K::kRfc822Text ? "RFC822.TEXT"
                                                 : it.response_name;
  mime::Section want = to_mime(it);
  using MK = mime::Section::Kind;
  Result<mime::SectionBytes> sec = Status(Code::kNotFound, "");
  if (want.path.empty() && (want.kind == MK::kHeader || want.kind == MK::kHeaderFields ||
                            want.kind == MK::kHeaderFieldsNot)) {
    auto c = src.cached();
    if (!c.ok()) return c.status();
    const std::string& header = (*c)->header;
    sec = want.kind == MK::kHeader ? mime::SectionBytes(std::string_view(header))
                                   : mime::SectionBytes(mime::header_fields(
                                         header, want.fields, want.kind == MK::kHeaderFieldsNot));
  } else {
    auto p = src.parsed();
    if (!p.ok()) return p.status();
    sec = (*p)->section(want);
  }
  // A part the message does not have is NIL (RFC 3501 nstring; as Cyrus 3.6).
  if (!sec.ok() && sec.status().code() == Code::kNotFound) return name + " NIL";
  if (!sec.ok()) return sec.status();
  return name + " " + literal(partial(sec->data(), it));
}

// One FETCH data item of message `m`, as it goes in the response.
Result<std::string> fetch_item(const FetchItem& it, const MessageView& m, FetchSource& src,
                               const Config& cfg, store::Mailbox& mbox) {
  switch (it.kind) {
    case K::kFlags:
    case K::kUid:
      return Status(Code::kInternal, "FLAGS and UID are written in place by fetch_one");
    case K::kInternalDate:
      return "INTERNALDATE \"" + format_date_time(m.internaldate) + "\"";
    case K::kSaveDate:
      return "SAVEDATE \"" + format_date_time(m.savedate) + "\"";
    case K::kPreview:
      return preview_item(cfg, mbox, m.uid);
    case K::kRfc822Size:
      return "RFC822.SIZE " + std::to_string(m.size);
    case K::kModseq:
      return "MODSEQ (" + std::to_string(m.modseq) + ")";
    case K::kEmailId:
      return "EMAILID (" + email_id(m.guid) + ")";
    case K::kThreadId:
      // Cyrus 3.6 prints its NIL inside the parentheses.
      return std::string("THREADID (NIL)");
    case K::kEnvelope:
    case K::kBody:
    case K::kBodyStructure: {
      auto c = src.cached();
      if (!c.ok()) return c.status();
      if (it.kind == K::kEnvelope) return "ENVELOPE " + (*c)->envelope;
      if (it.kind == K::kBody) return "BODY " + (*c)->body;
      return "BODYSTRUCTURE " + (*c)->bodystructure;
    }
    case K::kRfc822: {
      auto p = src.parsed();
      if (!p.ok()) return p.status();
      return "RFC822 " + literal((*p)->bytes());
    }
    case K::kBinary:
    case K::kBinarySize:
      return binary_item(it, src);
    case K::kRfc822Header:
    case K::kRfc822Text:
    case K::kSection:
      return section_item(it, src);
  }
  return Status(Code::kInternal, "unknown FETCH item");
}


// UID FETCH's VANISHED modifier (RFC 7162 §3.2.6): the UIDs of `set`
// expunged since `modseq`.
Result<std::vector<uint32_t>> vanished_since(SelectedMailbox& sel, uint64_t modseq,
                                             const SequenceSet& set) {
  std::vector<uint32_t> gone;
  uint32_t last = sel.uidnext() - 1;
  Status st = sel.mailbox().for_each_record(modseq, [&](const store::IndexRecord& r) {
    if (r.expunged() && set.contains(r.uid, last)) gone.push_back(r.uid);
    return true;
  });
  if (!st.is_ok()) return st;
  return gone;
}

// Sets \Seen on the messages of `seqs` that lack it, as reading a body
// section does (RFC 3501 §6.4.5): in the records for the mailbox's owner, in
// the reader's own seen state for anyone else. *newly_seen: whether any did.
Status mark_seen_by_fetch(store::Instance& instance, SelectedMailbox& sel,
                          const std::vector<uint32_t>& seqs, bool* newly_seen) {
  std::vector<uint32_t> unseen;
  for (uint32_t s : seqs) {
    if (!(sel.at(s).system_flags & store::kFlagSeen)) unseen.push_back(sel.at(s).uid);
  }
  *newly_seen = !unseen.empty();
  if (unseen.empty()) return Status();
  if (!sel.owner_seen()) return sel.set_seen(instance, unseen, true);
  Status st = instance.store_flags(sel.name(), unseen, store::kFlagSeen, {}, true);
  if (!st.is_ok()) return st;
  for (uint32_t uid : unseen) {
    auto rec = sel.mailbox().record(uid);
    if (rec.ok()) sel.update(*rec);
  }
  return Status();
}
}  // namespace

Status Session::fetch_one(uint32_t seq, const FetchRequest& req, bool uid_cmd, std::string* out) {
  const MessageView& m = selected_->at(seq);
  FetchSource src(selected_->mailbox(), m);
  // Written straight into `out` (no list of parts per message), taken back
  // if an item cannot be read.
  const size_t start = out->size();
  bool first = true;
  auto put = [&](std::string_view part) {
    if (!first) *out += ' ';
    first = false;
    *out += part;
  };
  auto put_uid = [&] {
    put("UID ");
    fmt::format_to(std::back_inserter(*out), "{}", m.uid);
  };
  fmt::format_to(std::back_inserter(*out), "* {} FETCH (", seq);
  bool has_uid = false, has_modseq = false;
  if (uid_cmd) {
    put_uid();
    has_uid = true;
  }
  for (const FetchItem& it : req.items) {
    // UID and MODSEQ go in once, however often they are asked for.
    if ((it.kind == K::kUid && has_uid) || (it.kind == K::kModseq && has_modseq)) continue;
    has_uid = has_uid || it.kind == K::kUid;
    has_modseq = has_modseq || it.kind == K::kModseq;
    // What a client asks of every message, written in place.
    if (it.kind == K::kFlags) {
      put("FLAGS ");
      append_flag_list(out, m.system_flags, m.recent, m.keywords);
      continue;
    }
    if (it.kind == K::kUid) {
      put_uid();
      continue;
    }
    auto part = fetch_item(it, m, src, instance_.config(), selected_->mailbox());
    if (!part.ok()) {
      out->resize(start);
      return part.status();
    }
    put(*part);
  }
  if (condstore_ && !has_modseq && req.changedsince) {
    put("MODSEQ (" + std::to_string(m.modseq) + ")");
  }
  *out += ")\r\n";
  return Status();
}

void Session::cmd_fetch(const Command& cmd) {
  if (!cmd.uid && !cmd.args.empty() && cmd.args[0].is_atom() && only_zeros(cmd.args[0].text)) {
    return tagged(cmd, "NO", "No matching messages");
  }
  auto req = parse_fetch(cmd.args);
  if (!req.ok()) return tagged_error(cmd, req.status());
  if (req->vanished && (!cmd.uid || !qresync_)) {
    return tagged(cmd, "BAD", "VANISHED requires UID FETCH and QRESYNC");
  }
  bool wants_modseq = req->changedsince.has_value();
  for (const auto& it : req->items) wants_modseq = wants_modseq || it.kind == K::kModseq;
  if (wants_modseq) enable_condstore("MODSEQ fetch");
  std::vector<uint32_t> seqs = saved_or(req->set, cmd.uid, selected_->resolve(req->set, cmd.uid));
  // Cyrus 3.6: message numbers that name no message (all beyond EXISTS) are
  // NO, a range that reaches past EXISTS fetches the ones there; UIDs are not.
  if (seqs.empty() && !cmd.uid && !req->set.saved) {
    return tagged(cmd, "NO", "No matching messages");
  }
  if (req->changedsince) {
    std::erase_if(seqs, [&](uint32_t s) { return selected_->at(s).modseq <= *req->changedsince; });
  }
  if (req->vanished) {
    auto gone = vanished_since(*selected_, *req->changedsince, req->set);
    if (!gone.ok()) return tagged_error(cmd, gone.status());
    if (!gone->empty()) reply("* VANISHED (EARLIER) " + format_sequence(*gone));
  }
  // Reading a body section sets \Seen (RFC 3501 §6.4.5) unless read-only
  // (the mailbox, or the instance: reading goes on in read-only mode).
  bool mark_seen =
      !selected_->readonly() && !instance_.read_only() && std::any_of(req->items.begin(), req->items.end(), sets_seen);
  if (mark_seen) {
    auto e = instance_.lookup(selected_->name());
    mark_seen = e.ok() && rights_of(*e).find('s') != std::string::npos;
  }
  if (mark_seen) {
    bool newly_seen = false;
    Status st = mark_seen_by_fetch(instance_, *selected_, seqs, &newly_seen);
    if (!st.is_ok()) return tagged_error(cmd, st);
    bool has_flags = std::any_of(req->items.begin(), req->items.end(),
                                 [](const FetchItem& it) { return it.kind == K::kFlags; });
    if (newly_seen && !has_flags) {
      FetchItem f;
      f.kind = K::kFlags;
      req->items.push_back(f);
    }
  }
  for (uint32_t s : seqs) {
    Status st = fetch_one(s, *req, cmd.uid, &out_);
    if (st.code() == Code::kMailboxNotSupported) {
      // RFC 3516 §4.2: a transfer encoding the server cannot decode.
      return tagged(cmd, "NO", "[UNKNOWN-CTE] " + st.message());
    }
    if (!st.is_ok()) {
      reply("* NO Cannot read message " + std::to_string(s) + ": " + st.message());
      continue;
    }
    quiet_uids_.push_back(selected_->at(s).uid);
    if (!write_early()) break;  // the client is gone
  }
  flush_cache_fills();
  tagged(cmd, "OK", "Completed");
}

void Session::flush_cache_fills() {
  // The answer never depends on it: a cache row not written is computed
  // again next time.
  Status st = selected_->mailbox().flush_cache();
  if (!st.is_ok()) spdlog::warn("{}: message cache not filled: {}", selected_->name(), st.message());
}

namespace {

// The body text SEARCH reads: the file's text parts at the offsets its
// message cache row keeps (read into `segments`), or the parsed file (no
// row, or one without them).
std::optional<mime::SearchBody> search_body(store::Mailbox& mailbox, const MessageView& m,
                                            std::string& segments) {
  const std::string path = mailbox.message_path(m.uid);
  if (mailbox.cache_column(m.uid, m.guid, store::CacheColumn::kTextSegments, segments).is_ok() &&
      !segments.empty()) {
    auto body = mime::SearchBody::open(path, segments);
    if (body.ok()) return std::move(body).value();
  }
  auto msg = mime::Message::open(path);
  if (!msg.ok()) return std::nullopt;
  return mime::SearchBody::of(std::move(msg).value());
}

// What the keys of a SEARCH have read of the message being matched, each
// loaded when a key first needs it: its cached header block (header keys
// read only that column of the cache row), the header parsed (address and
// date keys), its body text (body keys: the file's text parts). The
// buffers keep their capacity from one message to the next.
struct ScanMessage {
  const MessageView* m = nullptr;
  std::string header_block;
  bool header_read = false;
  bool header_ok = false;
  std::optional<mime::Message> header;
  std::string segments;
  std::optional<mime::SearchBody> body;
  bool body_read = false;
  std::optional<std::string_view> subject;  // SubjectCursor's view
  bool subject_read = false;

  void start(const MessageView& message) {
    m = &message;
    header_read = header_ok = body_read = subject_read = false;
    header.reset();
    body.reset();
  }
};

}  // namespace

Status Session::for_each_match(const SearchKey& key, const MatchFn& fn) {
  uint32_t exists = selected_->exists();
  uint32_t max_uid = exists ? selected_->at(exists).uid : 0;
  std::vector<uint32_t> saved = saved_uids_;
  IndexAnswers index =
      IndexAnswers::prepare(instance_, *selected_, key, IndexAnswers::scan_first_for(exists));
  const int64_t now = std::time(nullptr);
  store::Mailbox& mailbox = selected_->mailbox();
  // One read transaction for the whole scan: SQLite then takes its shared
  // lock once, not once per message cache read.
  bool snapshot = mailbox.begin_read().is_ok();
  ScanMessage cur;
  std::function<const std::string*()> header_block = [&cur, &mailbox]() -> const std::string* {
    if (!cur.header_read) {
      cur.header_read = true;
      cur.header_ok = mailbox
                          .cache_column(cur.m->uid, cur.m->guid, store::CacheColumn::kHeader,
                                        cur.header_block)
                          .is_ok();
    }
    return cur.header_ok ? &cur.header_block : nullptr;
  };
  std::function<const mime::Message*()> headers = [&cur, &header_block]() -> const mime::Message* {
    if (!cur.header && header_block()) cur.header.emplace(mime::Message::from_bytes(cur.header_block));
    return cur.header ? &*cur.header : nullptr;
  };
  std::function<const mime::SearchBody*()> body_text = [&cur, &mailbox]() -> const mime::SearchBody* {
    if (!cur.body_read) {
      cur.body_read = true;
      cur.body = search_body(mailbox, *cur.m, cur.segments);
    }
    return cur.body ? &*cur.body : nullptr;
  };
  // Opened by the first SUBJECT key; the messages come in UID order.
  std::optional<store::SubjectCursor> subjects;
  auto subject = [&cur, &mailbox, &subjects]() -> std::optional<std::string_view> {
    if (!cur.subject_read) {
      cur.subject_read = true;
      if (!subjects) subjects.emplace(mailbox);
      auto form = subjects->subject(cur.m->uid, cur.m->guid);
      cur.subject = form.ok() ? std::optional<std::string_view>(*form) : std::nullopt;
    }
    return cur.subject;
  };
  SearchContext ctx;
  ctx.max_seq = exists;
  ctx.max_uid = max_uid;
  ctx.saved = &saved;
  ctx.index = &index;
  ctx.now = now;
  ctx.headers = headers;
  ctx.header_block = header_block;
  ctx.subject = subject;
  ctx.body = body_text;
  Status result;
  for (uint32_t seq = 1; seq <= exists && result.is_ok(); ++seq) {
    const MessageView& m = selected_->at(seq);
    cur.start(m);
    ctx.seq = seq;
    ctx.message = &m;
    if (!search_matches(key, ctx)) continue;
    result = fn(seq, m, headers);
  }
  subjects.reset();
  if (snapshot) mailbox.end_read();
  flush_cache_fills();
  return result;
}

void Session::cmd_search(const Command& cmd) {
  auto req = parse_search(cmd.args);
  if (!req.ok()) return tagged_error(cmd, req.status());
  if (!req->charset.empty() && req->charset != "UTF-8" && req->charset != "US-ASCII") {
    return tagged(cmd, "NO", "[BADCHARSET (US-ASCII UTF-8)] Unsupported charset");
  }
  std::vector<uint32_t> matches;  // seq or UID per the command
  std::vector<uint32_t> matched_uids;
  std::vector<uint64_t> modseqs;
  uint64_t max_modseq = 0;
  Status st = for_each_match(req->key, [&](uint32_t seq, const MessageView& m,
                                           const std::function<const mime::Message*()>&) {
    matches.push_back(cmd.uid ? m.uid : seq);
    matched_uids.push_back(m.uid);
    modseqs.push_back(m.modseq);
    max_modseq = std::max(max_modseq, m.modseq);
    return Status();
  });
  if (!st.is_ok()) return tagged_error(cmd, st);
  if (!req->esearch) {
    std::string line = "* SEARCH";
    for (uint32_t n : matches) line += " " + std::to_string(n);
    if (req->uses_modseq && !matches.empty()) {
      line += " (MODSEQ " + std::to_string(max_modseq) + ")";
    }
    reply(line);
    return tagged(cmd, "OK", "Completed");
  }
  const auto& opts = req->return_options;
  auto has = [&](const char* o) { return std::find(opts.begin(), opts.end(), o) != opts.end(); };
  if (has("SAVE")) saved_uids_ = matched_uids;
  if (has("SAVE") && opts.size() == 1) return tagged(cmd, "OK", "Completed");
  std::string line = "* ESEARCH (TAG " + imap_string(cmd.tag) + ")";
  if (cmd.uid) line += " UID";
  if (!matches.empty()) {
    if (has("MIN")) line += " MIN " + std::to_string(matches.front());
    if (has("MAX")) line += " MAX " + std::to_string(matches.back());
    if (has("ALL")) line += " ALL " + format_sequence(matches);
  }
  if (has("COUNT")) line += " COUNT " + std::to_string(matches.size());
  if (req->uses_modseq && !matches.empty()) {
    // RFC 7162 §3.1.5 with RFC 4731: the highest MODSEQ of the messages the
    // answer returns, which MIN and MAX alone narrow to one or two.
    uint64_t modseq = max_modseq;
    if (!has("ALL") && !has("COUNT")) {
      modseq = 0;
      if (has("MIN")) modseq = modseqs.front();
      if (has("MAX")) modseq = std::max(modseq, modseqs.back());
    }
    if (modseq) line += " MODSEQ " + std::to_string(modseq);
  }
  reply(line);
  tagged(cmd, "OK", "Completed");
}

}  // namespace replimail::imap
