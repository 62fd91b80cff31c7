#include "imap/parser.h"

#include <gtest/gtest.h>

namespace replimail::imap {
namespace {

Command parse_ok(std::string_view bytes) {
  std::string tag;
  auto r = parse_command(bytes, &tag);
  EXPECT_TRUE(r.ok()) << bytes << ": " << r.status().message();
  return r.ok() ? r.value() : Command{};
}

void expect_bad(std::string_view bytes) {
  std::string t;
  EXPECT_FALSE(parse_command(bytes, &t).ok()) << bytes;
}

Status parse_err(std::string_view bytes, std::string* tag = nullptr) {
  std::string t;
  auto r = parse_command(bytes, &t);
  EXPECT_FALSE(r.ok()) << bytes;
  if (tag) *tag = t;
  return r.status();
}

TEST(ParserTest, TagCommandAndAtoms) {
  Command c = parse_ok("a1 login alice \"pass word\"");
  EXPECT_EQ(c.tag, "a1");
  EXPECT_EQ(c.name, "LOGIN");
  ASSERT_EQ(c.args.size(), 2u);
  EXPECT_TRUE(c.args[0].is_atom());
  EXPECT_EQ(c.args[0].text, "alice");
  EXPECT_TRUE(c.args[1].is_string());
  EXPECT_EQ(c.args[1].text, "pass word");
}

TEST(ParserTest, UidPrefix) {
  Command c = parse_ok("7 uid fetch 1:* (FLAGS)");
  EXPECT_TRUE(c.uid);
  EXPECT_EQ(c.name, "FETCH");
  EXPECT_EQ(c.args.size(), 2u);
  expect_bad("7 UID");
}

TEST(ParserTest, QuotedEscapes) {
  Command c = parse_ok(R"(a select "a\"b\\c")");
  EXPECT_EQ(c.args[0].text, "a\"b\\c");
  expect_bad(R"(a select "a\xb")");
  expect_bad("a select \"open");
}

TEST(ParserTest, Literals) {
  Command c = parse_ok("a append INBOX (\\Seen) {5}\r\nhello");
  ASSERT_EQ(c.args.size(), 3u);
  EXPECT_TRUE(c.args[2].literal);
  EXPECT_EQ(c.args[2].text, "hello");
  c = parse_ok("a login {5+}\r\nalice {3}\r\npwd");
  EXPECT_EQ(c.args[0].text, "alice");
  EXPECT_EQ(c.args[1].text, "pwd");
  c = parse_ok("a append INBOX ~{2}\r\nhi");
  EXPECT_EQ(c.args[1].text, "hi");
  expect_bad("a append INBOX {10}\r\nshort");
}

TEST(ParserTest, TrailingLiteral) {
  auto h = trailing_literal("a APPEND INBOX {123}");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->size, 123u);
  EXPECT_TRUE(h->synchronising);
  h = trailing_literal("a APPEND INBOX {7+}");
  ASSERT_TRUE(h);
  EXPECT_FALSE(h->synchronising);
  h = trailing_literal("a APPEND INBOX ~{7}");
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->binary);
  EXPECT_FALSE(trailing_literal("a LOGIN x {}"));
  EXPECT_FALSE(trailing_literal("a LOGIN x {1a}"));
  EXPECT_FALSE(trailing_literal("a NOOP"));
  EXPECT_FALSE(trailing_literal("a X {99999999999999999999999}"));
}

TEST(ParserTest, AppendMessageLiterals) {
  EXPECT_TRUE(announces_append_message("a APPEND INBOX {123}"));
  EXPECT_TRUE(
      announces_append_message("a append INBOX (\\Seen) \"1-Feb-2024 10:00:00 +0000\" {5+}"));
  EXPECT_TRUE(announces_append_message("a APPEND INBOX ~{7}"));
  // MULTIAPPEND: a later message, after the stand-in of the first.
  EXPECT_TRUE(announces_append_message("a APPEND INBOX {0}\r\n (\\Flagged) {9}"));
  // The mailbox name itself as a literal, then a message after it.
  EXPECT_FALSE(announces_append_message("a APPEND {5}"));
  EXPECT_TRUE(announces_append_message("a APPEND {5}\r\nINBOX {9}"));
  EXPECT_FALSE(announces_append_message("a LOGIN alice {5}"));
  EXPECT_FALSE(announces_append_message("a UID APPEND INBOX {5}"));
  EXPECT_FALSE(announces_append_message("a APPEND INBOX (\\Seen {5}"));
  EXPECT_FALSE(announces_append_message("a APPEND INBOX"));
}

