#include "imap/sort.h"

#include <strings.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <ctime>

#include "common/ascii.h"

namespace replimail::imap {
namespace {

// Cyrus's Uisspace: isspace() in the C locale.
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

bool starts_ci(std::string_view s, size_t at, std::string_view word) {
  return s.size() - at >= word.size() && iequals(s.substr(at, word.size()), word);
}

std::string ascii_lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return s;
}

// Cyrus's _index_extract_subject: the base of `s`, counting the re/fwd
// markers it removes.
std::string extract_subject(std::string s, int* refwd) {
  // Trailer: blanks and "(fwd)".
  size_t end = s.size();
  while (end > 0) {
    if (is_space(s[end - 1])) {
      --end;
    } else if (end >= 5 && iequals(std::string_view(s).substr(end - 5, 5), "(fwd)")) {
      end -= 5;
      ++*refwd;
    } else {
      break;
    }
  }
  s.resize(end);
  const size_t n = s.size();
  // Leader: blanks, "re", "fwd", "fw" with an optional [blob] and a colon,
  // and [blobs] that are not the whole rest.
  size_t base = 0;
  for (;;) {
    if (base < n && is_space(s[base])) {
      ++base;
      continue;
    }
    size_t x;
    if (starts_ci(s, base, "re")) {
      x = base + 2;
    } else if (starts_ci(s, base, "fwd")) {
      x = base + 3;
    } else if (starts_ci(s, base, "fw")) {
      x = base + 2;
    } else if (base < n && s[base] == '[') {
      size_t close = s.find_first_of("[]", base + 1);
      if (close == std::string::npos || s[close] != ']' || close + 1 >= n) break;
      base = close + 1;
      continue;
    } else {
      break;
    }
    long long count = 0;
    while (x < n && is_space(s[x])) ++x;
    if (x < n && s[x] == '[') {
      ++x;
      while (x < n && s[x] != ']') {
        if (is_digit(s[x]) && count != -1) {
          count = count * 10 + (s[x] - '0');
          if (count > INT_MAX) count = -1;
        } else {
          count = -1;
        }
        ++x;
      }
      if (x >= n) break;  // the blob never closes
      ++x;
    }
    while (x < n && is_space(s[x])) ++x;
    if (x < n && s[x] == ':') {
      base = x + 1;
      *refwd += count > 0 ? static_cast<int>(count) : 1;
    } else {
      break;
    }
  }
  return s.substr(base);
}

// Cyrus keeps a decoded subject in its cache and decodes it again when it
// sorts, taking it as US-ASCII the second time: every non-ASCII byte
// becomes U+FFFD.
std::string as_cyrus_redecodes(const std::string& decoded) {
  std::string out;
  for (char c : decoded) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      out += "\xEF\xBF\xBD";
    } else {
      out += c;
    }
  }
  return out.find("=?") != std::string::npos ? mime::decode_header_words(out) : out;
}

const mime::Address* first_address(const std::vector<mime::Address>& list) {
  return list.empty() ? nullptr : &list.front();
}

// The mailbox Cyrus's cache holds for an address: lower-cased for a real
// address, decoded for a group's name.
std::string mailbox_of(const mime::Address* a) {
  if (!a || !a->mailbox) return "";
  if (!a->domain) return mime::decode_header_words(*a->mailbox);
  return ascii_lower(*a->mailbox);
}

std::string display_of(const mime::Address* a) {
  if (!a) return "";
  if (a->name && a->domain) {
    std::string name = mime::decode_header_words(*a->name);
    if (!name.empty()) return mime::cyrus_search_form(name);
  }
  if (a->mailbox && a->domain) return to_upper(*a->mailbox + "@" + *a->domain);
  if (a->mailbox) return to_upper(mime::decode_header_words(*a->mailbox));
  return "";
}

