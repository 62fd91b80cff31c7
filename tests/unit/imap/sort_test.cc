#include "imap/sort.h"

#include <gtest/gtest.h>

#include "imap/parser.h"

namespace replimail::imap {
namespace {

std::string base(std::string_view s, int* refwd = nullptr) {
  int n = 0;
  std::string b = base_subject(s, &n);
  if (refwd) *refwd = n;
  return b;
}

TEST(BaseSubject, RemovesReplyAndForwardMarkers) {
  int n = 0;
  EXPECT_EQ(base("Re: hello", &n), "HELLO");
  EXPECT_EQ(n, 1);
  EXPECT_EQ(base("RE: re:hello", &n), "HELLO");
  EXPECT_EQ(n, 2);
  EXPECT_EQ(base("Fwd: hello", &n), "HELLO");
  EXPECT_EQ(base("FW: Fw: hello", &n), "HELLO");
  EXPECT_EQ(n, 2);
  EXPECT_EQ(base("Re[3]: hello", &n), "HELLO");
  EXPECT_EQ(n, 3);
  EXPECT_EQ(base("Re [x]: hello", &n), "HELLO");
  EXPECT_EQ(n, 1);
  EXPECT_EQ(base("hello", &n), "HELLO");
  EXPECT_EQ(n, 0);
}

TEST(BaseSubject, TrailersBlobsAndNetscapeForward) {
  int n = 0;
  EXPECT_EQ(base("hello (fwd)", &n), "HELLO");
  EXPECT_EQ(n, 1);
  EXPECT_EQ(base("hello (FWD)  (fwd) \t", &n), "HELLO");
  EXPECT_EQ(n, 2);
  EXPECT_EQ(base("[list] Re: hello", &n), "HELLO");
  EXPECT_EQ(n, 1);
  EXPECT_EQ(base("[a][b] hello"), "HELLO");
  // A blob that is all there is stays.
  EXPECT_EQ(base("[list]"), "[LIST]");
  EXPECT_EQ(base("Re: [list]"), "[LIST]");
  EXPECT_EQ(base("[fwd: hello]", &n), "HELLO");
  EXPECT_EQ(n, 1);
  EXPECT_EQ(base("Re: [Fwd: Re: hello]", &n), "HELLO");
  EXPECT_EQ(n, 3);
  // An unclosed or nested blob ends the leader.
  EXPECT_EQ(base("[open hello"), "[OPEN HELLO");
  EXPECT_EQ(base("[a [b] c"), "[A [B] C");
}

TEST(BaseSubject, WhatIsNotAMarker) {
  int n = 0;
  EXPECT_EQ(base("Reply hello", &n), "REPLY HELLO");
  EXPECT_EQ(n, 0);
  EXPECT_EQ(base("Fwdx: hello", &n), "FWDX: HELLO");
  EXPECT_EQ(base("   "), "");
  EXPECT_EQ(base(""), "");
  EXPECT_EQ(base("Re:"), "");
  // Inner blanks are kept; only ASCII is upper-cased.
  EXPECT_EQ(base("a  b"), "A  B");
  EXPECT_EQ(base("caf\xc3\xa9"), "CAF\xc3\xa9");
}

TEST(FindMsgid, FindsEachIdInTurn) {
  std::string refs = "<a@x> junk <b@y>\t<\"q u\"@z> <nodomain> <c@>";
  size_t pos = 0;
  EXPECT_EQ(find_msgid(refs, &pos), "<a@x>");
  EXPECT_EQ(find_msgid(refs, &pos), "<b@y>");
  EXPECT_EQ(find_msgid(refs, &pos), "<q u@z>");
  EXPECT_EQ(find_msgid(refs, &pos), std::nullopt);
  pos = 0;
  EXPECT_EQ(find_msgid("no ids here", &pos), std::nullopt);
  pos = 0;
  // A line end not followed by a blank ends the header.
  EXPECT_EQ(find_msgid("junk\r\nX: <a@b>", &pos), std::nullopt);
  pos = 0;
  EXPECT_EQ(find_msgid("junk\r\n <a@b>", &pos), "<a@b>");
}

TEST(Rfc5322Time, ParsesAsCyrusDoes) {
  EXPECT_EQ(rfc5322_time("Mon, 1 Jul 2024 10:52:37 +0200"), 1719831157 - 7200);
  EXPECT_EQ(rfc5322_time("1 Jul 2024 10:52:37 +0000"), 1719831157);
  EXPECT_EQ(rfc5322_time("1 Jul 2024 10:52 GMT"), 1719831120);
  EXPECT_EQ(rfc5322_time("1 Jul 2024 10:52:37 EST"), 1719831157 + 5 * 3600);
  EXPECT_EQ(rfc5322_time("1 Jul 2024 10:52:37 PDT"), 1719831157 + 7 * 3600);
  EXPECT_EQ(rfc5322_time("1 Jul 24 10:52:37 -0100"), 1719831157 + 3600);
  EXPECT_EQ(rfc5322_time("1-Jul-2024 10:52:37 +0000"), 1719831157);
  EXPECT_EQ(rfc5322_time("Mon 1 Jul 2024 10:52:37 +0000"), std::nullopt);  // no comma
  EXPECT_EQ(rfc5322_time("1 Jul 2024"), std::nullopt);                     // no time
  EXPECT_EQ(rfc5322_time("garbage"), std::nullopt);
  EXPECT_EQ(rfc5322_time("1 Foo 2024 10:00:00 +0000"), std::nullopt);
}

Value list_of(std::initializer_list<const char*> atoms) {
  Value v;
  v.kind = Value::Kind::kList;
  for (const char* a : atoms) v.items.push_back(Value{Value::Kind::kAtom, a, {}, false});
  return v;
}

TEST(SortCriteria, ParsesKeysAndReverse) {
  auto c = parse_sort_criteria(list_of({"reverse", "DATE", "Subject", "DISPLAYFROM"}));
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->size(), 4u);
  EXPECT_EQ((*c)[0].key, SortKey::kDate);
  EXPECT_TRUE((*c)[0].reverse);
  EXPECT_EQ((*c)[1].key, SortKey::kSubject);
  EXPECT_FALSE((*c)[1].reverse);
  EXPECT_EQ((*c)[3].key, SortKey::kSequence);
  EXPECT_FALSE(parse_sort_criteria(list_of({})).ok());
  EXPECT_FALSE(parse_sort_criteria(list_of({"NOSUCH"})).ok());
  EXPECT_FALSE(parse_sort_criteria(list_of({"DATE", "REVERSE"})).ok());
}

SortMessage msg(uint32_t seq, int64_t date, std::string subject, uint64_t size = 0) {
  SortMessage m;
  m.seq = seq;
  m.uid = seq * 10;
  m.internaldate = 1000 + seq;
  m.sentdate = date;
  m.subject = std::move(subject);
  m.size = size;
  return m;
}

std::vector<uint32_t> order(std::vector<SortMessage> v, std::vector<SortCriterion> c) {
  sort_messages(v, c);
  std::vector<uint32_t> out;
  for (const auto& m : v) out.push_back(m.seq);
  return out;
}

TEST(SortMessages, KeysTiesAndReverse) {
  std::vector<SortMessage> v = {msg(1, 500, "B", 30), msg(2, 0, "A", 10), msg(3, 500, "A", 30),
                                msg(4, 100, "", 20)};
  using K = SortKey;
  // DATE falls back to the arrival time (1002) when there is no Date.
  EXPECT_EQ(order(v, {{K::kDate}, {K::kSequence}}), (std::vector<uint32_t>{4, 1, 3, 2}));
  EXPECT_EQ(order(v, {{K::kSubject}, {K::kSequence}}), (std::vector<uint32_t>{4, 2, 3, 1}));
  EXPECT_EQ(order(v, {{K::kSize, true}, {K::kSequence}}), (std::vector<uint32_t>{1, 3, 4, 2}));
  EXPECT_EQ(order(v, {{K::kSubject, true}, {K::kDate, true}, {K::kSequence}}),
            (std::vector<uint32_t>{1, 2, 3, 4}));
  EXPECT_EQ(order(v, {{K::kArrival, true}, {K::kSequence}}), (std::vector<uint32_t>{4, 3, 2, 1}));
}

TEST(LoadSortHeaders, FromParsedMessage) {
  auto m = mime::Message::from_bytes(
      "From: =?UTF-8?Q?J=C3=BCrgen?= <Juergen@Example.ORG>\r\n"
      "To: <TO@b.example>\r\n"
      "Cc: friends: a@b.example;\r\n"
      "Subject: Re: =?UTF-8?B?Y2Fmw6k=?= [fwd: x]\r\n"
      "Date: Mon, 1 Jul 2024 10:52:37 +0200\r\n"
      "Message-ID: <id1@example.org>\r\n"
      "In-Reply-To: <ignored@x>\r\n"
      "References: <r1@x>\r\n <r2@x>\r\n"
      "\r\nbody\r\n");
  SortMessage s;
  load_sort_headers(m, &s);
  EXPECT_EQ(s.from, "juergen");
  EXPECT_EQ(s.to, "to");
  EXPECT_EQ(s.cc, "friends");
  EXPECT_EQ(s.displayfrom, "JU\xcc\x88RGEN");  // title case, decomposed
  EXPECT_EQ(s.displayto, "TO@B.EXAMPLE");
  // Cyrus reads its cached, decoded subject again as US-ASCII: non-ASCII
  // bytes become U+FFFD.
  EXPECT_EQ(s.subject, "CAF\xef\xbf\xbd\xef\xbf\xbd [FWD: X]");
  EXPECT_EQ(s.refwd, 1);
  EXPECT_EQ(s.sentdate, 1719831157 - 7200);
  EXPECT_EQ(s.message_id, "<id1@example.org>");
  EXPECT_EQ(s.references, (std::vector<std::string>{"<r1@x>", "<r2@x>"}));

  auto bare = mime::Message::from_bytes("In-Reply-To: <p@x>\r\n\r\n");
  load_sort_headers(bare, &s);
  EXPECT_EQ(s.from, "");
  EXPECT_EQ(s.subject, "");
  EXPECT_EQ(s.sentdate, 0);
  EXPECT_EQ(s.message_id, "");
  EXPECT_EQ(s.references, (std::vector<std::string>{"<p@x>"}));
}

}  // namespace
}  // namespace replimail::imap
