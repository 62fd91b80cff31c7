#include "dlist/parser.h"

#include <gtest/gtest.h>

#include <random>

#include "dlist/printer.h"

namespace replimail::dlist {
namespace {

std::vector<Value> parse_ok(std::string_view s, FileSink* sink = nullptr) {
  auto r = parse_line(s, sink);
  EXPECT_TRUE(r.ok()) << r.status().to_string() << " for: " << s;
  return r.ok() ? *r : std::vector<Value>{};
}

Value one(std::string_view s) {
  auto v = parse_ok(s);
  EXPECT_EQ(v.size(), 1u) << s;
  return v.empty() ? Value() : v[0];
}

TEST(Parser, Scalars) {
  EXPECT_EQ(one("abc"), Value::atom("abc"));
  EXPECT_EQ(one("NIL"), Value::nil());
  EXPECT_EQ(one("\"NIL\""), Value::atom("NIL"));
  EXPECT_EQ(one("\"\""), Value::atom(""));
  EXPECT_EQ(one("\"a\\\"b\\\\c d\\x\""), Value::atom("a\"b\\c dx"));
  EXPECT_EQ(one("\"tab\there\""), Value::atom("tab\there"));
  EXPECT_EQ(one("\\Seen"), Value::flag("\\Seen"));
  EXPECT_EQ(one("{5+}\r\nab\r\nc"), Value::literal("ab\r\nc"));
  EXPECT_EQ(one(std::string("{3}\nx\0y\r\n", 9)), Value::literal(std::string("x\0y", 3)));
  EXPECT_EQ(one("{0}\r\n\r\n"), Value::literal(""));
  EXPECT_EQ(one("1795554947").num(), 1795554947u);
}

TEST(Parser, LinesAndContainers) {
  auto v = parse_ok("APPLY CAPABILITIES (SIEVE-MAILBOX)\r\n");
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0], Value::atom("APPLY"));
  auto item = keyed(v, 1);
  ASSERT_TRUE(item.ok());
  EXPECT_EQ(item->key(), "CAPABILITIES");
  ASSERT_TRUE(item->is_list());
  EXPECT_EQ(item->children()[0], Value::atom("SIEVE-MAILBOX"));

  Value kv = one("%(A 1 B (x \\Seen) C %() D () E NIL F \"\" G {2+}\r\nhi)");
  ASSERT_TRUE(kv.is_kvlist());
  EXPECT_EQ(kv.size(), 7u);
  EXPECT_EQ(kv.find_num("A"), 1u);
  EXPECT_EQ(kv.find("B")->children()[1], Value::flag("\\Seen"));
  EXPECT_TRUE(kv.find("C")->is_kvlist());
  EXPECT_EQ(kv.find("D")->size(), 0u);
  EXPECT_TRUE(kv.find("E")->is_nil());
  EXPECT_EQ(kv.find_str("F"), "");
  EXPECT_EQ(kv.find_str("G"), "hi");

  // Any whitespace separates values inside lists.
  Value l = one("(a\tb\r\nc  d )");
  EXPECT_EQ(l.size(), 4u);
  EXPECT_EQ(parse_ok("\r\n").size(), 0u);
  EXPECT_EQ(parse_ok("EXIT").size(), 1u);
}

TEST(Parser, KeyedErrors) {
  EXPECT_FALSE(keyed(parse_ok("GET"), 0 + 1).ok());
  EXPECT_FALSE(keyed(parse_ok("GET USER a b"), 1).ok());
  EXPECT_FALSE(keyed(parse_ok("GET (x) b"), 1).ok());
  EXPECT_EQ(keyed(parse_ok("GET USER bob"), 1)->str(), "bob");
}