int numcmp(uint64_t a, uint64_t b) { return a < b ? -1 : a > b ? 1 : 0; }
int numcmp_signed(int64_t a, int64_t b) { return a < b ? -1 : a > b ? 1 : 0; }
int strcmp_of(const std::string& a, const std::string& b) {
  int r = std::strcmp(a.c_str(), b.c_str());
  return r < 0 ? -1 : r > 0 ? 1 : 0;
}

// Cyrus's compute_tzoffset: minutes east of UTC for a zone token.
int zone_minutes(std::string_view z, char sign) {
  auto up = [](char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c; };
  if (z.size() == 1) {  // military, with Cyrus's arithmetic on the raw letter
    char ch = up(z[0]);
    if (ch < 'J') return (z[0] - 'A' + 1) * 60;
    if (ch == 'J') return 0;
    if (ch <= 'M') return (z[0] - 'A') * 60;
    if (ch < 'Z') return ('M' - z[0]) * 60;
    return 0;
  }
  if (z.size() == 2 && up(z[0]) == 'U' && up(z[1]) == 'T') return 0;
  if (z.size() == 3) {
    if (up(z[2]) != 'T') return 0;
    const char* p = std::strchr("AECMPYHB", up(z[0]));
    if (!p || !*p) return 0;
    int offset = (static_cast<int>(std::strlen(p)) - 12) * 60;
    if (up(z[1]) == 'D') return offset + 60;
    if (up(z[1]) == 'S') return offset;
    return 0;
  }
  if (z.size() == 4 && std::all_of(z.begin(), z.end(), is_digit)) {
    int offset = ((z[0] - '0') * 10 + (z[1] - '0')) * 60 + (z[2] - '0') * 10 + (z[3] - '0');
    return sign == '+' ? offset : -offset;
  }
  return 0;
}

}  // namespace

Result<std::vector<SortCriterion>> parse_sort_criteria(const Value& list) {
  auto bad = [](std::string m) { return Status(Code::kProtocolBadParameters, std::move(m)); };
  if (!list.is_list() || list.items.empty()) return bad("Missing Sort criteria");
  static const std::pair<const char*, SortKey> kKeys[] = {
      {"ARRIVAL", SortKey::kArrival},
      {"CC", SortKey::kCc},
      {"DATE", SortKey::kDate},
      {"FROM", SortKey::kFrom},
      {"SIZE", SortKey::kSize},
      {"SUBJECT", SortKey::kSubject},
      {"TO", SortKey::kTo},
      {"DISPLAYFROM", SortKey::kDisplayFrom},
      {"DISPLAYTO", SortKey::kDisplayTo},
      {"MODSEQ", SortKey::kModseq},
      {"UID", SortKey::kUid},
  };
  std::vector<SortCriterion> out;
  bool reverse = false;
  for (const Value& v : list.items) {
    if (!v.is_atom()) return bad("Invalid Sort criterion");
    if (v.is_atom("REVERSE")) {
      reverse = true;
      continue;
    }
    auto it = std::find_if(std::begin(kKeys), std::end(kKeys),
                           [&](const auto& k) { return v.is_atom(k.first); });
    if (it == std::end(kKeys)) return bad("Invalid Sort criterion " + ascii_lower(v.text));
    out.push_back({it->second, reverse});
    reverse = false;
  }
  if (reverse) return bad("Missing Sort criterion to reverse");
  out.push_back({SortKey::kSequence, false});
  return out;
}

std::string base_subject(std::string_view subject, int* refwd) {
  std::string s(subject);
  std::string base;
  for (;;) {
    base = extract_subject(std::move(s), refwd);
    if (starts_ci(base, 0, "[fwd:") && base.back() == ']') {
      ++*refwd;
      s = base.substr(5, base.size() - 6);
      continue;
    }
    break;
  }
  return to_upper(std::move(base));
}