TEST(ParserTest, NestedLists) {
  Command c = parse_ok("a x (a (b c) ((d)))");
  ASSERT_EQ(c.args.size(), 1u);
  ASSERT_EQ(c.args[0].items.size(), 3u);
  EXPECT_EQ(c.args[0].items[1].items[1].text, "c");
  EXPECT_EQ(c.args[0].items[2].items[0].items[0].text, "d");
}

TEST(ParserTest, UnbalancedAndDeepNestingAreErrors) {
  std::string tag;
  EXPECT_EQ(parse_err("t1 fetch 1 (FLAGS", &tag).code(), Code::kProtocolError);
  EXPECT_EQ(tag, "t1");
  expect_bad("t2 fetch 1 FLAGS)");
  std::string deep = "t3 search " + std::string(100, '(') + "ALL" + std::string(100, ')');
  EXPECT_NE(parse_err(deep).message().find("nested"), std::string::npos);
}

TEST(ParserTest, BadTags) {
  std::string tag = "x";
  (void)parse_err("", &tag);
  EXPECT_TRUE(tag.empty());
  expect_bad("+ NOOP");
  expect_bad("a*b NOOP");
  expect_bad("tagonly");
}

TEST(ParserTest, SectionAtomKeepsBracketContents) {
  Command c = parse_ok("a fetch 1 (BODY.PEEK[HEADER.FIELDS (From To)]<0.100> UID)");
  ASSERT_EQ(c.args[1].items.size(), 2u);
  EXPECT_EQ(c.args[1].items[0].text, "BODY.PEEK[HEADER.FIELDS (From To)]<0.100>");
}

TEST(SequenceSetTest, ParseAndContains) {
  auto s = parse_sequence_set("1:3,7,10:*");
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->contains(2, 20));
  EXPECT_FALSE(s->contains(5, 20));
  EXPECT_TRUE(s->contains(15, 20));
  EXPECT_TRUE(s->contains(7, 20));
  auto rev = parse_sequence_set("5:2");
  ASSERT_TRUE(rev.ok());
  EXPECT_TRUE(rev->contains(3, 9));
  auto star = parse_sequence_set("*");
  ASSERT_TRUE(star.ok());
  EXPECT_TRUE(star->contains(9, 9));
  EXPECT_FALSE(star->contains(8, 9));
  EXPECT_TRUE(parse_sequence_set("$")->saved);
  for (const char* bad : {"", "0", "1,", "a", "1::2", "01", "1:2:3", "4294967296"}) {
    EXPECT_FALSE(parse_sequence_set(bad).ok()) << bad;
  }
}

TEST(SequenceSetTest, Format) {
  EXPECT_EQ(format_sequence({1, 2, 3, 5, 7, 8}), "1:3,5,7:8");
  EXPECT_EQ(format_sequence({}), "");
}

TEST(DateTest, ParseAndFormat) {
  EXPECT_EQ(parse_date("1-Feb-1994"), 760060800);
  EXPECT_EQ(parse_date("01-feb-1994"), 760060800);
  EXPECT_FALSE(parse_date("1-Foo-1994"));
  EXPECT_FALSE(parse_date("1-Feb-994"));
  auto t = parse_date_time("17-Jul-1996 02:44:25 -0700");
  ASSERT_TRUE(t);
  EXPECT_EQ(format_date_time(*t), "17-Jul-1996 09:44:25 +0000");
  EXPECT_TRUE(parse_date_time(" 7-Jul-1996 02:44:25 +0000"));
  // date-day-fixed: one-digit days are space-padded, and parse back.
  auto early = parse_date_time(" 1-Feb-2024 10:00:00 +0000");
  ASSERT_TRUE(early);
  EXPECT_EQ(format_date_time(*early), " 1-Feb-2024 10:00:00 +0000");
  EXPECT_FALSE(parse_date_time("17-Jul-1996 02:44 -0700"));
}

