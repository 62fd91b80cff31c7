#include "lmtp/parser.h"

#include <gtest/gtest.h>

#include <random>

namespace replimail::lmtp {
namespace {

TEST(ParseCommand, VerbsAreCaseInsensitive) {
  Command c = parse_command("mail FROM:<a@b>");
  EXPECT_EQ(c.verb, Verb::kMail);
  EXPECT_EQ(c.args, "FROM:<a@b>");
  EXPECT_EQ(parse_command("LhLo host").verb, Verb::kLhlo);
  EXPECT_EQ(parse_command("QUIT").verb, Verb::kQuit);
  EXPECT_EQ(parse_command("QUIT").args, "");
  EXPECT_EQ(parse_command("starttls").verb, Verb::kStarttls);
}

TEST(ParseCommand, UnknownVerbs) {
  EXPECT_EQ(parse_command("").verb, Verb::kUnknown);
  EXPECT_EQ(parse_command("MAILFROM:<a>").verb, Verb::kUnknown);
  EXPECT_EQ(parse_command("XYZZY").verb, Verb::kUnknown);
  EXPECT_EQ(parse_command(" QUIT").verb, Verb::kUnknown);
}

TEST(ParseAddress, PlainDetailAndDomain) {
  auto a = parse_address("alice+lists@example.com");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->local, "alice+lists");
  EXPECT_EQ(a->user, "alice");
  ASSERT_TRUE(a->detail.has_value());
  EXPECT_EQ(*a->detail, "lists");
  EXPECT_EQ(a->domain, "example.com");

  auto b = parse_address("bob");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->user, "bob");
  EXPECT_FALSE(b->detail.has_value());
  EXPECT_EQ(b->domain, "");

  auto c = parse_address("carol+@x");
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c->detail.has_value());
  EXPECT_EQ(*c->detail, "");

  auto d = parse_address("dave@[127.0.0.1]");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->domain, "[127.0.0.1]");
}

TEST(ParseAddress, QuotedLocalPart) {
  auto a = parse_address("\"john \\\"jd\\\" doe\"@example.com");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->local, "john \"jd\" doe");
  EXPECT_EQ(a->domain, "example.com");
}

TEST(ParseAddress, Rejects) {
  for (const char* bad : {"", "@x", "a..b@x", ".a@x", "a.@x", "a b@x", "a@", "a@b..c", "a@-x..",
                          "\"unterminated@x", "a@x@y", "a<b@x", "\"\"@x", "a@[1.2", "a@x y"}) {
    auto r = parse_address(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Code::kProtocolBadParameters);
    }
  }
}

TEST(ParseMailFrom, PathAndParams) {
  auto m = parse_mail_from("FROM:<sender@example.com> SIZE=1234 BODY=8bitmime");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(m->reverse_path, "sender@example.com");
  ASSERT_TRUE(m->size.has_value());
  EXPECT_EQ(*m->size, 1234u);
  EXPECT_EQ(m->body, "8BITMIME");
  EXPECT_FALSE(m->auth.has_value());
}

TEST(ParseMailFrom, NullSenderSourceRouteAndSpace) {
  auto m = parse_mail_from("from:<>");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->reverse_path, "");
  auto r = parse_mail_from("FROM:<@relay.example,@b.example:user@c.example>");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->reverse_path, "user@c.example");
  auto s = parse_mail_from("FROM: <a@b>");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->reverse_path, "a@b");
}

TEST(ParseMailFrom, AuthXtext) {
  auto m = parse_mail_from("FROM:<a@b> AUTH=joe+2Bx@example.com");
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(m->auth.has_value());
  EXPECT_EQ(*m->auth, "joe+x@example.com");
  auto n = parse_mail_from("FROM:<a@b> AUTH=<>");
  ASSERT_TRUE(n.ok());
  EXPECT_FALSE(n->auth.has_value());
  EXPECT_FALSE(parse_mail_from("FROM:<a@b> AUTH=bad+Z").ok());
  EXPECT_FALSE(parse_mail_from("FROM:<a@b> AUTH=bad+2").ok());
}

TEST(ParseMailFrom, HugeSizeSaturates) {
  auto m = parse_mail_from("FROM:<a@b> SIZE=99999999999999999999999999");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(*m->size, UINT64_MAX);
}