TEST(Parser, RoundTripThroughPrinter) {
  Value kv = Value::kvlist();
  kv.add("NAME", Value::atom("user.bob.Sent Items"));
  kv.add("ACL", Value::atom("bob\tlrs\t"));
  kv.add("BIN", Value::atom(std::string("a\0\r\n\"%\\\xff", 8)));
  kv.add("NUM", Value::num(12345678901234ull));
  kv.add("EMPTY", Value::atom(""));
  kv.add("NILV", Value::nil());
  kv.add("NILWORD", Value::atom("NIL"));
  kv.add("LIT", Value::literal("lit"));
  Value& l = kv.add("L", Value::list());
  l.push(Value::flag("\\Deleted"));
  l.push(Value::kvlist()).add("X", Value::list());
  l.push(Value::atom(std::string(2000, 'z')));
  auto text = *item_to_wire(kv);
  auto parsed = parse_ok("APPLY " + text + "\r\n");
  auto back = keyed(parsed, 1);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*item_to_wire(*back), text);
  EXPECT_EQ(back->find_str("BIN"), std::string("a\0\r\n\"%\\\xff", 8));
  EXPECT_EQ(back->find_num("NUM"), 12345678901234ull);
  EXPECT_TRUE(back->find("NILV")->is_nil());
  EXPECT_EQ(back->find_str("NILWORD"), "NIL");
}

// Feeds `data` in pieces of `step` bytes; returns the lines and errors seen.
struct Fed {
  std::vector<std::vector<Value>> lines;
  std::vector<std::string> errors;
};
Fed feed_in_steps(Parser& p, std::string_view data, size_t step) {
  Fed out;
  size_t pos = 0;
  while (pos < data.size()) {
    std::string_view chunk = data.substr(pos, step);
    while (!chunk.empty()) {
      auto f = p.feed(chunk);
      EXPECT_LE(f.consumed, chunk.size());
      if (f.event == Parser::Event::kLine) out.lines.push_back(p.take_line());
      if (f.event == Parser::Event::kBadLine) out.errors.push_back(p.error().message());
      chunk.remove_prefix(f.consumed);
    }
    pos += step;
  }
  return out;
}

const std::string kGuid = "da98e55f3ec16aafa94a7504d83105309f089342";

TEST(Parser, ChunkedFeedingGivesTheSameResultAtEverySplit) {
  const std::string data = "APPLY MESSAGE (%{default " + kGuid + " 12}\r\nline1\r\nline2)\r\n" +
                           "GET MAILBOXES (user.a \"b c\" {3+}\r\nd\ne)\r\n" +
                           "APPLY BOGUS (\"unterminated\r\n" + "* OK x\r\n";
  MemoryFileSink whole_sink;
  Parser whole(&whole_sink);
  Fed expect = feed_in_steps(whole, data, data.size());
  ASSERT_EQ(expect.lines.size(), 3u);
  ASSERT_EQ(expect.errors.size(), 1u);
  EXPECT_EQ(whole_sink.files().at(kGuid), "line1\r\nline2");
  for (size_t step = 1; step < 40; ++step) {
    MemoryFileSink sink;
    Parser p(&sink);
    Fed got = feed_in_steps(p, data, step);
    EXPECT_EQ(got.lines, expect.lines) << step;
    EXPECT_EQ(got.errors, expect.errors) << step;
    EXPECT_EQ(sink.files(), whole_sink.files()) << step;
    EXPECT_FALSE(p.mid_line());
  }
}

// A sink that never holds more than one chunk and checks the contract.
class CountingSink : public FileSink {
 public:
  Status begin(const FileRef& ref) override {
    EXPECT_FALSE(open);
    open = true;
    expected = ref.size;
    got = 0;
    if (fail_begin) {
      open = false;
      return Status(Code::kIoError, "disk full");
    }
    return Status::success();
  }
  Status write(std::string_view bytes) override {
    EXPECT_TRUE(open);
    largest = std::max(largest, bytes.size());
    got += bytes.size();
    if (fail_after && got > fail_after) return Status(Code::kIoError, "write failed");
    return Status::success();
  }
  Result<std::string> finish() override {
    EXPECT_TRUE(open);
    EXPECT_EQ(got, expected);
    open = false;
    ++finished;
    return std::string("/staging/") + std::to_string(finished);
  }
  void discard() override {
    EXPECT_TRUE(open);
    open = false;
    ++discarded;
  }
  bool open = false;
  bool fail_begin = false;
  uint64_t fail_after = 0;
  uint64_t expected = 0, got = 0;
  size_t largest = 0;
  int finished = 0, discarded = 0;
};

