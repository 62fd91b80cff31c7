#include "imap/message_check.h"

#include <gtest/gtest.h>

#include <string>

namespace replimail::imap {
namespace {

// The verdict on `msg` fed whole and fed one byte at a time (they agree).
std::string check(std::string_view msg, bool binary = false) {
  MessageCheck whole(binary), bytewise(binary);
  whole.feed(msg);
  for (char c : msg) bytewise.feed(std::string_view(&c, 1));
  EXPECT_EQ(whole.result(), bytewise.result()) << msg;
  return whole.result();
}

TEST(MessageCheckTest, AcceptsOrdinaryMessages) {
  EXPECT_EQ(check("From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n"), "");
  EXPECT_EQ(check("Subject: folded\r\n\tcontinued\r\n\r\nbody without final newline"), "");
  EXPECT_EQ(check("Subject: only a header\r\n"), "");
  EXPECT_EQ(check("From someone Tue Jul  1 10:52:37 2003\r\nSubject: x\r\n\r\n"), "");
  EXPECT_EQ(check("X-Empty:\r\n\r\nbody: with: colons and \x80 bytes\r\n"), "");
}

TEST(MessageCheckTest, RefusesWhatCyrusRefuses) {
  const std::string bad_header = "Message contains invalid header";
  EXPECT_EQ(check("To: b\r\nSubject: no blank line"), bad_header);
  EXPECT_EQ(check("Subject has no colon\r\n\r\n"), bad_header);
  EXPECT_EQ(check(": empty name\r\n\r\n"), bad_header);
  EXPECT_EQ(check("Fromage: x\r\nNo colon\r\n\r\n"), bad_header);
  EXPECT_EQ(check("Subject: x\r\n\r\n\n"), "Message contains bare newlines");
  EXPECT_EQ(check("Subject: x\n\r\n"), "Message contains bare newlines");
  EXPECT_EQ(check(std::string("Subject: x\r\n\r\nnul \0 here\r\n", 26)),
            "Message contains NUL characters");
  EXPECT_EQ(check(std::string("Subj\0ect: x\r\n\r\n", 15)), "Message contains NUL characters");
}

TEST(MessageCheckTest, BinaryLiteralBodyMayHoldNulAndBareNewlines) {
  EXPECT_EQ(check(std::string("Subject: x\r\n\r\n\0\n\0", 17), true), "");
  EXPECT_EQ(check(std::string("Subj\0ect: x\r\n\r\n", 15), true),
            "Message contains NUL characters");
  EXPECT_EQ(check("Subject: x\n\r\n", true), "Message contains bare newlines");
}

}  // namespace
}  // namespace replimail::imap
