// IMAP BINARY (RFC 3516) as Cyrus 3.6 answers it: FETCH BINARY[part],
// BINARY.PEEK and BINARY.SIZE with the transfer encoding undone, and APPEND
// of a literal8, as transcripts of a Session.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "imap/session.h"
#include "session_fixture.h"

namespace replimail::imap {
namespace {

using test::SessionTest;
using ::testing::HasSubstr;
using ::testing::Not;

// Part 1: quoted-printable text; part 2: base64 of "ab\0cd\xff" (NUL
// inside); part 3: base64 of "hello world"; part 4: x-uuencode.
const std::string kMultipart =
    "From: a@example.org\r\n"
    "Subject: binary\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"b\"\r\n"
    "\r\n"
    "--b\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "caf=C3=A9 =3D ok=\r\n"
    "!\r\n"
    "--b\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "YWIAY2T/\r\n"
    "--b\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Transfer-Encoding: BASE64\r\n"
    "\r\n"
    "aGVsbG8gd29ybGQ=\r\n"
    "--b\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Transfer-Encoding: x-uuencode\r\n"
    "\r\n"
    "begin 644 x\r\n"
    "end\r\n"
    "--b--\r\n";

TEST_F(SessionTest, BinaryFetchDecodesTheTransferEncoding) {
  auto s = login("alice");
  EXPECT_THAT(run(*s, "a CAPABILITY\r\n"), HasSubstr(" BINARY"));
  run(*s, append_cmd("b", "INBOX", kMultipart));
  run(*s, "c SELECT INBOX\r\n");
  // Quoted-printable decoded; no NUL, so an ordinary literal.
  EXPECT_THAT(run(*s, "d FETCH 1 (BINARY.PEEK[1])\r\n"),
              HasSubstr("* 1 FETCH (BINARY[1] {11}\r\ncaf\xC3\xA9 = ok!)\r\nd OK"));
  // Base64 with a NUL inside: a literal8.
  EXPECT_THAT(run(*s, "e FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2])\r\n"),
              HasSubstr(std::string("* 1 FETCH (BINARY[2] ~{6}\r\nab\0cd\xff", 33) +
                        " BINARY.SIZE[2] 6)\r\ne OK"));
  EXPECT_THAT(run(*s, "f FETCH 1 (BINARY.PEEK[3]<6.100> BINARY.SIZE[3])\r\n"),
              HasSubstr("* 1 FETCH (BINARY[3]<6> {5}\r\nworld BINARY.SIZE[3] 11)\r\nf OK"));
  EXPECT_THAT(run(*s, "g FETCH 1 (BINARY.PEEK[3]<0.5>)\r\n"),
              HasSubstr("* 1 FETCH (BINARY[3]<0> {5}\r\nhello)\r\ng OK"));
  // A part that does not exist.
  EXPECT_THAT(run(*s, "h FETCH 1 (BINARY.PEEK[9] BINARY.SIZE[9])\r\n"),
              HasSubstr("* 1 FETCH (BINARY[9] NIL BINARY.SIZE[9] 0)\r\nh OK"));
  // Only part numbers, and a partial only with its length.
  EXPECT_THAT(run(*s, "i FETCH 1 (BINARY[HEADER])\r\n"), HasSubstr("i BAD Invalid binary section"));
  EXPECT_THAT(run(*s, "j FETCH 1 (BINARY[TEXT])\r\n"), HasSubstr("j BAD Invalid binary section"));
  EXPECT_THAT(run(*s, "k FETCH 1 (BINARY.PEEK[1.MIME])\r\n"),
              HasSubstr("k BAD Invalid binary section"));
  EXPECT_THAT(run(*s, "l FETCH 1 (BINARY.SIZE[1.MIME])\r\n"),
              HasSubstr("l BAD Invalid binary section"));
  EXPECT_THAT(run(*s, "m FETCH 1 (BINARY[2]<5>)\r\n"), HasSubstr("m BAD Invalid body partial"));
  // An encoding nobody decodes: RFC 3516's UNKNOWN-CTE.
  EXPECT_THAT(run(*s, "n FETCH 1 (BINARY.PEEK[4])\r\n"), HasSubstr("n NO [UNKNOWN-CTE]"));
  // None of the PEEKs set \Seen; BINARY does, as BODY does.
  EXPECT_THAT(run(*s, "o FETCH 1 (FLAGS)\r\n"), HasSubstr("* 1 FETCH (FLAGS (\\Recent))"));
  EXPECT_THAT(run(*s, "p FETCH 1 (BINARY.SIZE[1])\r\n"), Not(HasSubstr("\\Seen")));
  EXPECT_THAT(
      run(*s, "q FETCH 1 (BINARY[3])\r\n"),
      HasSubstr("* 1 FETCH (BINARY[3] {11}\r\nhello world FLAGS (\\Seen \\Recent))\r\nq OK"));
}

// A literal8 APPEND stores the bytes as sent, NUL included, and BINARY[]
// and BODY[] give them back.
TEST_F(SessionTest, BinaryAppendLiteral8StoresTheBytes) {
  auto s = login("alice");
  const std::string msg = std::string(
      "From: a@example.org\r\n"
      "Subject: nul\r\n"
      "Content-Type: application/octet-stream\r\n"
      "Content-Transfer-Encoding: binary\r\n"
      "\r\n"
      "x\0y\r\n",
      117);
  ASSERT_EQ(msg.back(), '\n');
  ASSERT_EQ(msg[msg.size() - 4], '\0');
  EXPECT_THAT(run(*s, "a APPEND INBOX ~{" + std::to_string(msg.size()) + "+}\r\n" + msg + "\r\n"),
              HasSubstr("a OK"));
  run(*s, "b SELECT INBOX\r\n");
  EXPECT_THAT(
      run(*s, "c FETCH 1 (RFC822.SIZE BINARY.SIZE[1])\r\n"),
      HasSubstr("* 1 FETCH (RFC822.SIZE " + std::to_string(msg.size()) + " BINARY.SIZE[1] 5)"));
  EXPECT_THAT(run(*s, "d FETCH 1 (BINARY.PEEK[])\r\n"),
              HasSubstr("* 1 FETCH (BINARY[] ~{" + std::to_string(msg.size()) + "}\r\n" + msg +
                        ")\r\nd OK"));
  EXPECT_THAT(run(*s, "e FETCH 1 (BINARY.PEEK[1])\r\n"),
              HasSubstr(std::string("* 1 FETCH (BINARY[1] ~{5}\r\nx\0y\r\n)", 33)));
}

}  // namespace
}  // namespace replimail::imap