std::vector<Value> args_of(std::string_view cmd) { return parse_ok(cmd).args; }

TEST(FetchTest, ItemsAndMacros) {
  auto f = parse_fetch(args_of("a FETCH 1:* ALL"));
  ASSERT_TRUE(f.ok());
  ASSERT_EQ(f->items.size(), 4u);
  EXPECT_EQ(f->items[3].kind, FetchItem::Kind::kEnvelope);
  f = parse_fetch(
      args_of("a FETCH 1 (UID BODY.PEEK[1.2.HEADER.FIELDS (from \"to\")]<5.10> BODY[])"));
  ASSERT_TRUE(f.ok()) << f.status().message();
  ASSERT_EQ(f->items.size(), 3u);
  const FetchItem& s = f->items[1];
  EXPECT_TRUE(s.peek);
  EXPECT_EQ(s.part, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(s.specifier, "HEADER.FIELDS");
  EXPECT_EQ(s.fields, (std::vector<std::string>{"FROM", "TO"}));
  EXPECT_EQ(*s.partial_start, 5u);
  EXPECT_EQ(s.partial_length, 10u);
  EXPECT_EQ(s.response_name, "BODY[1.2.HEADER.FIELDS (from to)]<5>");
  EXPECT_EQ(f->items[2].response_name, "BODY[]");
  f = parse_fetch(args_of("a FETCH 1 BODY[3.MIME]"));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->items[0].response_name, "BODY[3.MIME]");
}

TEST(FetchTest, Modifiers) {
  auto f = parse_fetch(args_of("a FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)"));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(*f->changedsince, 12345u);
  EXPECT_TRUE(f->vanished);
  EXPECT_FALSE(parse_fetch(args_of("a FETCH 1 (FLAGS) (VANISHED)")).ok());
}

TEST(FetchTest, Errors) {
  for (const char* bad :
       {"a FETCH 1 (FOO)", "a FETCH x FLAGS", "a FETCH 1 BODY[MIME]", "a FETCH 1 BODY[0]",
        "a FETCH 1 BODY[HEADER.FIELDS ()]", "a FETCH 1 BODY[]<x>", "a FETCH 1 BODY[]<1.0>",
        "a FETCH 1 BODY[TEXT", "a FETCH 1", "a FETCH 1 ()", "a FETCH 1 BODY[FOO]"}) {
    std::string tag;
    auto c = parse_command(bad, &tag);
    if (c.ok()) {
      EXPECT_FALSE(parse_fetch(c->args).ok()) << bad;
    }
  }
}

TEST(StoreTest, Forms) {
  auto s = parse_store(args_of("a STORE 1:2 +FLAGS.SILENT (\\Seen $Junk)"));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->op, StoreRequest::Op::kAdd);
  EXPECT_TRUE(s->silent);
  EXPECT_EQ(s->flags, (std::vector<std::string>{"\\Seen", "$Junk"}));
  s = parse_store(args_of("a STORE 1 (UNCHANGEDSINCE 9) -FLAGS \\Deleted"));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s->unchangedsince, 9u);
  EXPECT_EQ(s->op, StoreRequest::Op::kRemove);
  s = parse_store(args_of("a STORE 1 FLAGS ()"));
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->flags.empty());
  EXPECT_FALSE(parse_store(args_of("a STORE 1 FLAGS \\Bogus")).ok());
  EXPECT_FALSE(parse_store(args_of("a STORE 1 LABELS x")).ok());
  EXPECT_FALSE(parse_store(args_of("a STORE 1 (FOO 1) FLAGS x")).ok());
}

