#include <gtest/gtest.h>

#include <random>

#include "mime/message.h"
#include "mime/structure.h"

namespace replimail::mime {
namespace {

constexpr std::string_view kMsg =
    "From: =?UTF-8?B?SsO8cmdlbg==?= <j@example.de>\r\n"
    "Subject: =?ISO-8859-1?Q?Gr=FC=DFe?= aus\r\n"
    " =?UTF-8?Q?K=C3=B6ln?=\r\n"
    "X-Plain: value\r\n"
    "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
    "--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    "Sch=F6ne Gr=FC=DFe\r\n"
    "--b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    "PHA+SGFsbG8gPGI+V2VsdDwvYj4gJmFtcDsgPHNjcmlwdD5oaWRkZW48L3NjcmlwdD48L3A+\r\n"
    "--b\r\nContent-Type: application/octet-stream\r\n\r\nneedle-in-binary\r\n"
    "--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: =?utf-8?q?Inner_=C3=A9?=\r\n\r\n"
    "inner text\r\n--b--\r\n";

TEST(MimeSearch, HeaderValuesAreDecodedToUtf8) {
  Message m = Message::from_bytes(std::string(kMsg));
  EXPECT_EQ(m.header_values("subject"), std::vector<std::string>{"Grüße aus Köln"});
  EXPECT_EQ(m.header_values("FROM"), std::vector<std::string>{"Jürgen <j@example.de>"});
  EXPECT_EQ(m.header_values("x-plain"), std::vector<std::string>{"value"});
  EXPECT_TRUE(m.header_values("missing").empty());
}

TEST(MimeSearch, HeaderMatching) {
  Message m = Message::from_bytes(std::string(kMsg));
  EXPECT_TRUE(m.header_matches("Subject", "GRÜSSE"));
  EXPECT_TRUE(m.header_matches("Subject", "grüße"));
  EXPECT_TRUE(m.header_matches("subject", "KÖLN"));
  EXPECT_TRUE(m.header_matches("X-Plain", ""));
  EXPECT_FALSE(m.header_matches("X-Missing", ""));
  EXPECT_FALSE(m.header_matches("Subject", "berlin"));
}

// The address text SEARCH FROM/TO/CC/BCC read, as Cyrus 3.6's cache
// writes it (message_write_searchaddr).
TEST(MimeSearch, SearchAddressesAsCyrusWritesThem) {
  Message m = Message::from_bytes(
      "From: <User-From (comment)@ (comment) Domain.ORG>\r\n"
      "To: Bob (the builder) <bob\r\n @example.com>\r\n"
      "Cc: \"Carol Q. Public\" <carol@example.net>, undisclosed:;, (only comment) "
      "dave@(x)example.org\r\n"
      "Bcc: =?UTF-8?Q?J=C3=BCrgen?= <jurgen@example.de>, =?UTF-8?Q?Gr=C3=BCppe?=: a@b.c;\r\n"
      "Reply-To: x@y.z\r\n"
      "\r\nbody\r\n");
  EXPECT_EQ(m.search_addresses("From"), "<user-from@domain.org>");
  EXPECT_EQ(m.search_addresses("to"), "Bob <bob@example.com>");
  EXPECT_EQ(m.search_addresses("CC"),
            "\"Carol Q. Public\" <carol@example.net>,undisclosed:;,<dave@example.org>");
  EXPECT_EQ(m.search_addresses("bcc"), "\"J\u00fcrgen\" <jurgen@example.de>,Gr\u00fcppe:<a@b.c>;");
  EXPECT_EQ(m.search_addresses("Reply-To"), std::nullopt);
  EXPECT_TRUE(m.header_matches("FROM", "user-from@domain.org"));
  EXPECT_FALSE(m.header_matches("From", "comment"));
  EXPECT_TRUE(m.header_matches("Reply-To", "x@y"));
  Message none = Message::from_bytes("Subject: s\r\n\r\nbody\r\n");
  EXPECT_EQ(none.search_addresses("From"), "");
  EXPECT_FALSE(none.header_matches("From", ""));
}

TEST(MimeSearch, BodyTextDecodesTransferEncodingCharsetAndHtml) {
  Message m = Message::from_bytes(std::string(kMsg));
  std::string text = m.body_text();
  EXPECT_NE(text.find("Schöne Grüße"), std::string::npos) << text;
  EXPECT_NE(text.find("Hallo"), std::string::npos) << text;
  EXPECT_NE(text.find("Welt"), std::string::npos) << text;
  EXPECT_NE(text.find("&"), std::string::npos) << text;
  EXPECT_EQ(text.find("<b>"), std::string::npos) << text;
  EXPECT_EQ(text.find("hidden"), std::string::npos) << text;
  EXPECT_EQ(text.find("needle-in-binary"), std::string::npos) << text;
  EXPECT_NE(text.find("Inner é"), std::string::npos) << text;
  EXPECT_NE(text.find("inner text"), std::string::npos) << text;
  EXPECT_TRUE(m.body_matches("SCHÖNE"));
  EXPECT_TRUE(m.body_matches("welt"));
  EXPECT_FALSE(m.body_matches("x-plain"));
  EXPECT_TRUE(m.text_matches("x-plain"));
  EXPECT_TRUE(m.text_matches("hallo"));
  EXPECT_FALSE(m.text_matches("absent words"));
}

// body_matches() folds a part at a time and stops at the first part that
// holds the needle; its answers must be those of folding the whole body
// text at once (needles without a line break: parts are joined by one).
TEST(MimeSearch, BodyMatchingByPartEqualsFoldingTheWholeBody) {
  const std::string msg = std::string(kMsg.substr(0, kMsg.size() - 7)) +
                          "--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
                          "Content-Transfer-Encoding: 8bit\r\n\r\n"
                          "bad \xc3 utf-8 \xff\xfe and \xef\xac\x81ne KELVIN \xe2\x84\xaa "
                          "Cafe\xcc\x81 Itinerary\r\n"
                          "--b--\r\n";
  Message m = Message::from_bytes(msg);
  const std::string whole = search_fold(m.body_text());
  std::mt19937 rng(7);
  int found = 0;
  for (int i = 0; i < 3000; ++i) {
    size_t at = rng() % whole.size();
    std::string needle = whole.substr(at, 1 + rng() % 12);
    if (needle.find('\n') != std::string::npos) continue;
    if (rng() % 4 == 0) needle[0] = static_cast<char>('a' + rng() % 26);
    bool expected = whole.find(search_fold(needle)) != std::string::npos;
    found += expected;
    ASSERT_EQ(m.body_matches(needle), expected) << "needle '" << needle << "'";
  }
  EXPECT_GT(found, 1000);
  // Each kind of segment, in a fresh message each time (nothing folded yet).
  for (const char* needle : {"schöne", "HALLO", "inner é", "INNER TEXT", "fine", "kelvin k",
                             "itinerary", "caf", "café", "gr", "sch",
                             "utf-8 \xef\xbf\xbd"}) {
    EXPECT_TRUE(Message::from_bytes(msg).body_matches(needle)) << needle;
  }
  // An ASCII needle whose last letter a combining mark composes with is
  // not in the folded text ("cafe" + U+0301 folds to "café").
  for (const char* needle : {"needle-in-binary", "x-plain", "hidden", "cafe"}) {
    EXPECT_FALSE(Message::from_bytes(msg).body_matches(needle)) << needle;
  }
}

TEST(MimeSearch, DecodedHeaderTextOfABlockEqualsTheMessages) {
  Message m = Message::from_bytes(std::string(kMsg));
  const Part& r = m.root();
  EXPECT_EQ(decoded_header_text(m.bytes().substr(r.header_offset, r.header_size)),
            m.header_text());
  EXPECT_NE(m.header_text().find("Grüße aus Köln"), std::string::npos);
}

// SEARCH SUBJECT reads the cached header block in place (an ASCII value
// without an encoded word is compared where it lies): each case is one the
// shortcut could get wrong, against what header_values() decodes.
TEST(MimeSearch, HeaderFieldOfABlockMatchesItsDecodedValues) {
  const std::string block =
      "Subject: =?UTF-8?Q?quarterly_r=C3=A9sum=C3=A9?=\r\n"
      "X-Folded: the quar\r\n terly numbers\r\n"
      "X-Foldedx: quarterly\r\n"
      "A:B: quarterly\r\n"
      "X-Joined: budget for the\r\n\tquarterly\r\n"
      "X-Bare-CR: quar\rterly\r\n"
      "X-Nul: quarter" + std::string(1, '\0') + "ly\r\n"
      "X-Split: =?UTF-8?Q?quar?= =?UTF-8?Q?terly?=\r\n"
      "x-twice: first\r\n"
      "X-TWICE:   Second Quarterly\r\n"
      "X-Latin: =?ISO-8859-1?Q?Stra=DFe?=\r\n"
      "X-Empty:\r\n"
      "not a field\r\n"
      "\r\n";
  EXPECT_TRUE(header_field_contains(block, "subject", "QUARTERLY"));
  EXPECT_TRUE(header_field_contains(block, "Subject", "RÉSUMÉ"));
  EXPECT_TRUE(header_field_contains(block, "subject", "y r"));  // the encoded-word's _ is a space
  EXPECT_FALSE(header_field_contains(block, "x-folded", "quarterly"));
  EXPECT_TRUE(header_field_contains(block, "x-folded", "quar terly"));
  EXPECT_TRUE(header_field_contains(block, "X-Joined", "the\tquarterly"));
  EXPECT_TRUE(header_field_contains(block, "x-bare-cr", "quarterly"));
  EXPECT_FALSE(header_field_contains(block, "x-nul", "quarterly"));
  EXPECT_TRUE(header_field_contains(block, "x-split", "quarterly"));
  EXPECT_TRUE(header_field_contains(block, "x-twice", "second quarterly"));
  EXPECT_TRUE(header_field_contains(block, "x-twice", "first"));
  EXPECT_FALSE(header_field_contains(block, "x-twice", " second"));
  EXPECT_TRUE(header_field_contains(block, "x-latin", "STRASSE"));
  EXPECT_TRUE(header_field_contains(block, "x-empty", ""));
  EXPECT_FALSE(header_field_contains(block, "x-missing", ""));
  EXPECT_FALSE(header_field_contains(block, "not a field", "field"));
  EXPECT_FALSE(header_field_contains(block, "a:b", "quarterly"));  // the name is "A"
  EXPECT_TRUE(header_field_contains(block, "a", "b: quarterly"));
  // The same answers as decoding each value and folding it.
  for (std::string_view name : {"subject", "x-folded", "x-joined", "x-bare-cr", "x-nul",
                                "x-split", "x-twice", "x-latin", "x-empty", "a", "a:b"}) {
    for (std::string_view needle : {"quarterly", "QUAR", "y r", "second", "strasse", ""}) {
      bool want = false;
      for (const std::string& v : header_values(block, name)) want |= contains_folded(v, needle);
      EXPECT_EQ(header_field_contains(block, name, needle), want) << name << " / " << needle;
    }
  }
}

// Random header blocks from pieces the shortcuts treat apart (folds, bare
// CR and LF, encoded words, colons, NUL, bytes above 0x7F): the header keys
// answer as decoding every value (header_values) and the whole block
// (decoded_header_text) and folding it.
TEST(MimeSearch, HeaderMatchingOfRandomBlocksEqualsDecodingThem) {
  std::mt19937 rng(17);
  const std::vector<std::string> pieces = {
      "Subject: ", "X-A:", "x-a: ", "subject:", "\r\n", "\r\n ", "\n\t", "\r", "\n", " ",
      "\t",        ":",    "quar",  "terly",    "Quarterly", "QUARTERLY", "=?UTF-8?Q?quar?=",
      "=?UTF-8?B?dGVybHk=?=", "=?", "?=", "caf\xc3\xa9", "\xe9", std::string(1, '\0'),
      "stra\xc3\x9f" "e", "Strasse", "\xe2\x84\xaa", "k", "ay"};
  const std::vector<std::string> needles = {"quarterly", "QUAR", "terly", "y q", "r:",
                                            "strasse", "caf\xc3\xa9", "k", "\xe2\x84\xaa",
                                            "a", "", " ", "ly\tq"};
  for (int i = 0; i < 4000; ++i) {
    std::string block;
    int n = 1 + static_cast<int>(rng() % 14);
    for (int k = 0; k < n; ++k) block += pieces[rng() % pieces.size()];
    block += "\r\n\r\n";
    for (const std::string& needle : needles) {
      for (std::string_view name : {"subject", "x-a"}) {
        bool want = false;
        for (const std::string& v : header_values(block, name)) want |= contains_folded(v, needle);
        ASSERT_EQ(header_field_contains(block, name, needle), want)
            << testing::PrintToString(block) << " " << name << " / " << needle;
        // The form the store keeps for Subject answers the same.
        ASSERT_EQ(search_form_contains(field_search_form(block, name), needle), want)
            << testing::PrintToString(block) << " " << name << " / " << needle;
      }
      ASSERT_EQ(header_text_contains(block, needle),
                contains_folded(decoded_header_text(block), needle))
          << testing::PrintToString(block) << " / " << needle;
    }
  }
}

TEST(MimeSearch, FieldSearchFormHoldsEachValueFolded) {
  const std::string block =
      "Subject: Quarterly\r\n Report\r\nX-A: b\r\nsubject: =?UTF-8?Q?Caf=C3=A9?= STRASSE\r\n\r\n";
  const std::string form = field_search_form(block, "Subject");
  EXPECT_EQ(form, std::string("quarterly report") + '\0' + "caf\xc3\xa9 strasse" + '\0');
  EXPECT_TRUE(search_form_contains(form, "CAF\xc3\x89"));
  EXPECT_TRUE(search_form_contains(form, "Stra\xc3\x9f" "e"));
  EXPECT_TRUE(search_form_contains(form, ""));
  // Never across two values.
  EXPECT_FALSE(search_form_contains(form, "reportcaf"));
  EXPECT_FALSE(search_form_contains(form, "b"));
  // No Subject field: not even the empty string matches; an empty one does.
  EXPECT_EQ(field_search_form("X-A: b\r\n\r\n", "Subject"), "");
  EXPECT_FALSE(search_form_contains("", ""));
  EXPECT_TRUE(search_form_contains(field_search_form("Subject:\r\n\r\n", "Subject"), ""));
}

TEST(MimeSearch, FoldingIsUnicodeAware) {
  EXPECT_TRUE(contains_folded("STRASSE", "strasse"));
  EXPECT_TRUE(contains_folded("Straße", "STRASSE"));
  EXPECT_TRUE(contains_folded("ÀÉÎ", "àéî"));
  EXPECT_TRUE(contains_folded("anything", ""));
  EXPECT_FALSE(contains_folded("abc", "abd"));
  // Invalid UTF-8 is tolerated.
  EXPECT_TRUE(
      contains_folded("ab\xff"
                      "cd",
                      "CD"));
}

// Malformed and random input never crashes and keeps offsets in range.
void check_offsets(const Part& p, size_t size, int depth = 0) {
  ASSERT_LE(p.header_offset + p.header_size, size);
  ASSERT_LE(p.content_offset + p.content_size, size);
  ASSERT_LT(depth, kMaxNesting + 2);
  for (const Part& c : p.children) check_offsets(c, size, depth + 1);
}

TEST(MimeRobustness, RandomBytesParse) {
  std::mt19937 rng(12345);
  const std::string alphabet =
      "--\r\n:; =\"\\()<>@,boundary=b multipart/mixed message/rfc822 Ax\x80";
  for (int i = 0; i < 2000; ++i) {
    std::string msg;
    size_t len = rng() % 400;
    for (size_t j = 0; j < len; ++j) msg += alphabet[rng() % alphabet.size()];
    Message m = Message::from_bytes(msg);
    check_offsets(m.root(), msg.size());
    (void)m.bodystructure();
    (void)m.envelope();
    (void)m.body_text();
    for (const char* spec : {"1", "1.MIME", "2.HEADER", "TEXT", "HEADER.FIELDS (A)", "1.1.1"}) {
      (void)m.section(*parse_section(spec));
    }
  }
}

TEST(MimeRobustness, DeepNestingIsBounded) {
  std::string msg;
  for (int i = 0; i < 5000; ++i) msg += "Content-Type: message/rfc822\r\n\r\n";
  msg += "body\r\n";
  Message m = Message::from_bytes(msg);
  check_offsets(m.root(), msg.size());
  EXPECT_FALSE(m.bodystructure().empty());

  std::string multi;
  for (int i = 0; i < 5000; ++i) {
    multi += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\r\n\r\n--b" +
             std::to_string(i) + "\r\n";
  }
  Message n = Message::from_bytes(multi);
  check_offsets(n.root(), multi.size());
  EXPECT_FALSE(n.bodystructure().empty());
}

TEST(MimeRobustness, NulBytesAndBareLineFeeds) {
  std::string msg("Subject: a\0b\nFrom: x\0@y\n\nbody\0more\n", 36);
  Message m = Message::from_bytes(msg);
  check_offsets(m.root(), msg.size());
  EXPECT_FALSE(m.envelope().empty());
  (void)m.body_text();
}

}  // namespace
}  // namespace replimail::mime
