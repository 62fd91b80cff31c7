#include "dlist/framing.h"

#include <gtest/gtest.h>

#include "dlist/parser.h"

namespace replimail::dlist {
namespace {

TEST(Framing, ServerLines) {
  EXPECT_EQ(ok_line(), "OK success\r\n");
  EXPECT_EQ(ok_line("Restarting"), "OK Restarting\r\n");
  EXPECT_EQ(no_line(Code::kMailboxNonexistent), "NO IMAP_MAILBOX_NONEXISTENT No Such Mailbox\r\n");
  EXPECT_EQ(no_line(Code::kInvalidUser), "NO IMAP_INVALID_USER No Such User\r\n");
  EXPECT_EQ(no_line(Code::kSyncChecksum), "NO IMAP_SYNC_CHECKSUM Checksum Failure\r\n");
  EXPECT_EQ(no_line(Code::kProtocolBadParameters), "NO IMAP_PROTOCOL_BAD_PARAMETERS\r\n");
  EXPECT_EQ(no_line(Code::kIoError), "NO Unknown error\r\n");
  EXPECT_EQ(no_line(std::string_view("Unknown error")), "NO Unknown error\r\n");
  EXPECT_EQ(bad_line("Unrecognized command"), "BAD Unrecognized command\r\n");
  EXPECT_EQ(bye_line("Fatal error"), "BYE Fatal error\r\n");
}

TEST(Framing, Untagged) {
  Value missing = Value::list();
  missing.set_key("MISSING");
  missing.push(Value::guid("da98e55f3ec16aafa94a7504d83105309f089342"));
  EXPECT_EQ(*untagged_line(missing), "* MISSING (da98e55f3ec16aafa94a7504d83105309f089342)\r\n");
}

TEST(Framing, ParseStatus) {
  auto ok = parse_status("OK success\r\n");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->kind, Response::Kind::kOk);
  EXPECT_TRUE(to_status(*ok));

  auto no = parse_status("NO IMAP_MAILBOX_LOCKED Mailbox locked");
  ASSERT_TRUE(no);
  EXPECT_EQ(no->code, Code::kMailboxLocked);
  EXPECT_EQ(to_status(*no).code(), Code::kMailboxLocked);

  // Cyrus recognises a code only when a space follows it.
  auto bare = parse_status("NO IMAP_PROTOCOL_BAD_PARAMETERS\r\n");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->code, Code::kOk);
  EXPECT_EQ(to_status(*bare).code(), Code::kPermissionDenied);
  EXPECT_EQ(parse_status("NO IMAP_SYNC_CHANGEDX y")->code, Code::kOk);
  EXPECT_EQ(parse_status("NO Unknown error")->code, Code::kOk);

  EXPECT_EQ(to_status(*parse_status("BAD Replication parse failure")).code(), Code::kProtocolError);
  auto bye = parse_status("BYE");
  ASSERT_TRUE(bye);
  EXPECT_EQ(bye->kind, Response::Kind::kBye);
  EXPECT_EQ(bye->text, "");
  EXPECT_EQ(to_status(*bye).code(), Code::kIoError);
  EXPECT_FALSE(parse_status("* OK hi"));
  EXPECT_FALSE(parse_status("OKAY"));
  EXPECT_FALSE(parse_status(""));
}

TEST(Framing, ResponseFromParsedLine) {
  Parser p(nullptr, {}, true);
  ASSERT_EQ(p.feed("NO IMAP_SYNC_CHECKSUM Checksum Failure\r\n").event, Parser::Event::kLine);
  auto r = response_from(p.take_line());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, Code::kSyncChecksum);
  EXPECT_EQ(r->text, "IMAP_SYNC_CHECKSUM Checksum Failure");
  ASSERT_EQ(p.feed("* MAILBOX %()\r\n").event, Parser::Event::kLine);
  EXPECT_FALSE(response_from(p.take_line()));
}

}  // namespace
}  // namespace replimail::dlist
