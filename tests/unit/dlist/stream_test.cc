// Streaming a long list through the parser (MemberSink) and the printer
// (StreamedItem): the bytes and values are exactly those of the whole-line
// path, the members are not held, and the line limits count only what is.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "dlist/parser.h"
#include "dlist/printer.h"

namespace replimail::dlist {
namespace {

Value record(uint32_t uid) {
  Value r = Value::kvlist();
  r.add("UID", Value::num(uid));
  Value flags = Value::list();
  flags.push(Value::flag("\\Seen"));
  if (uid % 2) flags.push(Value::atom("$Label 1"));
  r.add("FLAGS", std::move(flags));
  r.add("GUID", Value::guid(std::string(40, "0123456789abcdef"[uid % 16])));
  return r;
}

Value mailbox_head() {
  Value m = Value::kvlist();
  m.add("UNIQUEID", Value::atom("abc-123"));
  m.add("MBOXNAME", Value::atom("user.alice"));
  m.add("ACL", Value::atom("alice\tlrswipkxtecdan\t"));
  m.set_key("MAILBOX");
  return m;
}

std::string printed(const Value& v) {
  auto w = to_wire(v);
  EXPECT_TRUE(w.ok());
  return w.ok() ? *w : std::string();
}

// Takes every member of APPLY MAILBOX's RECORD list, remembering what it saw.
struct Taker : MemberSink {
  std::vector<Value> taken;
  std::vector<size_t> line_sizes;
  std::vector<size_t> head_sizes;
  bool take = true;
  bool member(const std::vector<Value>& line, const Value& head, Value& m) override {
    line_sizes.push_back(line.size());
    head_sizes.push_back(head.size());
    if (!take) return false;
    taken.push_back(std::move(m));
    return true;
  }
};

TEST(StreamedItem, PrintsTheSameBytesAsTheWholeValue) {
  for (uint32_t n : {0u, 1u, 3u, 2000u}) {
    Value whole = mailbox_head();
    Value recs = Value::list();
    for (uint32_t i = 1; i <= n; i++) recs.push(record(i));
    whole.add("RECORD", std::move(recs));
    auto expected = item_to_wire(whole);
    ASSERT_TRUE(expected.ok());

    StringOutput out;
    StreamedItem item(out);
    ASSERT_TRUE(item.open(mailbox_head(), "RECORD"));
    for (uint32_t i = 1; i <= n; i++) ASSERT_TRUE(item.add(record(i)));
    ASSERT_TRUE(item.close());
    EXPECT_EQ(out.str(), *expected) << n << " records";
  }
}

TEST(StreamedItem, PrintsAPlainListOfFilesAsTheWholeValue) {
  // APPLY MESSAGE: files whose bytes the caller holds, and NIL for one it
  // would not send; the whole value reads the same bytes from its files.
  std::string dir = ::testing::TempDir();
  std::vector<std::string> bodies = {"Subject: a\r\n\r\nx\r\n", "", std::string(70000, 'y')};
  Value whole = Value::list();
  whole.set_key("MESSAGE");
  std::vector<FileRef> refs;
  for (size_t i = 0; i < bodies.size(); i++) {
    FileRef f{"default", std::string(40, "abc"[i]), bodies[i].size(),
              dir + "/stream_test_" + std::to_string(i)};
    FILE* fp = std::fopen(f.path.c_str(), "wb");
    ASSERT_NE(fp, nullptr);
    std::fwrite(bodies[i].data(), 1, bodies[i].size(), fp);
    std::fclose(fp);
    refs.push_back(f);
    whole.push(Value::file(f));
    if (i == 0) whole.push(Value::nil());
  }
  auto expected = item_to_wire(whole);
  ASSERT_TRUE(expected.ok());

  StringOutput out;
  StreamedItem item(out);
  ASSERT_TRUE(item.open_list("MESSAGE"));
  for (size_t i = 0; i < refs.size(); i++) {
    ASSERT_TRUE(item.add_file(refs[i], bodies[i]));
    if (i == 0) {
      ASSERT_TRUE(item.add(Value::nil()));
    }
  }
  ASSERT_TRUE(item.close());
  EXPECT_EQ(out.str(), *expected);
  // The bytes must be the file's whole size.
  StreamedItem bad(out);
  ASSERT_TRUE(bad.open_list("MESSAGE"));
  EXPECT_FALSE(bad.add_file(refs[0], "short"));
  for (const auto& f : refs) std::remove(f.path.c_str());
}

TEST(StreamedItem, HeadMustBeAKvlist) {
  StringOutput out;
  StreamedItem item(out);
  EXPECT_FALSE(item.open(Value::list(), "RECORD"));
}

TEST(MemberSink, TakesMembersOfTheKeyedListOnly) {
  Value whole = mailbox_head();
  Value recs = Value::list();
  for (uint32_t i = 1; i <= 5; i++) recs.push(record(i));
  whole.add("RECORD", std::move(recs));
  whole.add("AFTER", Value::list());
  auto wire = item_to_wire(whole);
  ASSERT_TRUE(wire.ok());
  // A nested RECORD key (inside a member) and other lists are not streamed.
  std::string line = "APPLY " + *wire + "\r\n";

  Taker taker;
  Parser p;
  p.stream_members("RECORD", &taker);
  auto fed = p.feed(line);
  ASSERT_EQ(fed.event, Parser::Event::kLine);
  EXPECT_EQ(fed.consumed, line.size());
  auto values = p.take_line();
  ASSERT_EQ(values.size(), 3u);
  ASSERT_EQ(taker.taken.size(), 5u);
  // Parsed scalars are atoms: compare what they print.
  for (uint32_t i = 0; i < 5; i++) EXPECT_EQ(printed(taker.taken[i]), printed(record(i + 1)));
  for (size_t s : taker.line_sizes) EXPECT_EQ(s, 2u);  // APPLY MAILBOX
  for (size_t s : taker.head_sizes) EXPECT_EQ(s, 3u);  // UNIQUEID MBOXNAME ACL
  const Value* left = values[2].find("RECORD");
  ASSERT_NE(left, nullptr);
  EXPECT_TRUE(left->is_list());
  EXPECT_EQ(left->size(), 0u);
  EXPECT_NE(values[2].find("AFTER"), nullptr);
}

TEST(MemberSink, DeclinedMembersStayInTheLine) {
  Value whole = mailbox_head();
  Value recs = Value::list();
  for (uint32_t i = 1; i <= 3; i++) recs.push(record(i));
  whole.add("RECORD", recs);
  auto wire = item_to_wire(whole);
  ASSERT_TRUE(wire.ok());
  Taker taker;
  taker.take = false;
  Parser p;
  p.stream_members("RECORD", &taker);
  ASSERT_EQ(p.feed("APPLY " + *wire + "\r\n").event, Parser::Event::kLine);
  auto values = p.take_line();
  ASSERT_EQ(values.size(), 3u);
  EXPECT_EQ(printed(*values[2].find("RECORD")), printed(recs));
  EXPECT_EQ(taker.line_sizes.size(), 3u);
}

TEST(MemberSink, TakenMembersDoNotCountAgainstTheLineLimits) {
  Limits limits;
  limits.max_values = 100;
  limits.max_line_memory = 4096;
  std::string line = "APPLY MAILBOX %(UNIQUEID x RECORD (";
  for (uint32_t i = 1; i <= 1000; i++) {
    auto w = to_wire(record(i));
    ASSERT_TRUE(w.ok());
    line += (i > 1 ? " " : "") + *w;
  }
  line += "))\r\n";
  Taker taker;
  Parser p(nullptr, limits);
  p.stream_members("RECORD", &taker);
  ASSERT_EQ(p.feed(line).event, Parser::Event::kLine) << p.error().to_string();
  EXPECT_EQ(taker.taken.size(), 1000u);

  // Without the sink the same line is too big.
  Parser whole(nullptr, limits);
  EXPECT_EQ(whole.feed(line).event, Parser::Event::kBadLine);
}

TEST(MemberSink, ChunkedFeedingAndABadTailStillReportABadLine) {
  std::string line = "APPLY MAILBOX %(UNIQUEID x RECORD (%(UID 1) %(UID 2)) ) junk)\r\nNOOP\r\n";
  Taker taker;
  Parser p;
  p.stream_members("RECORD", &taker);
  size_t at = 0;
  Parser::Event ev = Parser::Event::kNeedMore;
  while (ev == Parser::Event::kNeedMore && at < line.size()) {
    auto fed = p.feed(std::string_view(line).substr(at, 3));
    at += fed.consumed;
    ev = fed.event;
  }
  EXPECT_EQ(ev, Parser::Event::kBadLine);
  EXPECT_EQ(taker.taken.size(), 2u);
  auto fed = p.feed(std::string_view(line).substr(at));
  EXPECT_EQ(fed.event, Parser::Event::kLine);
  auto next = p.take_line();
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0], Value::atom("NOOP"));
}

}  // namespace
}  // namespace replimail::dlist
