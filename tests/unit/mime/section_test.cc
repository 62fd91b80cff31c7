#include <fmt/format.h>
#include <gtest/gtest.h>

#include "mime/message.h"

namespace replimail::mime {
namespace {

TEST(MimeSection, ParsesEveryForm) {
  auto all = parse_section("");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->path.empty());
  EXPECT_EQ(all->kind, Section::Kind::kAll);

  auto nested = parse_section("1.2.3");
  ASSERT_TRUE(nested.ok());
  EXPECT_EQ(nested->path, (std::vector<uint32_t>{1, 2, 3}));

  auto mime = parse_section("2.mime");
  ASSERT_TRUE(mime.ok());
  EXPECT_EQ(mime->kind, Section::Kind::kMime);

  auto fields = parse_section("1.HEADER.FIELDS (From \"X-Odd\"  subject)");
  ASSERT_TRUE(fields.ok());
  EXPECT_EQ(fields->kind, Section::Kind::kHeaderFields);
  EXPECT_EQ(fields->path, std::vector<uint32_t>{1});
  EXPECT_EQ(fields->fields, (std::vector<std::string>{"FROM", "X-ODD", "SUBJECT"}));

  auto not_fields = parse_section("header.fields.not (to)");
  ASSERT_TRUE(not_fields.ok());
  EXPECT_EQ(not_fields->kind, Section::Kind::kHeaderFieldsNot);
  EXPECT_EQ(parse_section("TEXT")->kind, Section::Kind::kText);
  EXPECT_EQ(parse_section("HEADER")->kind, Section::Kind::kHeader);
}

TEST(MimeSection, RejectsBadSyntax) {
  for (std::string_view bad :
       {"0", "1.", "1..2", "MIME", "1.BOGUS", "HEADER.FIELDS", "HEADER.FIELDS ()",
        "HEADER.FIELDS (a", "HEADER.FIELDS (a:b)", "99999999999", "1x", "HEADER.FIELDS (\"a)"}) {
    auto s = parse_section(bad);
    EXPECT_FALSE(s.ok()) << bad;
    if (!s.ok()) {
      EXPECT_EQ(s.status().code(), Code::kProtocolBadParameters) << bad;
    }
  }
}

constexpr std::string_view kMsg =
    "From: a@b\r\nSubject: s\r\nX-Long: one\r\n two\r\nContent-Type: multipart/mixed; "
    "boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nfirst\r\n--B\r\n"
    "Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n--B--\r\n";

std::string fetch(const Message& m, std::string_view spec) {
  auto s = parse_section(spec);
  EXPECT_TRUE(s.ok()) << spec;
  auto got = m.section(*s);
  return got.ok() ? std::string(got->data()) : fmt::format("<{}>", code_name(got.status().code()));
}

TEST(MimeSection, FetchesParts) {
  Message m = Message::from_bytes(std::string(kMsg));
  EXPECT_EQ(fetch(m, ""), kMsg);
  EXPECT_EQ(fetch(m, "1"), "first");
  EXPECT_EQ(fetch(m, "1.MIME"), "Content-Type: text/plain\r\n\r\n");
  EXPECT_EQ(fetch(m, "2.HEADER"), "Subject: inner\r\n\r\n");
  EXPECT_EQ(fetch(m, "2.TEXT"), "inner body");
  EXPECT_EQ(fetch(m, "2.1"), "inner body");
  EXPECT_EQ(fetch(m, "HEADER.FIELDS (x-long SUBJECT)"),
            "Subject: s\r\nX-Long: one\r\n two\r\n\r\n");
  EXPECT_EQ(fetch(m, "HEADER.FIELDS.NOT (x-long subject content-type)"), "From: a@b\r\n\r\n");
  EXPECT_EQ(fetch(m, "3"), "<IMAP_NOTFOUND>");
  EXPECT_EQ(fetch(m, "1.HEADER"), "<IMAP_NOTFOUND>");
  EXPECT_EQ(fetch(m, "1.1"), "<IMAP_NOTFOUND>");
}

TEST(MimeSection, AssembledSectionsOutliveTheirCopies) {
  Message m = Message::from_bytes(std::string(kMsg));
  auto s = parse_section("HEADER.FIELDS (FROM)");
  ASSERT_TRUE(s.ok());
  SectionBytes copy = *m.section(*s);
  { SectionBytes moved = copy; }
  EXPECT_EQ(copy.data(), "From: a@b\r\n\r\n");
}

}  // namespace
}  // namespace replimail::mime