TEST(Parser, FileLiteralsStreamToTheSink) {
  const std::string body(5 << 20, 'x');
  const std::string data = "APPLY MESSAGE (%{default " + kGuid + " " + std::to_string(body.size()) +
                           "}\r\n" + body + " %{\"p 2\" " + kGuid + " 0}\r\n)\r\n";
  CountingSink sink;
  Parser p(&sink);
  Fed got = feed_in_steps(p, data, 65536);
  ASSERT_EQ(got.lines.size(), 1u);
  EXPECT_LE(sink.largest, 65536u);
  EXPECT_EQ(sink.finished, 2);
  auto item = keyed(got.lines[0], 1);
  ASSERT_TRUE(item.ok());
  ASSERT_EQ(item->size(), 2u);
  const FileRef* f = item->children()[0].file();
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(*f, (FileRef{"default", kGuid, body.size(), "/staging/1"}));
  EXPECT_EQ(item->children()[1].file()->partition, "p 2");
  EXPECT_EQ(item->children()[1].file()->size, 0u);
}

TEST(Parser, SinkFailuresFailTheLineAndSkipTheBody) {
  const std::string data =
      "APPLY MESSAGE (%{default " + kGuid + " 10}\r\nUSER x\r\nab)\r\nNOOP\r\n";
  for (int mode = 0; mode < 3; ++mode) {
    CountingSink sink;
    sink.fail_begin = mode == 0;
    sink.fail_after = mode == 1 ? 4 : 0;
    Parser p(mode == 2 ? nullptr : &sink);
    Fed got = feed_in_steps(p, data, 3);
    ASSERT_EQ(got.errors.size(), 1u) << mode;
    ASSERT_EQ(got.lines.size(), 1u) << mode;
    EXPECT_EQ(got.lines[0], std::vector<Value>{Value::atom("NOOP")});
    EXPECT_FALSE(sink.open);
    EXPECT_EQ(sink.finished, 0);
    EXPECT_EQ(sink.discarded, mode == 1 ? 1 : 0);
  }
}

TEST(Parser, HalfReceivedFileIsDiscardedWithTheParser) {
  CountingSink sink;
  {
    Parser p(&sink);
    p.feed("APPLY MESSAGE (%{default " + kGuid + " 100}\r\nabc");
    EXPECT_TRUE(sink.open);
    EXPECT_TRUE(p.mid_line());
  }
  EXPECT_FALSE(sink.open);
  EXPECT_EQ(sink.discarded, 1);
}

TEST(Parser, MalformedLinesAreErrorsAndParsingGoesOn) {
  const std::vector<std::string> bad = {
      ")",
      "a)",
      "\"open",
      "(a)b",
      "\"q\"x",
      "%x",
      "%(KEY)",
      "%((a) 1)",
      "%(%{default " + kGuid + " 3}\r\nabc 1)",
      "{12x}\r\n",
      "{}\r\n",
      "{3}x",
      "\\",
      "a\rb",
      "%{default nothex 3}\r\nabc",
      "%{default " + kGuid + "}\r\n",
      "%{default " + kGuid + " x}\r\n",
      "%{ " + kGuid + " 1}\r\nx",
      "%{default\r\n",
      "(\"a\\\r\n",
  };
  for (const auto& b : bad) {
    MemoryFileSink sink;
    Parser p(&sink);
    Fed got = feed_in_steps(p, b + "\r\nNOOP\r\n", 1);
    EXPECT_EQ(got.errors.size(), 1u) << b;
    ASSERT_FALSE(got.lines.empty()) << b;
    EXPECT_EQ(got.lines.back(), std::vector<Value>{Value::atom("NOOP")}) << b;
  }
}

TEST(Parser, RecoverySkipsLiteralBodies) {
  // The bad lines carry literals whose bodies look like commands; none of
  // them may be taken as a line.
  const std::string data = std::string("APPLY X (a)b {12+}\r\nEXIT\r\nEXIT\r\n\r\n") +
                           "APPLY X (a)b %{default " + kGuid + " 6}\r\nEXIT\r\n\r\n" + "NOOP\r\n";
  MemoryFileSink sink;
  Parser p(&sink);
  Fed got = feed_in_steps(p, data, 5);
  EXPECT_EQ(got.errors.size(), 2u);
  ASSERT_EQ(got.lines.size(), 1u);
  EXPECT_EQ(got.lines[0], std::vector<Value>{Value::atom("NOOP")});
}