TEST(ParseMailFrom, Errors) {
  EXPECT_EQ(parse_mail_from("FROM:<a@b> SIZE=").status().message(), "SIZE requires a value");
  EXPECT_EQ(parse_mail_from("FROM:<a@b> SIZE=12x").status().code(), Code::kProtocolBadParameters);
  EXPECT_EQ(parse_mail_from("FROM:<a@b> BODY=BINARYMIME").status().message(),
            "Unrecognized BODY type");
  EXPECT_EQ(parse_mail_from("FROM:<a@b> FOO=1").status().message(), "Unrecognized parameters");
  for (const char* bad : {"", "FROM:", "FROM:a@b", "FROM:<a@b", "TO:<a@b>", "FROM:<a@b>x",
                          "FROM:<a b@c>", "FROM:<@relay>", "FROM:<a@b> =1"}) {
    EXPECT_FALSE(parse_mail_from(bad).ok()) << bad;
  }
}

TEST(ParseRcptTo, AddressAndIgnoreQuota) {
  auto r = parse_rcpt_to("TO:<Alice+Work@Example.COM> IGNOREQUOTA");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->path, "Alice+Work@Example.COM");
  EXPECT_EQ(r->address.user, "Alice");
  EXPECT_EQ(*r->address.detail, "Work");
  EXPECT_TRUE(r->ignorequota);
  auto p = parse_rcpt_to("to:<postmaster>");
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->ignorequota);
  EXPECT_EQ(p->address.user, "postmaster");
}

TEST(ParseRcptTo, Errors) {
  for (const char* bad : {"TO:<>", "TO:", "FROM:<a@b>", "TO:<a@b> NOTIFY=NEVER", "TO:<a@b",
                          "TO:<a@b> IGNOREQUOTA=1"}) {
    EXPECT_FALSE(parse_rcpt_to(bad).ok()) << bad;
  }
}

TEST(ParseAuth, MechanismAndInitialResponse) {
  auto a = parse_auth("plain AGFsaWNlAHNlY3JldA==");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->mechanism, "PLAIN");
  EXPECT_EQ(*a->initial_response, "AGFsaWNlAHNlY3JldA==");
  auto b = parse_auth("DIGEST-MD5");
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->initial_response.has_value());
  EXPECT_FALSE(parse_auth("").ok());
  EXPECT_FALSE(parse_auth("PL@IN").ok());
  EXPECT_FALSE(parse_auth("PLAIN a b").ok());
  EXPECT_FALSE(parse_auth("PLAIN ").ok());
}

TEST(ParseLhlo, Domain) {
  EXPECT_EQ(*parse_lhlo("mx.example.com"), "mx.example.com");
  EXPECT_EQ(*parse_lhlo("[127.0.0.1]  "), "[127.0.0.1]");
  EXPECT_FALSE(parse_lhlo("").ok());
  EXPECT_FALSE(parse_lhlo("a b").ok());
  EXPECT_FALSE(parse_lhlo("a\tb").ok());
}

std::string decode_all(std::string_view in, size_t* consumed, bool* done) {
  DotDecoder d;
  std::string out;
  *consumed = d.feed(in, &out);
  *done = d.done();
  return out;
}

TEST(DotDecoder, UnstuffsAndStopsAtTerminator) {
  size_t n;
  bool done;
  std::string in = "Subject: x\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n";
  EXPECT_EQ(decode_all(in, &n, &done), "Subject: x\r\n\r\n.leading dot\r\n");
  EXPECT_TRUE(done);
  EXPECT_EQ(in.substr(n), "QUIT\r\n");
}

TEST(DotDecoder, EmptyMessage) {
  size_t n;
  bool done;
  EXPECT_EQ(decode_all(".\r\n", &n, &done), "");
  EXPECT_TRUE(done);
  EXPECT_EQ(n, 3u);
}

TEST(DotDecoder, BareLfIsNormalised) {
  size_t n;
  bool done;
  std::string in = "a\nb\r\n..c\n.\nNOOP\n";
  EXPECT_EQ(decode_all(in, &n, &done), "a\r\nb\r\n.c\r\n");
  EXPECT_TRUE(done);
  EXPECT_EQ(in.substr(n), "NOOP\n");
}

TEST(DotDecoder, LoneCrDroppedAndDotInsideLineKept) {
  size_t n;
  bool done;
  EXPECT_EQ(decode_all("a\rb. .\r\n.x\r\n.\r\n", &n, &done), "ab. .\r\nx\r\n");
  EXPECT_TRUE(done);
}

