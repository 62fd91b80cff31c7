#include "mime/fields.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "mime/imap_format.h"

namespace replimail::mime {
namespace {

TEST(MimeFields, UnstructuredSkipsLeadingBlanksAndUnfolds) {
  EXPECT_EQ(parse_unstructured("   hello  "), "hello  ");
  EXPECT_EQ(parse_unstructured(" a\r\n b\r\n\tc"), "a b\tc");
  EXPECT_EQ(parse_unstructured("\r\n <id@x>"), " <id@x>");
  EXPECT_EQ(parse_unstructured(""), "");
}

TEST(MimeFields, ContentType) {
  ContentType ct = parse_content_type(" text/html; charset=\"UTF-8\"; format = flowed");
  EXPECT_EQ(ct.type, "TEXT");
  EXPECT_EQ(ct.subtype, "HTML");
  ASSERT_EQ(ct.params.size(), 2u);
  EXPECT_EQ(ct.params[0], (std::pair<std::string, std::string>{"CHARSET", "UTF-8"}));
  EXPECT_EQ(ct.params[1], (std::pair<std::string, std::string>{"FORMAT", "flowed"}));
  EXPECT_EQ(parse_content_type(" (comment) multipart / mixed ;boundary=x").subtype, "MIXED");
}

TEST(MimeFields, MalformedContentTypesAreIgnored) {
  EXPECT_EQ(parse_content_type(" text").type, "");
  EXPECT_EQ(parse_content_type(" text/").type, "");
  EXPECT_EQ(parse_content_type(" te<xt/plain").type, "");
  EXPECT_EQ(parse_content_type(" text/plain garbage").type, "");
  EXPECT_EQ(parse_content_type("").type, "");
  EXPECT_EQ(parse_content_type(" (unterminated comment").type, "");
}

TEST(MimeFields, BadParametersAreSkippedNotFatal) {
  ContentType ct = parse_content_type(" text/plain; bad; a=1; b=\"x\\\"y\"; c=@; d=2");
  ASSERT_EQ(ct.params.size(), 3u);
  EXPECT_EQ(ct.params[0].first, "A");
  EXPECT_EQ(ct.params[1].second, "x\"y");
  EXPECT_EQ(ct.params[2].first, "D");
}

TEST(MimeFields, Rfc2231ContinuationsFold) {
  ContentType ct =
      parse_content_type(" application/x; name*1=\"b c\"; name*0=\"a \"; other*=utf-8''%41");
  ASSERT_EQ(ct.params.size(), 2u);
  EXPECT_EQ(ct.params[0], (std::pair<std::string, std::string>{"NAME", "a b c"}));
  EXPECT_EQ(ct.params[1].first, "OTHER*");
  // Mixing simple and extended sections re-encodes the simple ones.
  ContentType mixed = parse_content_type(" a/b; t*0=\"x y\"; t*1*=%41");
  ASSERT_EQ(mixed.params.size(), 1u);
  EXPECT_EQ(mixed.params[0], (std::pair<std::string, std::string>{"T*", "''x%20y%41"}));
}

TEST(MimeFields, DispositionEncodingLanguage) {
  Disposition d = parse_disposition(" attachment; filename=a.txt");
  EXPECT_EQ(d.value, "ATTACHMENT");
  ASSERT_EQ(d.params.size(), 1u);
  EXPECT_FALSE(parse_disposition(" at/tach").value);
  EXPECT_EQ(parse_encoding(" Base64 "), "BASE64");
  EXPECT_FALSE(parse_encoding(" base64 junk"));
  EXPECT_EQ(parse_language(" en-US, de"), (std::vector<std::string>{"EN-US", "DE"}));
  EXPECT_EQ(parse_language(" en, d3"), (std::vector<std::string>{"EN"}));
}

std::string addresses(std::string_view value) {
  Part p;
  p.envelope.to = parse_address_list(value);
  std::string env = format_envelope(p);
  // (NIL NIL NIL NIL NIL <to> NIL NIL NIL NIL)
  return env.substr(21, env.size() - 21 - 17);
}

TEST(MimeFields, AddressLists) {
  EXPECT_EQ(addresses(" \"Doe, J\" <j@x.org>"), "((\"Doe, J\" NIL \"j\" \"x.org\"))");
  EXPECT_EQ(addresses(" a@b (Real Name)"), "((\"Real Name\" NIL \"a\" \"b\"))");
  EXPECT_EQ(addresses(" local"), "((NIL NIL \"local\" \"unspecified-domain\"))");
  EXPECT_EQ(addresses(" <@r1,@r2:u@d>"), "((NIL \"@r1,@r2\" \"u\" \"d\"))");
  EXPECT_EQ(addresses(" g: a@b;"), "((NIL NIL \"g\" NIL)(NIL NIL \"a\" \"b\")(NIL NIL NIL NIL))");
  EXPECT_EQ(addresses(" g: a@b"), "((NIL NIL \"g\" NIL)(NIL NIL \"a\" \"b\")(NIL NIL NIL NIL))");
  EXPECT_EQ(addresses(""), "NIL");
  EXPECT_EQ(addresses(" \"unbalanced <a@b>"), "NIL");
  EXPECT_EQ(addresses(" A\r\n B <a@b.c.>"), "((\"A B\" NIL \"a\" \"b.c\"))");
}

TEST(MimeFormat, StringsQuotedOrLiteral) {
  std::string out;
  append_nstring(out, "plain text");
  EXPECT_EQ(out, "\"plain text\"");
  for (std::string_view s : {"a\"b", "50%", "back\\slash", "caf\xc3\xa9", "two\r\nlines"}) {
    out.clear();
    append_nstring(out, s);
    EXPECT_EQ(out, fmt::format("{{{}}}\r\n{}", s.size(), s));
  }
  out.clear();
  append_nstring(out, std::string(1024, 'a'));
  EXPECT_EQ(out.substr(0, 8), "{1024}\r\n");
  out.clear();
  append_nil_or_string(out, std::nullopt);
  EXPECT_EQ(out, "NIL");
}

}  // namespace
}  // namespace replimail::mime