TEST(Parser, Limits) {
  Limits lim;
  lim.max_depth = 3;
  lim.max_token = 8;
  lim.max_literal = 10;
  lim.max_file = 5;
  lim.max_values = 6;
  lim.max_line_memory = 25;
  MemoryFileSink sink;
  auto err = [&](std::string_view s) { return !parse_line(s, &sink, lim).ok(); };
  EXPECT_FALSE(err("(((a)))"));
  EXPECT_TRUE(err("((((a))))"));
  EXPECT_FALSE(err("abcdefgh"));
  EXPECT_TRUE(err("abcdefghi"));
  EXPECT_TRUE(err("\"abcdefghi\""));
  EXPECT_FALSE(err("{10}\r\n0123456789"));
  EXPECT_TRUE(err("{11}\r\n0123456789a"));
  EXPECT_TRUE(err("{99999999999999999999999}\r\n"));
  EXPECT_FALSE(err("%{p " + kGuid + " 5}\r\n01234"));
  EXPECT_TRUE(err("%{p " + kGuid + " 6}\r\n012345"));
  EXPECT_FALSE(err("a b c d e f"));
  EXPECT_TRUE(err("a b c d e f g"));
  EXPECT_TRUE(err("{10}\r\n0123456789 {10}\r\n0123456789 {10}\r\n0123456789 "));
  EXPECT_TRUE(sink.files().count(kGuid));

  // An oversized literal is skipped whole, so the next line parses.
  Parser p(&sink, lim);
  Fed got = feed_in_steps(p, "X {18}\r\nNOOP\r\nNOOP\r\nNOOP\r\n\r\nEXIT\r\n", 4);
  EXPECT_EQ(got.errors.size(), 1u);
  ASSERT_EQ(got.lines.size(), 1u);
  EXPECT_EQ(got.lines[0], std::vector<Value>{Value::atom("EXIT")});
}

// Atoms and quoted strings are taken in runs: a run stops at the byte where
// a limit would have stopped the byte-at-a-time path, so the error and the
// recovery after it (here a '{' just past the limit, which the skip then
// reads as a literal's header) are the same however the input arrives.
TEST(Parser, RunsOfAtomBytesStopAtTheLimitsAsSingleBytesWould) {
  Limits lim;
  lim.max_token = 8;
  lim.max_line_memory = 25;
  const std::string data =
      "A abcdefgh{3}\r\nx)\r\nNOOP\r\n"
      "B \"abcdefgh{3}\r\nx\"\r\nNOOP\r\n"
      "C abcd efgh ijkl mnop qrst uvwx abcd efghi{3}\r\nyz)\r\nNOOP\r\n"
      "D \"ab\\\"cd\" efgh \"ijkl\"\r\n";
  MemoryFileSink whole_sink;
  Parser whole(&whole_sink, lim);
  Fed expect = feed_in_steps(whole, data, data.size());
  ASSERT_EQ(expect.errors.size(), 3u);
  EXPECT_NE(expect.errors[0].find("atom too long"), std::string::npos) << expect.errors[0];
  EXPECT_NE(expect.errors[1].find("quoted string too long"), std::string::npos)
      << expect.errors[1];
  EXPECT_NE(expect.errors[2].find("too much data"), std::string::npos) << expect.errors[2];
  ASSERT_EQ(expect.lines.size(), 4u);
  EXPECT_EQ(expect.lines[0], std::vector<Value>{Value::atom("NOOP")});
  EXPECT_EQ(expect.lines[3], (std::vector<Value>{Value::atom("D"), Value::atom("ab\"cd"),
                                                 Value::atom("efgh"), Value::atom("ijkl")}));
  for (size_t step = 1; step < 12; ++step) {
    MemoryFileSink sink;
    Parser p(&sink, lim);
    Fed got = feed_in_steps(p, data, step);
    EXPECT_EQ(got.lines, expect.lines) << step;
    EXPECT_EQ(got.errors, expect.errors) << step;
  }
}

