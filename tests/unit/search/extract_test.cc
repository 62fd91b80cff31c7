#include "search/extract.h"

#include <gtest/gtest.h>

#include <string>

#include "mime/message.h"

namespace replimail::search {
namespace {

bool has(const std::vector<std::string>& values, std::string_view needle) {
  for (const auto& v : values) {
    if (v.find(needle) != std::string::npos) return true;
  }
  return false;
}

TEST(Extract, HeaderFieldsFoldedAndDecoded) {
  auto msg = mime::Message::from_bytes(
      "From: =?iso-8859-1?q?J=F6rg?= <JOERG@Example.COM>\r\n"
      "To: a@b.c, d@e.f\r\n"
      "Cc: cc@x.y\r\n"
      "Bcc: hidden@x.y\r\n"
      "Subject: =?utf-8?b?R3LDvMOfZQ==?= Meeting\r\n"
      "Message-ID: <ABC.123@host>\r\n"
      "\r\n"
      "body\r\n");
  Extracted e = extract(msg);
  EXPECT_TRUE(has(e.of(Field::kFrom), "jörg <joerg@example.com>"));
  EXPECT_TRUE(has(e.of(Field::kTo), "d@e.f"));
  EXPECT_TRUE(has(e.of(Field::kCc), "cc@x.y"));
  EXPECT_TRUE(has(e.of(Field::kBcc), "hidden@x.y"));
  EXPECT_TRUE(has(e.of(Field::kSubject), "grüsse meeting"));  // casefold: ß -> ss
  EXPECT_TRUE(has(e.of(Field::kMessageId), "<abc.123@host>"));
  EXPECT_TRUE(has(e.of(Field::kHeaders), "subject: grüsse meeting"));
  EXPECT_TRUE(e.words.find("Grüße Meeting") != std::string::npos);
}

TEST(Extract, BodyDecodedPerPart) {
  auto msg = mime::Message::from_bytes(
      "Content-Type: multipart/mixed; boundary=XX\r\n"
      "\r\n"
      "--XX\r\n"
      "Content-Type: text/plain; charset=iso-8859-1\r\n"
      "Content-Transfer-Encoding: quoted-printable\r\n"
      "\r\n"
      "Caf=E9 cr=E8me\r\n"
      "--XX\r\n"
      "Content-Type: text/html; charset=utf-8\r\n"
      "Content-Transfer-Encoding: base64\r\n"
      "\r\n"
      "PHA+PGI+Qm9sZDwvYj4gJmFtcDsgdGV4dDwvcD4=\r\n"
      "--XX\r\n"
      "Content-Type: text/plain; charset=koi8-r\r\n"
      "\r\n"
      "\xf0\xd2\xc9\xd7\xc5\xd4\r\n"
      "--XX\r\n"
      "Content-Type: application/pdf; name=\"=?utf-8?q?R=C3=A9sum=C3=A9.pdf?=\"\r\n"
      "Content-Disposition: attachment\r\n"
      "Content-Transfer-Encoding: base64\r\n"
      "\r\n"
      "JVBERi0=\r\n"
      "--XX--\r\n");
  Extracted e = extract(msg);
  ASSERT_EQ(e.of(Field::kBody).size(), 1u);
  const std::string& body = e.of(Field::kBody)[0];
  EXPECT_NE(body.find("café crème"), std::string::npos);  // QP + latin-1
  EXPECT_NE(body.find("bold"), std::string::npos);        // base64 HTML, tags gone
  EXPECT_NE(body.find("& text"), std::string::npos);      // entity decoded
  EXPECT_EQ(body.find("<b>"), std::string::npos);
  EXPECT_NE(body.find("привет"), std::string::npos);  // koi8-r
  EXPECT_EQ(attachment_names(msg), std::vector<std::string>{"Résumé.pdf"});
  EXPECT_TRUE(has(e.of(Field::kAttachmentName), "résumé.pdf"));
}

TEST(Extract, FieldsOfTheSameHeaderName) {
  EXPECT_EQ(header_field("FROM"), Field::kFrom);
  EXPECT_EQ(header_field("message-id"), Field::kMessageId);
  EXPECT_EQ(header_field("X-Spam"), std::nullopt);
}

}  // namespace
}  // namespace replimail::search
