// The typed argument parsers of parser.h: FETCH, STORE and SEARCH.
#include <algorithm>
#include <charconv>
#include <iterator>
#include <optional>

#include "imap/parser.h"

namespace replimail::imap {
namespace {

Status bad(std::string message) { return Status(Code::kProtocolError, std::move(message)); }

std::optional<uint64_t> number(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// The inside of BODY[...]: "1.2.HEADER.FIELDS (A B)", "TEXT", "3.MIME", "".
// `as_sent` gets the header field names as the client wrote them: the
// answer names the section with them, as Cyrus 3.6 does (a client may look
// for the item it asked for, byte for byte).
Status parse_section(std::string_view s, FetchItem* item, std::vector<std::string>* as_sent) {
  while (!s.empty() && s[0] >= '0' && s[0] <= '9') {
    size_t dot = s.find('.');
    auto n = number(s.substr(0, dot));
    if (!n || *n == 0 || *n > UINT32_MAX) return bad("Invalid body section");
    item->part.push_back(static_cast<uint32_t>(*n));
    if (dot == std::string_view::npos) {
      s = {};
      break;
    }
    s.remove_prefix(dot + 1);
    if (s.empty()) return bad("Invalid body section");
  }
  size_t sp = s.find(' ');
  std::string spec = to_upper(s.substr(0, sp));
  if (spec == "HEADER.FIELDS" || spec == "HEADER.FIELDS.NOT") {
    if (sp == std::string_view::npos) return bad("Missing header field list");
    std::string_view list = s.substr(sp + 1);
    if (list.size() < 3 || list.front() != '(' || list.back() != ')') {
      return bad("Invalid header field list");
    }
    list = list.substr(1, list.size() - 2);
    size_t pos = 0;
    while (pos < list.size()) {
      size_t end = list.find(' ', pos);
      if (end == std::string_view::npos) end = list.size();
      std::string_view f = list.substr(pos, end - pos);
      if (f.size() >= 2 && f.front() == '"' && f.back() == '"') f = f.substr(1, f.size() - 2);
      if (!f.empty()) {
        for (char c : f) {
          if (c <= ' ' || c == ':' || c == '(' || c == ')' || c == '"' || c == 0x7f) {
            return bad("Invalid header field name");
          }
        }
        item->fields.push_back(to_upper(f));
        as_sent->emplace_back(f);
      }
      pos = end + 1;
    }
    if (item->fields.empty()) return bad("Empty header field list");
  } else if (sp != std::string_view::npos) {
    return bad("Invalid body section");
  } else if (!(spec.empty() || spec == "HEADER" || spec == "TEXT" ||
               (spec == "MIME" && !item->part.empty()))) {
    return bad("Invalid body section");
  }
  item->specifier = spec;
  return Status();
}

// RFC 3516: BINARY[part]<start.length>, BINARY.PEEK[...] and
// BINARY.SIZE[part]: only a part number (no HEADER, TEXT or MIME), and a
// partial only with its length, in Cyrus 3.6's words.
Result<FetchItem> parse_binary_item(std::string_view section, std::string_view rest,
                                    FetchItem item) {
  if (section.find_first_not_of("0123456789.") != std::string_view::npos) {
    return bad("Invalid binary section");
  }
  if (!section.empty()) {
    std::vector<std::string> no_fields;
    Status st = parse_section(section, &item, &no_fields);
    if (!st.is_ok()) return bad("Invalid binary section");
  }
  std::string name = item.kind == FetchItem::Kind::kBinarySize ? "BINARY.SIZE[" : "BINARY[";
  for (size_t i = 0; i < item.part.size(); ++i) {
    if (i) name += '.';
    name += std::to_string(item.part[i]);
  }
  item.response_name = name + "]";
  if (rest.empty()) return item;
  if (item.kind == FetchItem::Kind::kBinarySize) return bad("Invalid body partial");
  if (rest.size() < 3 || rest.front() != '<' || rest.back() != '>') {
    return bad("Invalid body partial");
  }
  rest = rest.substr(1, rest.size() - 2);
  size_t dot = rest.find('.');
  if (dot == std::string_view::npos) return bad("Invalid body partial");
  auto start = number(rest.substr(0, dot));
  auto len = number(rest.substr(dot + 1));
  if (!start || *start > UINT32_MAX || !len || *len == 0 || *len > UINT32_MAX) {
    return bad("Invalid body partial");
  }
  item.partial_start = static_cast<uint32_t>(*start);
  item.partial_length = static_cast<uint32_t>(*len);
  item.response_name += "<" + std::to_string(*start) + ">";
  return item;
}

Result<FetchItem> parse_fetch_item(std::string_view text) {
  FetchItem item;
  size_t bracket = text.find('[');
  std::string name = to_upper(text.substr(0, bracket));
  using K = FetchItem::Kind;
  if (bracket == std::string_view::npos) {
    static const std::pair<const char*, K> kSimple[] = {{"FLAGS", K::kFlags},
                                                        {"INTERNALDATE", K::kInternalDate},
                                                        {"RFC822.SIZE", K::kRfc822Size},
                                                        {"ENVELOPE", K::kEnvelope},
                                                        {"BODY", K::kBody},
                                                        {"BODYSTRUCTURE", K::kBodyStructure},
                                                        {"UID", K::kUid},
                                                        {"MODSEQ", K::kModseq},
                                                        {"RFC822", K::kRfc822},
                                                        {"RFC822.HEADER", K::kRfc822Header},
                                                        {"RFC822.TEXT", K::kRfc822Text},
                                                        {"EMAILID", K::kEmailId},
                                                        {"THREADID", K::kThreadId},
                                                        {"SAVEDATE", K::kSaveDate},
                                                        {"PREVIEW", K::kPreview}};
    for (const auto& [n, k] : kSimple) {
      if (name == n) {
        item.kind = k;
        item.response_name = name;
        return item;
      }
    }
    return bad("Invalid fetch attribute " + std::string(text.substr(0, 64)));
  }
  item.kind = K::kSection;
  if (name == "BODY.PEEK" || name == "BINARY.PEEK") item.peek = true;
  if (name == "BINARY" || name == "BINARY.PEEK") item.kind = K::kBinary;
  if (name == "BINARY.SIZE") item.kind = K::kBinarySize;
  if (item.kind == K::kSection && !item.peek && name != "BODY") {
    return bad("Invalid fetch attribute " + std::string(text.substr(0, 64)));
  }
  size_t close = text.find(']', bracket);
  if (close == std::string_view::npos) return bad("Missing ']'");
  std::string_view section = text.substr(bracket + 1, close - bracket - 1);
  if (item.kind != K::kSection) return parse_binary_item(section, text.substr(close + 1), item);
  std::vector<std::string> fields_as_sent;
  Status st = parse_section(section, &item, &fields_as_sent);
  if (!st.is_ok()) return st;
  std::string_view rest = text.substr(close + 1);
  std::string canonical;
  for (uint32_t p : item.part) canonical += std::to_string(p) + ".";
  if (item.specifier.empty() && !canonical.empty()) canonical.pop_back();
  canonical += item.specifier;
  if (!fields_as_sent.empty()) {
    canonical += " (";
    for (size_t i = 0; i < fields_as_sent.size(); ++i) {
      canonical += (i ? " " : "") + fields_as_sent[i];
    }
    canonical += ")";
  }
  item.response_name = "BODY[" + canonical + "]";
  if (!rest.empty()) {
    if (rest.size() < 3 || rest.front() != '<' || rest.back() != '>') {
      return bad("Invalid partial");
    }
    rest = rest.substr(1, rest.size() - 2);
    size_t dot = rest.find('.');
    auto start = number(rest.substr(0, dot));
    if (!start || *start > UINT32_MAX) return bad("Invalid partial");
    item.partial_start = static_cast<uint32_t>(*start);
    item.partial_length = UINT32_MAX;
    if (dot != std::string_view::npos) {
      auto len = number(rest.substr(dot + 1));
      if (!len || *len == 0 || *len > UINT32_MAX) return bad("Invalid partial");
      item.partial_length = static_cast<uint32_t>(*len);
    }
    item.response_name += "<" + std::to_string(*start) + ">";
  }
  return item;
}

// RFC 8970 preview modifiers after PREVIEW: LAZY is the only one (Cyrus's
// words for any other).
Status check_preview_modifiers(const Value& mods) {
  if (mods.items.empty()) return bad("FETCH contains invalid preview modifier ()");
  for (const Value& m : mods.items) {
    if (!m.is_atom("LAZY")) {
      return bad("FETCH contains invalid preview modifier (" + m.text.substr(0, 64) + ")");
    }
  }
  return Status();
}

}  // namespace

Result<FetchRequest> parse_fetch(const std::vector<Value>& args) {
  if (args.size() < 2 || args.size() > 3 || !args[0].is_atom()) {
    return bad("Invalid FETCH arguments");
  }
  FetchRequest req;
  auto set = parse_sequence_set(args[0].text);
  if (!set.ok()) return set.status();
  req.set = std::move(set).value();
  using K = FetchItem::Kind;
  auto add = [&](K k) {
    FetchItem it;
    it.kind = k;
    req.items.push_back(it);
  };
  const Value& what = args[1];
  if (what.is_atom("ALL") || what.is_atom("FAST") || what.is_atom("FULL")) {
    add(K::kFlags);
    add(K::kInternalDate);
    add(K::kRfc822Size);
    if (!what.is_atom("FAST")) add(K::kEnvelope);
    if (what.is_atom("FULL")) add(K::kBody);
    for (auto& it : req.items) {
      static const char* kNames[] = {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"};
      it.response_name = kNames[&it - req.items.data()];
    }
  } else if (what.is_atom()) {
    auto it = parse_fetch_item(what.text);
    if (!it.ok()) return it.status();
    req.items.push_back(std::move(it).value());
    if (req.items.back().kind == K::kPreview && args.size() == 3) {
      // "PREVIEW (LAZY)" without the item list's parentheses.
      Status st = check_preview_modifiers(args[2]);
      if (!st.is_ok()) return st;
      return req;
    }
  } else if (what.is_list() && !what.items.empty()) {
    for (const Value& v : what.items) {
      if (v.is_list() && !req.items.empty() && req.items.back().kind == K::kPreview) {
        Status st = check_preview_modifiers(v);
        if (!st.is_ok()) return st;
        continue;
      }
      if (!v.is_atom()) return bad("Invalid fetch attribute");
      auto it = parse_fetch_item(v.text);
      if (!it.ok()) return it.status();
      req.items.push_back(std::move(it).value());
    }
  } else {
    return bad("Invalid FETCH attribute list");
  }
  if (args.size() == 3) {
    const Value& mods = args[2];
    if (!mods.is_list()) return bad("Invalid FETCH modifiers");
    for (size_t i = 0; i < mods.items.size(); ++i) {
      if (mods.items[i].is_atom("CHANGEDSINCE") && i + 1 < mods.items.size()) {
        auto n = number(mods.items[++i].text);
        if (!n) return bad("Invalid CHANGEDSINCE");
        req.changedsince = *n;
      } else if (mods.items[i].is_atom("VANISHED")) {
        req.vanished = true;
      } else {
        return bad("Invalid FETCH modifier");
      }
    }
    if (req.vanished && !req.changedsince) return bad("VANISHED requires CHANGEDSINCE");
  }
  return req;
}

Result<StoreRequest> parse_store(const std::vector<Value>& args) {
  if (args.size() < 3 || !args[0].is_atom()) return bad("Invalid STORE arguments");
  StoreRequest req;
  auto set = parse_sequence_set(args[0].text);
  if (!set.ok()) return set.status();
  req.set = std::move(set).value();
  size_t i = 1;
  if (args[i].is_list()) {
    const auto& mods = args[i].items;
    if (mods.size() != 2 || !mods[0].is_atom("UNCHANGEDSINCE")) {
      return bad("Invalid STORE modifier");
    }
    auto n = number(mods[1].text);
    if (!n) return bad("Invalid UNCHANGEDSINCE");
    req.unchangedsince = *n;
    ++i;
  }
  if (i >= args.size() || !args[i].is_atom()) return bad("Invalid STORE attribute");
  std::string item = to_upper(args[i].text);
  if (!item.empty() && (item[0] == '+' || item[0] == '-')) {
    req.op = item[0] == '+' ? StoreRequest::Op::kAdd : StoreRequest::Op::kRemove;
    item.erase(0, 1);
  }
  if (item == "FLAGS.SILENT") {
    req.silent = true;
  } else if (item != "FLAGS") {
    return bad("Invalid STORE attribute");
  }
  ++i;
  if (i >= args.size()) return bad("Missing flags");
  std::vector<const Value*> flags;
  if (args[i].is_list()) {
    if (i + 1 != args.size()) return bad("Invalid flag list");
    for (const Value& v : args[i].items) flags.push_back(&v);
  } else {
    for (; i < args.size(); ++i) flags.push_back(&args[i]);
  }
  for (const Value* v : flags) {
    if (!v->is_atom() || v->text.empty()) return bad("Invalid flag");
    if (v->text[0] == '\\' && !iequals(v->text, "\\Seen") && !iequals(v->text, "\\Answered") &&
        !iequals(v->text, "\\Flagged") && !iequals(v->text, "\\Deleted") &&
        !iequals(v->text, "\\Draft")) {
      return bad("Invalid system flag " + v->text.substr(0, 64));
    }
    for (char c : v->text) {
      if (c == '[' || c == ']' || c == '%' || c == '*') return bad("Invalid flag");
    }
    req.flags.push_back(v->text);
  }
  return req;
}

namespace {

class SearchParser {
 public:
  SearchParser(const std::vector<Value>& args, size_t pos, bool* modseq)
      : args_(args), pos_(pos), modseq_(modseq) {}

  bool done() const { return pos_ >= args_.size(); }

  Result<SearchKey> key(int depth) {
    if (depth > kMaxNesting) return bad("Search keys nested too deeply");
    if (done()) return bad("Missing search key");
    const Value& v = args_[pos_++];
    if (v.is_list()) return key_list(v, depth);
    if (!v.is_atom()) return bad("Invalid search key");
    std::string name = to_upper(v.text);
    if (!name.empty() && ((name[0] >= '0' && name[0] <= '9') || name[0] == '*' || name[0] == '$')) {
      auto set = parse_sequence_set(v.text);
      if (!set.ok()) return set.status();
      SearchKey k;
      k.op = SearchKey::Op::kSequence;
      k.set = std::move(set).value();
      return k;
    }
    if (auto k = flag_or_logic_key(name, depth)) return std::move(*k);
    if (auto k = number_key(name)) return std::move(*k);
    if (auto k = text_key(name)) return std::move(*k);
    return bad("Invalid search key " + v.text.substr(0, 64));
  }

 private:
  using Op = SearchKey::Op;
  // What a key parser returns: nullopt if `name` is not one of its keys.
  using Parsed = std::optional<Result<SearchKey>>;

  // "(key key ...)": all of them.
  Result<SearchKey> key_list(const Value& v, int depth) {
    if (v.items.empty()) return bad("Empty search key list");
    SearchParser sub(v.items, 0, modseq_);
    SearchKey k;
    k.op = Op::kAnd;
    while (!sub.done()) {
      auto c = sub.key(depth + 1);
      if (!c.ok()) return c;
      k.children.push_back(std::move(c).value());
    }
    return k;
  }

  // Flags, ALL, NEW, OLD, KEYWORD, NOT, OR.
  Parsed flag_or_logic_key(const std::string& name, int depth) {
    static const std::pair<const char*, const char*> kFlagKeys[] = {
        {"ANSWERED", "\\Answered"}, {"DELETED", "\\Deleted"}, {"DRAFT", "\\Draft"},
        {"FLAGGED", "\\Flagged"},   {"SEEN", "\\Seen"},       {"RECENT", "\\Recent"}};
    for (const auto& [n, flag] : kFlagKeys) {
      if (name == n) return flag_key(flag);
      if (name == std::string("UN") + n) return negate(flag_key(flag));
    }
    SearchKey k;
    // Every mailbox here keeps save dates (Cyrus: index version 15 and up).
    if (name == "ALL" || name == "SAVEDATESUPPORTED") return k;
    if (name == "NEW") {
      k.op = Op::kAnd;
      k.children.push_back(flag_key("\\Recent"));
      k.children.push_back(negate(flag_key("\\Seen")));
      return k;
    }
    if (name == "OLD") return negate(flag_key("\\Recent"));
    if (name == "KEYWORD" || name == "UNKEYWORD") {
      auto s = astring();
      if (!s.ok()) return s.status();
      SearchKey f = flag_key(*s);
      return name == "KEYWORD" ? f : negate(std::move(f));
    }
    if (name == "NOT") {
      auto c = key(depth + 1);
      if (!c.ok()) return c;
      return negate(std::move(c).value());
    }
    if (name != "OR") return std::nullopt;
    auto a = key(depth + 1);
    if (!a.ok()) return a;
    auto b = key(depth + 1);
    if (!b.ok()) return b;
    k.op = Op::kOr;
    k.children.push_back(std::move(a).value());
    k.children.push_back(std::move(b).value());
    return k;
  }

  // Dates, OLDER and YOUNGER, LARGER and SMALLER, MODSEQ.
  Parsed number_key(const std::string& name) {
    static const std::pair<const char*, Op> kDateKeys[] = {
        {"BEFORE", Op::kBefore},         {"ON", Op::kOn},         {"SINCE", Op::kSince},
        {"SENTBEFORE", Op::kSentBefore}, {"SENTON", Op::kSentOn}, {"SENTSINCE", Op::kSentSince},
        {"SAVEDBEFORE", Op::kSavedBefore}, {"SAVEDON", Op::kSavedOn}, {"SAVEDSINCE", Op::kSavedSince}};
    SearchKey k;
    for (const auto& [n, op] : kDateKeys) {
      if (name != n) continue;
      auto s = astring();
      if (!s.ok()) return s.status();
      auto d = parse_date(*s);
      if (!d) return bad("Invalid search date");
      k.op = op;
      k.number = *d;
      return k;
    }
    const char* invalid = nullptr;
    if (name == "OLDER" || name == "YOUNGER") {
      // RFC 5032 interval: digits only, as Cyrus reads it.
      k.op = name == "OLDER" ? Op::kOlder : Op::kYounger;
      invalid = "Invalid interval in Search command";
    } else if (name == "LARGER" || name == "SMALLER") {
      k.op = name == "LARGER" ? Op::kLarger : Op::kSmaller;
      invalid = "Invalid size";
    } else if (name == "MODSEQ") {
      // MODSEQ [entry-name entry-type-req] mod-sequence-valzer
      if (pos_ + 2 < args_.size() && args_[pos_].is_string()) pos_ += 2;
      k.op = Op::kModseq;
      invalid = "Invalid MODSEQ";
    } else {
      return std::nullopt;
    }
    auto s = astring();
    if (!s.ok()) return s.status();
    auto n = number(*s);
    if (!n || *n > INT64_MAX) return bad(invalid);
    k.number = static_cast<int64_t>(*n);
    if (k.op == Op::kModseq) *modseq_ = true;
    return k;
  }

  // EMAILID and THREADID, header keys, BODY and TEXT, UID.
  Parsed text_key(const std::string& name) {
    static const std::pair<const char*, Op> kTextKeys[] = {
        {"EMAILID", Op::kEmailId}, {"THREADID", Op::kThreadId}, {"FROM", Op::kHeader},
        {"TO", Op::kHeader},       {"CC", Op::kHeader},         {"BCC", Op::kHeader},
        {"SUBJECT", Op::kHeader},  {"HEADER", Op::kHeader},     {"BODY", Op::kBody},
        {"TEXT", Op::kText},       {"UID", Op::kUid}};
    auto row = std::find_if(std::begin(kTextKeys), std::end(kTextKeys),
                            [&](const auto& r) { return name == r.first; });
    if (row == std::end(kTextKeys)) return std::nullopt;
    SearchKey k;
    k.op = row->second;
    if (name == "HEADER") {
      auto f = astring();
      if (!f.ok()) return f.status();
      k.field = to_upper(*f);
    } else if (k.op == Op::kHeader) {
      k.field = name;
    }
    auto s = astring();
    if (!s.ok()) return s.status();
    if (k.op != Op::kUid) {
      k.text = std::move(s).value();
      return k;
    }
    auto set = parse_sequence_set(*s);
    if (!set.ok()) return set.status();
    k.set = std::move(set).value();
    return k;
  }

  Result<std::string> astring() {
    if (done() || !args_[pos_].is_astring()) return bad("Missing search argument");
    return args_[pos_++].text;
  }
  static SearchKey flag_key(std::string flag) {
    SearchKey k;
    k.op = SearchKey::Op::kFlag;
    k.text = std::move(flag);
    return k;
  }
  static SearchKey negate(SearchKey c) {
    SearchKey k;
    k.op = SearchKey::Op::kNot;
    k.children.push_back(std::move(c));
    return k;
  }

  const std::vector<Value>& args_;
  size_t pos_;
  bool* modseq_;
};

}  // namespace

Result<SearchRequest> parse_search(const std::vector<Value>& args) {
  SearchRequest req;
  size_t pos = 0;
  if (pos < args.size() && args[pos].is_atom("RETURN")) {
    if (pos + 1 >= args.size() || !args[pos + 1].is_list()) return bad("Invalid RETURN");
    req.esearch = true;
    for (const Value& v : args[pos + 1].items) {
      std::string opt = to_upper(v.text);
      if (!v.is_atom() ||
          (opt != "MIN" && opt != "MAX" && opt != "ALL" && opt != "COUNT" && opt != "SAVE")) {
        return bad("Invalid RETURN option");
      }
      req.return_options.push_back(opt);
    }
    if (req.return_options.empty()) req.return_options.push_back("ALL");
    pos += 2;
  }
  if (pos < args.size() && args[pos].is_atom("CHARSET")) {
    if (pos + 1 >= args.size() || !args[pos + 1].is_astring()) return bad("Missing charset");
    req.charset = to_upper(args[pos + 1].text);
    pos += 2;
  }
  req.key.op = SearchKey::Op::kAnd;
  SearchParser p(args, pos, &req.uses_modseq);
  if (p.done()) return bad("Missing search criteria");
  while (!p.done()) {
    auto k = p.key(0);
    if (!k.ok()) return k.status();
    req.key.children.push_back(std::move(k).value());
  }
  return req;
}

}  // namespace replimail::imap