TEST(DotDecoder, NotDoneWithoutTerminator) {
  size_t n;
  bool done;
  EXPECT_EQ(decode_all("abc\r\n.", &n, &done), "abc\r\n");
  EXPECT_FALSE(done);
  EXPECT_EQ(n, 6u);
}

TEST(DotDecoder, ByteAtATimeMatchesWhole) {
  std::string in = "H: v\r\n\r\nline\r\n..dot\r\n.\r\n\r\n.. \r\nend\n.\r\n";
  std::string whole;
  DotDecoder a;
  size_t n = a.feed(in, &whole);
  ASSERT_TRUE(a.done());
  DotDecoder b;
  std::string piecewise;
  size_t m = 0;
  while (!b.done() && m < in.size()) m += b.feed(std::string_view(in).substr(m, 1), &piecewise);
  EXPECT_EQ(piecewise, whole);
  EXPECT_EQ(m, n);
  EXPECT_EQ(whole, "H: v\r\n\r\nline\r\n.dot\r\n");
  b.reset();
  std::string second;
  b.feed(std::string_view(in).substr(n), &second);
  EXPECT_TRUE(b.done());
  EXPECT_EQ(second, "\r\n. \r\nend\r\n");
}

TEST(DotDecoder, RandomInputNeverGrowsBeyondTwiceInput) {
  std::mt19937 rng(42);
  const char alphabet[] = {'.', '\r', '\n', 'a', ' '};
  for (int i = 0; i < 2000; ++i) {
    std::string in(rng() % 64, 'a');
    for (char& c : in) c = alphabet[rng() % sizeof(alphabet)];
    DotDecoder d;
    std::string out;
    size_t n = d.feed(in, &out);
    EXPECT_LE(n, in.size());
    EXPECT_LE(out.size(), 2 * in.size());
    if (!d.done()) {
      EXPECT_EQ(n, in.size());
    }
  }
}

std::string strip(std::string_view in, size_t chunk) {
  HeaderStripper s("Return-Path");
  std::string out;
  for (size_t i = 0; i < in.size(); i += chunk) s.feed(in.substr(i, chunk), &out);
  return out;
}

TEST(HeaderStripper, RemovesFieldWithContinuationsOnlyInHeader) {
  std::string in =
      "Return-Path: <old@x>\r\nSubject: hi\r\nreturn-path: <a>\r\n\t<folded>\r\nX-Y: z\r\n"
      "\r\nReturn-Path: <in body>\r\n";
  std::string want = "Subject: hi\r\nX-Y: z\r\n\r\nReturn-Path: <in body>\r\n";
  for (size_t chunk : {1u, 3u, 7u, 1000u}) EXPECT_EQ(strip(in, chunk), want) << chunk;
}

TEST(HeaderStripper, KeepsLookalikesAndShortLines) {
  std::string in = "Return-Paths: a\r\nR\r\nReturn-Path\r\nX: y\r\n\r\nbody";
  for (size_t chunk : {1u, 2u, 1000u}) EXPECT_EQ(strip(in, chunk), in) << chunk;
}

}  // namespace
}  // namespace replimail::lmtp

namespace replimail::lmtp {
namespace {

// Random bytes, biased towards the characters the grammar cares about:
// every parser must return (a value or an error), never crash or hang.
TEST(ParserRobustness, RandomInputs) {
  std::mt19937 rng(2033);
  static constexpr std::string_view kInteresting = "<>@+\"\\:=. \r\n\t,[]FROMTOSIZEBODY8BITMIME";
  for (int i = 0; i < 20000; ++i) {
    std::string s(rng() % 48, '\0');
    for (char& c : s) {
      c = rng() % 3 == 0 ? static_cast<char>(rng()) : kInteresting[rng() % kInteresting.size()];
    }
    (void)parse_command(s);
    (void)parse_address(s);
    (void)parse_mail_from(s);
    (void)parse_mail_from("FROM:" + s);
    (void)parse_rcpt_to("TO:" + s);
    (void)parse_auth(s);
    (void)parse_lhlo(s);
    HeaderStripper h("Return-Path");
    std::string out;
    h.feed(s, &out);
    EXPECT_LE(out.size(), s.size());
  }
}

}  // namespace
}  // namespace replimail::lmtp