TEST(Parser, SkippingPastMaxSkipLosesTheStream) {
  Limits lim;
  lim.max_literal = 4;
  lim.max_skip = 20;
  CountingSink sink;
  sink.fail_begin = true;  // every file literal refused, as before authentication
  // Within the bound: skipped, and the next line parses.
  {
    Parser p(&sink, lim);
    Fed got = feed_in_steps(p, "X {18}\r\nNOOP\r\nNOOP\r\nNOOP\r\n\r\nEXIT\r\n", 3);
    EXPECT_EQ(got.errors.size(), 1u);
    ASSERT_EQ(got.lines.size(), 1u);
    EXPECT_FALSE(p.lost());
  }
  // A refused file literal, a too large literal, and two that add up past
  // the bound: reported at once, before their bodies; nothing parses after.
  const std::vector<std::string> lines = {
      "APPLY MESSAGE (%{default " + kGuid + " 21}\r\n",
      "X {21}\r\n",
      "X {15}\r\nNOOP\r\nNOOP\r\nNOO {15}\r\n",
  };
  for (const auto& l : lines) {
    Parser p(&sink, lim);
    Fed got = feed_in_steps(p, l + "NOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\n", 2);
    EXPECT_TRUE(p.lost()) << l;
    EXPECT_TRUE(got.lines.empty()) << l;
    ASSERT_FALSE(got.errors.empty()) << l;
    EXPECT_NE(got.errors[0].find("connection must close"), std::string::npos) << got.errors[0];
  }
  // New limits apply from the next line on.
  Parser p(&sink, lim);
  p.set_limits(Limits());
  Fed got = feed_in_steps(p, "X {21}\r\n012345678901234567890\r\nNOOP\r\n", 5);
  EXPECT_FALSE(p.lost());
  EXPECT_EQ(got.lines.size(), 2u);
}

TEST(Parser, StatusLinesKeepTheirText) {
  Parser p(nullptr, {}, true);
  Fed got = feed_in_steps(
      p,
      "OK success\r\nNO IMAP_MAILBOX_NONEXISTENT No \"Such\" (Mailbox\r\n* OK banner [x] 3.6\r\n"
      "S0 BAD Replication parse failure\r\nOK\r\n* MAILBOX %(A 1)\r\nBYE\r\n",
      7);
  ASSERT_EQ(got.lines.size(), 7u);
  EXPECT_EQ(got.lines[0], (std::vector<Value>{Value::atom("OK"), Value::atom("success")}));
  EXPECT_EQ(got.lines[1][1], Value::atom("IMAP_MAILBOX_NONEXISTENT No \"Such\" (Mailbox"));
  EXPECT_EQ(got.lines[2][2], Value::atom("banner [x] 3.6"));
  EXPECT_EQ(got.lines[3][2], Value::atom("Replication parse failure"));
  EXPECT_EQ(got.lines[4].size(), 1u);
  EXPECT_TRUE(keyed(got.lines[5], 1)->is_kvlist());
  EXPECT_EQ(got.lines[6], std::vector<Value>{Value::atom("BYE")});
  // Without the option a status text is parsed as values.
  EXPECT_FALSE(parse_line("NO \"Such").ok());
}

// Random and mutated input never crashes the parser, and chunking never
// changes the outcome.
TEST(Parser, FuzzSmoke) {
  const std::string seed =
      "APPLY MAILBOX %(UNIQUEID x MBOXNAME \"a b\" RECORD (%(UID 1 FLAGS "
      "(\\Seen) GUID " +
      kGuid + " V {3+}\r\nabc)) F %{p " + kGuid + " 4}\r\nwxyz)\r\n";
  std::mt19937 rng(1234);
  const std::string alphabet = "()%{}\"\\ \r\n+0123456789aZ*";
  for (int iter = 0; iter < 3000; ++iter) {
    std::string s = seed;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      size_t at = rng() % s.size();
      switch (rng() % 3) {
        case 0:
          s[at] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          s.erase(at, 1 + rng() % 3);
          break;
        default:
          s.insert(at, 1, static_cast<char>(rng() % 256));
          break;
      }
      if (s.empty()) s.push_back('x');  // not `= "x"`: GCC 12 -O3's false -Wrestrict
    }
    s += "\r\nNOOP\r\n";
    Limits lim;
    lim.max_literal = 1000;
    lim.max_file = 1000;
    MemoryFileSink a, b;
    Parser pa(&a, lim), pb(&b, lim);
    Fed whole = feed_in_steps(pa, s, s.size());
    Fed chunked = feed_in_steps(pb, s, 1 + rng() % 7);
    EXPECT_EQ(whole.lines, chunked.lines) << s;
    EXPECT_EQ(whole.errors, chunked.errors) << s;
  }
}

}  // namespace
}  // namespace replimail::dlist