std::optional<std::string> find_msgid(std::string_view s, size_t* pos) {
  static constexpr std::string_view kSpecials = "<> @\\";
  auto special = [&](size_t i) {
    return i >= s.size() || kSpecials.find(s[i]) != std::string::npos;
  };
  size_t src = *pos;
  for (;;) {
    src = s.find_first_of("<\r", src);
    if (src == std::string_view::npos) return std::nullopt;
    size_t cp = src + 1;
    if (s[src] == '\r') {
      if (cp < s.size() && s[cp] == '\n' &&
          !(cp + 1 < s.size() && (s[cp + 1] == ' ' || s[cp + 1] == '\t'))) {
        return std::nullopt;  // the end of the header
      }
      ++src;
      continue;
    }
    if (cp < s.size() && s[cp] == '"') {  // a quoted local part must close
      size_t q = cp;
      do {
        q = s.find('"', q + 1);
      } while (q != std::string_view::npos && s[q - 1] == '\\');
      if (q == std::string_view::npos) {
        ++src;
        continue;
      }
      cp = q;
    }
    if (s.find('>', cp) == std::string_view::npos) return std::nullopt;
    std::string id = "<";
    ++src;
    if (src < s.size() && s[src] == '"') {
      ++src;
      while (src < s.size() && s[src] != '"') {
        if (s[src] == '\\') ++src;
        if (src < s.size()) id += s[src++];
      }
      ++src;
    } else {
      while (!special(src)) id += s[src++];
    }
    if (src >= s.size() || s[src] != '@' || id.back() == '<') continue;
    id += s[src++];
    while (!special(src)) id += s[src++];
    if (src >= s.size() || s[src] != '>' || id.back() == '@') continue;
    id += s[src++];
    *pos = src;
    return id;
  }
}

std::optional<int64_t> rfc5322_time(std::string_view d) {
  // Tokens are runs of letters and digits; Cyrus skips blanks, and one
  // separator character after the day and the month.
  size_t p = 0;
  auto skip_ws = [&] {
    while (p < d.size() && (d[p] == ' ' || d[p] == '\t' || d[p] == '\r' || d[p] == '\n')) ++p;
  };
  auto token = [&]() -> std::string_view {
    size_t start = p;
    while (p < d.size() && (is_alpha(d[p]) || is_digit(d[p]))) ++p;
    return d.substr(start, p - start);
  };
  auto number = [](std::string_view t) -> int {
    int v = 0;
    for (char c : t) {
      if (!is_digit(c)) return -1;
      v = v * 10 + (c - '0');
    }
    return v;
  };
  std::tm tm{};
  skip_ws();
  if (p >= d.size()) return std::nullopt;
  if (is_alpha(d[p])) {  // a day name, which a comma must follow
    if (token().size() != 3) return std::nullopt;
    if (p >= d.size() || d[p] != ',') return std::nullopt;
    ++p;
    skip_ws();
  }
  auto t = token();
  if (t.empty() || t.size() > 2 || !is_digit(t[0])) return std::nullopt;
  tm.tm_mday = number(t);
  if (tm.tm_mday < 0) return std::nullopt;
  ++p;  // the separator: '-' or a blank
  skip_ws();
  t = token();
  static const char* kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                  "jul", "aug", "sep", "oct", "nov", "dec"};
  if (t.size() != 3) return std::nullopt;
  int month = -1;
  for (int i = 0; i < 12; ++i) {
    if (iequals(t, kMonths[i])) month = i;
  }
  if (month < 0) return std::nullopt;
  tm.tm_mon = month;
  ++p;
  skip_ws();
  t = token();
  if (t.empty()) return std::nullopt;
  int year = number(t);
  if (year < 0) return std::nullopt;
  if (t.size() == 2) {
    tm.tm_year = year < 70 ? year + 100 : year;
  } else {
    if (year < 1900) return std::nullopt;
    tm.tm_year = year - 1900;
  }
  skip_ws();
  t = token();
  if (t.empty() || t.size() > 2 || !is_digit(t[0]) || number(t) < 0) return std::nullopt;
  tm.tm_hour = number(t);
  if (p >= d.size() || (d[p] != ':' && d[p] != '.')) return std::nullopt;
  ++p;
  t = token();
  if (t.empty() || t.size() > 2 || !is_digit(t[0]) || number(t) < 0) return std::nullopt;
  tm.tm_min = number(t);
  if (p < d.size() && (d[p] == ':' || d[p] == '.')) {
    ++p;
    t = token();
    if (t.empty() || t.size() > 2 || !is_digit(t[0]) || number(t) < 0) return std::nullopt;
    tm.tm_sec = number(t);
  }
  skip_ws();
  char sign = p < d.size() ? d[p] : '\0';
  if (sign == '+' || sign == '-') ++p;
  int zone = zone_minutes(token(), sign);
  int64_t t0 = static_cast<int64_t>(timegm(&tm));
  if (t0 < 0) return std::nullopt;
  return t0 - static_cast<int64_t>(zone) * 60;
}

