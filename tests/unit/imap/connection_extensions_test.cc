// COMPRESS, UNAUTHENTICATE, APPENDLIMIT and LOGINDISABLED as session
// transcripts; the texts are Cyrus 3.6's.
#include "session_fixture.h"

namespace replimail::imap::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST_F(SessionTest, CompressDeflateIsOfferedAfterLoginAndHandsOverTheRest) {
  auto pre = session();
  EXPECT_EQ(run(*pre, "a COMPRESS DEFLATE\r\n"), "a BAD Please login first\r\n");
  EXPECT_FALSE(pre->wants_compression());

  auto s = login("alice");
  EXPECT_THAT(run(*s, "c CAPABILITY\r\n"), HasSubstr(" COMPRESS=DEFLATE"));
  EXPECT_EQ(run(*s, "d COMPRESS\r\n"), "d BAD Missing required argument to Compress\r\n");
  EXPECT_EQ(run(*s, "e COMPRESS DEFLATE extra\r\n"),
            "e BAD Unexpected extra arguments to Compress\r\n");
  EXPECT_EQ(run(*s, "f COMPRESS FOO\r\n"), "f NO Unknown COMPRESS algorithm: FOO\r\n");
  // What follows the command in the same read was sent compressed: the
  // session keeps it for the transport instead of reading it as commands.
  EXPECT_EQ(run(*s, std::string("g COMPRESS deflate\r\n\x78\x01junk", 26)),
            "g OK DEFLATE active\r\n");
  EXPECT_TRUE(s->wants_compression());
  EXPECT_EQ(run(*s, "h NOOP\r\n"), "");
  EXPECT_EQ(s->compression_started(), std::string("\x78\x01junkh NOOP\r\n", 14));
  EXPECT_FALSE(s->wants_compression());
  EXPECT_EQ(run(*s, "i NOOP\r\n"), "i OK Completed\r\n");
  EXPECT_EQ(run(*s, "j COMPRESS DEFLATE\r\n"),
            "j BAD [COMPRESSIONACTIVE] DEFLATE active via COMPRESS\r\n");
}

// allowplaintext: no on a cleartext port, as Cyrus 3.6 answers with
// sasl_mech_list: PLAIN.
TEST_F(SessionTest, LoginDisabledWithoutALayer) {
  SessionOptions o;
  o.allow_plaintext = false;
  Session s(
      *instance_, [](bool) { return std::make_unique<FakeSasl>(); }, o);
  std::string greeting = s.take_output();
  EXPECT_THAT(greeting, HasSubstr("ENABLE IDLE"));
  EXPECT_THAT(greeting, HasSubstr(" LOGINDISABLED]"));
  EXPECT_THAT(greeting, Not(HasSubstr("AUTH=")));
  EXPECT_THAT(greeting, Not(HasSubstr("SASL-IR")));
  EXPECT_EQ(run(s, "a LOGIN alice alicepw\r\n"), "a NO Login only available under a layer\r\n");
  EXPECT_EQ(run(s, "b AUTHENTICATE PLAIN AGFsaWNlAGFsaWNlcHc=\r\n"),
            "b NO encryption needed to use mechanism\r\n");
  EXPECT_EQ(s.state(), Session::State::kNotAuthenticated);
  // Over a local socket (or TLS) the same configuration allows it.
  o.secure = true;
  Session local(
      *instance_, [](bool) { return std::make_unique<FakeSasl>(); }, o);
  EXPECT_THAT(local.take_output(), HasSubstr("AUTH=PLAIN SASL-IR]"));
  EXPECT_THAT(run(local, "a LOGIN alice alicepw\r\n"), HasSubstr("a OK"));
}

// RFC 7889: the limit advertised is the one APPEND enforces (maxmessagesize;
// the fixture's sessions have 1000), as Cyrus 3.6 answers it. Cyrus has no
// STATUS APPENDLIMIT: BAD there and here.
TEST_F(SessionTest, AppendLimitIsAdvertisedAndEnforced) {
  auto s = login("alice");
  EXPECT_THAT(run(*s, "a CAPABILITY\r\n"), HasSubstr(" APPENDLIMIT=1000"));
  EXPECT_EQ(run(*s, "b APPEND INBOX {1001}\r\n"),
            "b NO [TOOBIG] Message size exceeds fixed limit\r\n");
  std::string msg = "Subject: x\r\n\r\n" + std::string(1000 - 16, 'y') + "\r\n";
  ASSERT_EQ(msg.size(), 1000u);
  EXPECT_THAT(run(*s, append_cmd("c", "INBOX", msg)), HasSubstr("c OK [APPENDUID"));
  EXPECT_THAT(run(*s, "d STATUS INBOX (APPENDLIMIT)\r\n"), HasSubstr("d BAD "));
  auto pre = session();
  EXPECT_THAT(run(*pre, "e CAPABILITY\r\n"), Not(HasSubstr("APPENDLIMIT")));
}

// RFC 8437 (Cyrus 3.6 does not have it; later Cyrus releases do).
TEST_F(SessionTest, UnauthenticateReturnsToTheGreetingState) {
  auto pre = session();
  EXPECT_EQ(run(*pre, "a UNAUTHENTICATE\r\n"), "a BAD Please login first\r\n");
  auto s = login("alice");
  EXPECT_THAT(run(*s, "b CAPABILITY\r\n"), HasSubstr(" UNAUTHENTICATE"));
  EXPECT_THAT(run(*s, append_cmd("c", "INBOX", kMessage, "(\\Deleted)")), HasSubstr("c OK"));
  EXPECT_THAT(run(*s, "d ENABLE CONDSTORE\r\ne SELECT INBOX\r\n"), HasSubstr("e OK"));
  EXPECT_THAT(run(*s, "f UNAUTHENTICATE x\r\n"), HasSubstr("f BAD"));
  EXPECT_EQ(run(*s, "g UNAUTHENTICATE\r\n"), "g OK Completed\r\n");
  EXPECT_EQ(s->state(), Session::State::kNotAuthenticated);
  EXPECT_EQ(s->userid(), "");
  EXPECT_EQ(run(*s, "h SELECT INBOX\r\n"), "h BAD Please login first\r\n");
  EXPECT_THAT(run(*s, "i CAPABILITY\r\n"), HasSubstr("AUTH=PLAIN"));
  // Another user logs in on the same connection and sees their own INBOX;
  // alice's \Deleted message was not expunged.
  EXPECT_THAT(run(*s, "j LOGIN bob bobpw\r\n"), HasSubstr("j OK"));
  EXPECT_EQ(s->userid(), "bob");
  EXPECT_THAT(run(*s, "k SELECT INBOX\r\n"), HasSubstr("* 0 EXISTS"));
  EXPECT_THAT(run(*s, "l UNAUTHENTICATE\r\nm LOGIN alice alicepw\r\nn SELECT INBOX\r\n"),
              HasSubstr("* 1 EXISTS"));
}

}  // namespace
}  // namespace replimail::imap::test