TEST(SearchTest, Keys) {
  auto s = parse_search(
      args_of("a SEARCH CHARSET UTF-8 OR FROM alice (SUBJECT \"hi there\" UNSEEN) NOT 2:4 SINCE "
              "1-Feb-1994 LARGER 100 HEADER X-Foo bar UID 1:* MODSEQ 5 NEW KEYWORD $Junk TEXT x"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->charset, "UTF-8");
  EXPECT_TRUE(s->uses_modseq);
  const auto& k = s->key.children;
  ASSERT_EQ(k.size(), 10u);
  EXPECT_EQ(k[0].op, SearchKey::Op::kOr);
  EXPECT_EQ(k[0].children[0].field, "FROM");
  EXPECT_EQ(k[0].children[1].children[1].op, SearchKey::Op::kNot);
  EXPECT_EQ(k[1].op, SearchKey::Op::kNot);
  EXPECT_EQ(k[1].children[0].op, SearchKey::Op::kSequence);
  EXPECT_EQ(k[2].number, 760060800);
  EXPECT_EQ(k[4].field, "X-FOO");
  EXPECT_EQ(k[5].op, SearchKey::Op::kUid);
  EXPECT_EQ(k[6].number, 5);
  EXPECT_EQ(k[7].op, SearchKey::Op::kAnd);
  EXPECT_EQ(k[8].op, SearchKey::Op::kFlag);
  EXPECT_EQ(k[8].text, "$Junk");
  EXPECT_EQ(k[9].op, SearchKey::Op::kText);
}

TEST(SearchTest, ReturnOptions) {
  auto s = parse_search(args_of("a SEARCH RETURN (MIN COUNT) ALL"));
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->esearch);
  EXPECT_EQ(s->return_options, (std::vector<std::string>{"MIN", "COUNT"}));
}

TEST(SearchTest, Errors) {
  for (const char* bad : {"a SEARCH", "a SEARCH FOO", "a SEARCH FROM", "a SEARCH SINCE 1-x-2000",
                          "a SEARCH OR ALL", "a SEARCH ()", "a SEARCH LARGER x",
                          "a SEARCH NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT "
                          "NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT "
                          "NOT NOT ALL"}) {
    EXPECT_FALSE(parse_search(args_of(bad)).ok()) << bad;
  }
}

TEST(ParserTest, WordAndQuotedLimits) {
  ParseLimits l;
  l.max_word = 5;
  l.max_quoted = 4;
  EXPECT_TRUE(parse_command("a LOGIN alice \"pass\"", nullptr, l).ok());
  auto r = parse_command("a LOGIN alices x", nullptr, l);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "[TOOBIG] Word too long");
  r = parse_command("a LOGIN x \"passw\"", nullptr, l);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "[TOOBIG] Quoted value too long");
  // Literals have limits of their own (maxliteral, in the reader).
  EXPECT_TRUE(parse_command("a LOGIN {6}\r\nalices x", nullptr, l).ok());
}

}  // namespace
}  // namespace replimail::imap

namespace replimail::imap {
namespace {

// Random commands built from IMAP's special characters and keywords: every
// parser must return (a value or an error) without crashing.
TEST(ParserRobustnessTest, RandomInputNeverCrashes) {
  const std::vector<std::string> pieces = {"(",          ")",
                                           "[",          "]",
                                           "{",          "}",
                                           "{3}\r\n",    "{2+}\r\n",
                                           "~{1}\r\n",   "\"",
                                           "\\",         " ",
                                           "*",          "%",
                                           "$",          ":",
                                           ",",          "<",
                                           ">",          ".",
                                           "0",          "1",
                                           "4294967295", "BODY",
                                           "PEEK",       "HEADER.FIELDS",
                                           "OR",         "NOT",
                                           "UID",        "FLAGS",
                                           "MODSEQ",     "CHANGEDSINCE",
                                           "\r\n",       "\xff",
                                           "a",          "SINCE",
                                           "1-Jan-2000"};
  uint32_t seed = 12345;
  auto next = [&] {
    seed = seed * 1103515245 + 12345;
    return (seed >> 16) & 0x7fff;
  };
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string cmd = "t ";
    cmd += (std::vector<std::string>{"FETCH 1 ", "STORE 1 ", "SEARCH ", "LIST ", "X "})[next() % 5];
    int n = static_cast<int>(next() % 30);
    for (int j = 0; j < n; ++j) cmd += pieces[next() % pieces.size()];
    std::string tag;
    auto c = parse_command(cmd, &tag);
    EXPECT_EQ(tag, "t");
    if (!c.ok()) continue;
    ++parsed;
    (void)parse_fetch(c->args);
    (void)parse_store(c->args);
    (void)parse_search(c->args);
    for (const auto& v : c->args) (void)parse_sequence_set(v.text);
  }
  EXPECT_GT(parsed, 1000);
}

}  // namespace
}  // namespace replimail::imap