void load_sort_headers(const mime::Message& msg, SortMessage* out) {
  const mime::Envelope& env = msg.root().envelope;
  out->sentdate = 0;
  if (env.date) {
    if (auto t = rfc5322_time(*env.date)) out->sentdate = *t;
  }
  out->from = mailbox_of(first_address(env.from));
  out->to = mailbox_of(first_address(env.to));
  out->cc = mailbox_of(first_address(env.cc));
  out->displayfrom = display_of(first_address(env.from));
  out->displayto = display_of(first_address(env.to));
  out->refwd = 0;
  out->subject.clear();
  if (env.subject) {
    out->subject =
        base_subject(as_cyrus_redecodes(mime::decode_header_words(*env.subject)), &out->refwd);
  }
  out->message_id.clear();
  if (env.message_id) {
    size_t pos = 0;
    if (auto id = find_msgid(*env.message_id, &pos)) out->message_id = *id;
  }
  out->references.clear();
  auto refs = msg.header_values("References");
  if (!refs.empty()) {
    size_t pos = 0;
    while (auto id = find_msgid(refs.front(), &pos)) out->references.push_back(*id);
  }
  if (out->references.empty() && env.in_reply_to) {
    size_t pos = 0;
    if (auto id = find_msgid(*env.in_reply_to, &pos)) out->references.push_back(*id);
  }
}

int compare_messages(const SortMessage& a, const SortMessage& b,
                     const std::vector<SortCriterion>& criteria) {
  for (const SortCriterion& c : criteria) {
    int r = 0;
    switch (c.key) {
      case SortKey::kSequence:
        r = numcmp(a.seq, b.seq);
        break;
      case SortKey::kArrival:
        r = numcmp_signed(a.internaldate, b.internaldate);
        break;
      case SortKey::kDate:
        r = numcmp_signed(a.sentdate ? a.sentdate : a.internaldate,
                          b.sentdate ? b.sentdate : b.internaldate);
        break;
      case SortKey::kCc:
        r = strcmp_of(a.cc, b.cc);
        break;
      case SortKey::kFrom:
        r = strcmp_of(a.from, b.from);
        break;
      case SortKey::kTo:
        r = strcmp_of(a.to, b.to);
        break;
      case SortKey::kSize:
        r = numcmp(a.size, b.size);
        break;
      case SortKey::kSubject:
        r = strcmp_of(a.subject, b.subject);
        break;
      case SortKey::kDisplayFrom:
        r = strcmp_of(a.displayfrom, b.displayfrom);
        break;
      case SortKey::kDisplayTo:
        r = strcmp_of(a.displayto, b.displayto);
        break;
      case SortKey::kModseq:
        r = numcmp(a.modseq, b.modseq);
        break;
      case SortKey::kUid:
        r = numcmp(a.uid, b.uid);
        break;
    }
    if (r != 0) return c.reverse ? -r : r;
    if (c.key == SortKey::kSequence) break;
  }
  return 0;
}

void sort_messages(std::vector<SortMessage>& messages, const std::vector<SortCriterion>& criteria) {
  std::sort(messages.begin(), messages.end(), [&](const SortMessage& a, const SortMessage& b) {
    return compare_messages(a, b, criteria) < 0;
  });
}

}  // namespace replimail::imap
