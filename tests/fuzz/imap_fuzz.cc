// libFuzzer entry point for the IMAP command parser: `tests/fuzz/run imap 300`
// fuzzes for five minutes; the ordinary test suite replays its corpus
// (tests/fuzz/corpus/imap/, real commands as clients send them, literals
// inline).
//
// Beyond "no crash", each input checks that:
//  - a parsed command has a valid tag (also handed out through tag_out) and
//    an upper-case name, and its argument tree is no deeper than kMaxNesting;
//  - the command printed back (strings as literals) parses to the same tree;
//  - the typed parsers (sequence sets, FETCH, STORE, SEARCH, dates) accept
//    the arguments without crashing; a sequence set printed back parses to
//    the same ranges; a date-time formatted back parses to the same instant;
//  - a literal the framing would stream as an APPEND message is a literal;
//  - the command reader, fed the input in two pieces under small limits,
//    never holds more than its limits allow, and every command it hands
//    over is within them.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "common/ascii.h"
#include "imap/command_reader.h"
#include "imap/parser.h"

namespace {

using namespace replimail::imap;

void require(bool cond) {
  if (!cond) std::abort();
}

int depth(const Value& v) {
  int d = 0;
  for (const Value& c : v.items) d = std::max(d, depth(c));
  return v.is_list() ? d + 1 : d;
}

void print(const Value& v, std::string* out) {
  if (v.is_list()) {
    *out += '(';
    for (size_t i = 0; i < v.items.size(); ++i) {
      if (i) *out += ' ';
      print(v.items[i], out);
    }
    *out += ')';
  } else if (v.is_string()) {
    *out += "{" + std::to_string(v.text.size()) + "}\r\n" + v.text;
  } else {
    *out += v.text;
  }
}

bool same(const Value& a, const Value& b) {
  if (a.kind != b.kind || a.text != b.text || a.items.size() != b.items.size()) return false;
  for (size_t i = 0; i < a.items.size(); ++i) {
    if (!same(a.items[i], b.items[i])) return false;
  }
  return true;
}

std::string print_ranges(const SequenceSet& set) {
  std::string out;
  auto num = [](uint64_t n) { return n == kStar ? std::string("*") : std::to_string(n); };
  for (const SeqRange& r : set.ranges) {
    if (!out.empty()) out += ',';
    out += num(r.lo);
    if (r.hi != r.lo) out += ":" + num(r.hi);
  }
  return out;
}

void check_sequence(std::string_view text) {
  auto set = parse_sequence_set(text);
  if (!set.ok()) return;
  if (set->saved) return require(set->ranges.empty());
  require(!set->ranges.empty());
  for (const SeqRange& r : set->ranges) require(r.lo != 0 && r.hi != 0);
  auto back = parse_sequence_set(print_ranges(*set));
  require(back.ok() && back->ranges == set->ranges);
}

void check_date(std::string_view text) {
  auto t = parse_date_time(text);
  if (!t) return;
  // Within the years a date-time can spell after moving to +0000.
  std::tm lo{}, hi{};
  lo.tm_year = 1;  // 1901
  lo.tm_mday = 1;
  hi.tm_year = 9998 - 1900;
  hi.tm_mday = 1;
  if (*t < timegm(&lo) || *t >= timegm(&hi)) return;
  auto back = parse_date_time(format_date_time(*t));
  require(back && *back == *t);
}

void check_typed(const Command& cmd) {
  (void)parse_fetch(cmd.args);
  (void)parse_store(cmd.args);
  auto search = parse_search(cmd.args);
  if (search.ok()) require(search->key.op == SearchKey::Op::kAnd);
  auto fetch = parse_fetch(cmd.args);
  if (fetch.ok()) {
    require(!fetch->items.empty());
    for (const FetchItem& item : fetch->items) {
      if (item.kind == FetchItem::Kind::kSection) require(!item.response_name.empty());
    }
  }
  for (const Value& v : cmd.args) {
    if (v.is_list()) continue;
    check_sequence(v.text);
    check_date(v.text);
    (void)parse_date(v.text);
  }
}

constexpr ReaderLimits kSmall = {/*line=*/64, /*literal=*/32, /*message=*/48, /*command=*/128};

// Checks what the reader hands over against kSmall.
class CheckingSink : public CommandReader::Sink {
 public:
  void command(std::string_view bytes) override { require(bytes.size() <= kSmall.command); }
  void raw_line(std::string_view) override { require(false); }
  void go_ahead() override {}
  void message_begin(std::string_view so_far, uint64_t size, bool) override {
    require(size <= kSmall.message && so_far.size() <= kSmall.command + 8);
    left_ = size;
  }
  void message_data(std::string_view bytes) override {
    require(bytes.size() <= left_);
    left_ -= bytes.size();
  }
  void message_end() override { require(left_ == 0); }
  void refused(std::string_view, CommandReader::Refusal, bool) override {}

 private:
  uint64_t left_ = 0;
};

void check_reader(std::string_view data) {
  CommandReader reader(kSmall);
  CheckingSink sink;
  std::string_view parts[] = {data.substr(0, data.size() / 2), data.substr(data.size() / 2)};
  for (std::string_view part : parts) {
    while (!part.empty()) {
      size_t used = reader.feed(part, sink);
      require(used > 0 && used <= part.size());
      part.remove_prefix(used);
      require(reader.held() <= kSmall.command + kSmall.line + 1);
    }
  }
  require(reader.bytes_examined() <= 8 * data.size() + 64);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string_view data(reinterpret_cast<const char*>(bytes), size);
  if (announces_append_message(data)) require(trailing_literal(data).has_value());
  check_reader(data);

  std::string tag = "unset";
  auto cmd = parse_command(data, &tag);
  if (!cmd.ok()) {
    require(cmd.status().code() == replimail::Code::kProtocolError);
    return 0;
  }
  require(!cmd->tag.empty() && cmd->tag == tag);
  require(!cmd->name.empty() && cmd->name == replimail::to_upper(cmd->name));
  for (const Value& v : cmd->args) require(depth(v) <= kMaxNesting);

  std::string again = cmd->tag + (cmd->uid ? " UID " : " ") + cmd->name;
  for (const Value& v : cmd->args) {
    again += ' ';
    print(v, &again);
  }
  auto back = parse_command(again, nullptr);
  require(back.ok() && back->tag == cmd->tag && back->name == cmd->name && back->uid == cmd->uid &&
          back->args.size() == cmd->args.size());
  for (size_t i = 0; i < cmd->args.size(); ++i) require(same(back->args[i], cmd->args[i]));

  check_typed(*cmd);
  return 0;
}
