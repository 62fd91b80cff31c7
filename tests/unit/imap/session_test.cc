#include "imap/session.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/base64.h"
#include "imap/format.h"
#include "session_fixture.h"

namespace replimail::imap {
namespace {

using test::FakeSasl;
using test::kMessage;
using test::SessionTest;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

TEST_F(SessionTest, GreetingCapabilityAndLogin) {
  Session s(
      *instance_, [](bool) { return std::make_unique<FakeSasl>(); }, SessionOptions{});
  std::string greeting = s.take_output();
  EXPECT_THAT(greeting, HasSubstr("* OK [CAPABILITY IMAP4rev1"));
  EXPECT_THAT(greeting, HasSubstr("AUTH=PLAIN"));
  EXPECT_THAT(run(s, "a SELECT INBOX\r\n"), HasSubstr("a BAD Please login first"));
  EXPECT_THAT(run(s, "b LOGIN alice wrong\r\n"), HasSubstr("b NO [AUTHENTICATIONFAILED]"));
  EXPECT_THAT(run(s, "c LOGIN alice alicepw\r\n"), HasSubstr("c OK [CAPABILITY"));
  EXPECT_EQ(s.state(), Session::State::kAuthenticated);
  EXPECT_THAT(run(s, "d CAPABILITY\r\n"), HasSubstr("CONDSTORE"));
  std::string out = run(s, "e LOGOUT\r\n");
  EXPECT_THAT(out, HasSubstr("* BYE"));
  EXPECT_TRUE(s.closed());
}

TEST_F(SessionTest, AuthenticatePlain) {
  auto s = session();
  std::string ir = base64_encode(std::string("\0bob\0bobpw", 10));
  EXPECT_THAT(run(*s, "a AUTHENTICATE PLAIN " + ir + "\r\n"), HasSubstr("a OK"));
  auto t = session();
  EXPECT_EQ(run(*t, "b AUTHENTICATE PLAIN\r\n"), "+ \r\n");
  EXPECT_THAT(run(*t, base64_encode(std::string("\0bob\0nope", 9)) + "\r\n"),
              HasSubstr("b NO [AUTHENTICATIONFAILED]"));
  EXPECT_THAT(run(*t, "c AUTHENTICATE PLAIN\r\n*\r\n"), HasSubstr("c BAD"));
  EXPECT_THAT(run(*t, "d AUTHENTICATE CRAM-MD5\r\n"), HasSubstr("d NO"));
}

TEST_F(SessionTest, PlaintextRefusedWithoutTls) {
  SessionOptions o;
  o.allow_plaintext = false;
  o.tls_available = true;
  Session s(
      *instance_, [](bool) { return std::make_unique<FakeSasl>(); }, o);
  EXPECT_THAT(s.take_output(), HasSubstr("STARTTLS LOGINDISABLED"));
  EXPECT_THAT(run(s, "a LOGIN alice alicepw\r\n"), HasSubstr("a NO "));
  EXPECT_THAT(run(s, "b STARTTLS\r\nc NOOP\r\n"), HasSubstr("b OK"));
  EXPECT_TRUE(s.wants_starttls());
  s.tls_started();
  EXPECT_THAT(run(s, "c LOGIN alice alicepw\r\n"), HasSubstr("c OK"));
}

TEST_F(SessionTest, MailboxCommands) {
  auto s = login("alice");
  EXPECT_THAT(run(*s, "1 CREATE Work\r\n"), HasSubstr("1 OK"));
  EXPECT_THAT(run(*s, "2 CREATE Work/2024\r\n"), HasSubstr("2 OK"));
  EXPECT_THAT(run(*s, "3 CREATE Work\r\n"), HasSubstr("3 NO [ALREADYEXISTS]"));
  EXPECT_THAT(run(*s, "3b CREATE Sent (USE (\\Sent))\r\n"), HasSubstr("3b OK"));
  std::string list = run(*s, "4 LIST \"\" *\r\n");
  EXPECT_THAT(list, HasSubstr("* LIST (\\HasNoChildren) \"/\" INBOX"));
  EXPECT_THAT(list, HasSubstr("* LIST (\\HasChildren) \"/\" Work"));
  EXPECT_THAT(list, HasSubstr("* LIST (\\HasNoChildren) \"/\" Work/2024"));
  EXPECT_THAT(list, HasSubstr("* LIST (\\HasNoChildren \\Sent) \"/\" Sent"));
  EXPECT_THAT(list, Not(HasSubstr("bob")));
  EXPECT_THAT(run(*s, "5 LIST \"\" %\r\n"), Not(HasSubstr("2024")));
  EXPECT_THAT(run(*s, "6 LIST \"\" \"\"\r\n"), HasSubstr("* LIST (\\Noselect) \"/\" \"\""));
  EXPECT_THAT(run(*s, "7 SUBSCRIBE Work\r\n"), HasSubstr("7 OK"));
  EXPECT_THAT(run(*s, "8 LSUB \"\" *\r\n"), HasSubstr("* LSUB () \"/\" Work"));
  EXPECT_THAT(run(*s, "9 LIST (SUBSCRIBED) \"\" * RETURN (STATUS (MESSAGES))\r\n"),
              HasSubstr("* STATUS Work (MESSAGES 0)"));
  EXPECT_THAT(run(*s, "10 RENAME Work Jobs\r\n"), HasSubstr("10 OK"));
  list = run(*s, "11 LIST \"\" J*\r\n");
  EXPECT_THAT(list, HasSubstr("Jobs/2024"));
  EXPECT_THAT(run(*s, "12 DELETE Jobs/2024\r\n"), HasSubstr("12 OK"));
  EXPECT_THAT(run(*s, "13 DELETE Jobs/2024\r\n"), HasSubstr("13 NO [NONEXISTENT]"));
  EXPECT_THAT(run(*s, "14 STATUS INBOX (MESSAGES UIDNEXT UNSEEN)\r\n"),
              HasSubstr("* STATUS INBOX (MESSAGES 0 UIDNEXT 1 UNSEEN 0)"));
  EXPECT_THAT(run(*s, "15 NAMESPACE\r\n"), HasSubstr("* NAMESPACE ((\"\" \"/\"))"));
  EXPECT_THAT(run(*s, "16 CREATE \"bad&Jjo\"\r\n"), HasSubstr("16 NO [CANNOT]"));
  EXPECT_THAT(run(*s, "17 DELETE INBOX\r\n"), HasSubstr("17 NO"));
}

TEST_F(SessionTest, AppendSelectFetchStoreSearchExpunge) {
  auto s = login("alice");
  std::string out = run(*s, append_cmd("a", "INBOX", kMessage, "(\\Flagged $Work)"));
  EXPECT_THAT(out, HasSubstr("a OK [APPENDUID "));
  out = run(*s, append_cmd("b", "INBOX", "Subject: second\r\n\r\nnothing\r\n"));
  EXPECT_THAT(out, HasSubstr("b OK [APPENDUID "));
  out = run(*s, "c SELECT INBOX\r\n");
  EXPECT_THAT(out, HasSubstr("* 2 EXISTS"));
  EXPECT_THAT(out, HasSubstr("* 2 RECENT"));
  EXPECT_THAT(out, HasSubstr("[UIDNEXT 3]"));
  EXPECT_THAT(out, HasSubstr("c OK [READ-WRITE]"));
  out = run(*s, "d FETCH 1 (FLAGS RFC822.SIZE UID ENVELOPE)\r\n");
  EXPECT_THAT(out, HasSubstr("FLAGS (\\Flagged \\Recent $Work)"));
  EXPECT_THAT(out, HasSubstr("RFC822.SIZE " + std::to_string(sizeof(kMessage) - 1)));
  EXPECT_THAT(out, HasSubstr("\"hello there\""));
  out = run(*s, "e FETCH 1 BODY.PEEK[HEADER.FIELDS (Subject)]\r\n");
  EXPECT_THAT(out, HasSubstr("BODY[HEADER.FIELDS (Subject)] {"));
  EXPECT_THAT(out, HasSubstr("Subject: hello there"));
  EXPECT_THAT(out, Not(HasSubstr("\\Seen")));
  out = run(*s, "f FETCH 1 BODY[TEXT]<4.4>\r\n");
  EXPECT_THAT(out, HasSubstr("BODY[TEXT]<4> {4}\r\nbody"));
  EXPECT_THAT(out, HasSubstr("\\Seen"));
  EXPECT_THAT(run(*s, "g SEARCH UNSEEN\r\n"), HasSubstr("* SEARCH 2\r\n"));
  EXPECT_THAT(run(*s, "h SEARCH BODY zebras\r\n"), HasSubstr("* SEARCH 1\r\n"));
  EXPECT_THAT(run(*s, "i UID SEARCH FROM alice SENTON 1-Jul-2003\r\n"),
              HasSubstr("* SEARCH 1\r\n"));
  EXPECT_THAT(run(*s, "j SEARCH OR KEYWORD $Work SUBJECT second\r\n"),
              HasSubstr("* SEARCH 1 2\r\n"));
  EXPECT_THAT(run(*s, "k SEARCH RETURN (MIN MAX COUNT) ALL\r\n"),
              HasSubstr("* ESEARCH (TAG \"k\") MIN 1 MAX 2 COUNT 2"));
  out = run(*s, "l STORE 2 +FLAGS (\\Deleted)\r\n");
  EXPECT_THAT(out, HasSubstr("* 2 FETCH (FLAGS (\\Deleted \\Recent))"));
  out = run(*s, "m UID STORE 1 (UNCHANGEDSINCE 1) FLAGS (\\Answered)\r\n");
  EXPECT_THAT(out, HasSubstr("m OK [MODIFIED 1]"));
  out = run(*s, "n EXPUNGE\r\n");
  EXPECT_THAT(out, HasSubstr("* 2 EXPUNGE"));
  EXPECT_THAT(out, HasSubstr("n OK"));
  // Past EXISTS: NO, as Cyrus 3.6 (sessions/fetch.txt).
  EXPECT_THAT(run(*s, "o FETCH 2 FLAGS\r\n"), HasSubstr("o NO"));
  EXPECT_THAT(run(*s, "p FETCH 1 (FLAGS) (CHANGEDSINCE 1)\r\n"), HasSubstr("MODSEQ ("));
  EXPECT_THAT(run(*s, "q CLOSE\r\n"), HasSubstr("q OK"));
  EXPECT_EQ(s->state(), Session::State::kAuthenticated);
}

TEST_F(SessionTest, CopyMoveWithUidplus) {
  auto s = login("alice");
  run(*s, "0 CREATE Archive\r\n");
  run(*s, append_cmd("a", "INBOX", kMessage));
  run(*s, append_cmd("b", "INBOX", kMessage));
  run(*s, "c SELECT INBOX\r\n");
  EXPECT_THAT(run(*s, "d COPY 1:2 Archive\r\n"), HasSubstr("d OK [COPYUID "));
  EXPECT_THAT(run(*s, "e COPY 1 Nowhere\r\n"), HasSubstr("e NO [TRYCREATE]"));
  std::string out = run(*s, "f UID MOVE 1 Archive\r\n");
  EXPECT_THAT(out, HasSubstr("* OK [COPYUID "));
  EXPECT_THAT(out, HasSubstr("* 1 EXPUNGE"));
  EXPECT_THAT(run(*s, "g STATUS Archive (MESSAGES)\r\n"), HasSubstr("(MESSAGES 3)"));
}

TEST_F(SessionTest, TwoSessionsAndIdle) {
  auto a = login("alice");
  auto b = login("alice");
  run(*a, "1 SELECT INBOX\r\n");
  run(*b, "1 SELECT INBOX\r\n");
  EXPECT_EQ(run(*b, "2 IDLE\r\n"), "+ idling\r\n");
  run(*a, append_cmd("2", "INBOX", kMessage));
  b->tick();
  EXPECT_THAT(b->take_output(), HasSubstr("* 1 EXISTS"));
  EXPECT_THAT(run(*b, "DONE\r\n"), HasSubstr("2 OK"));
  run(*a, "3 STORE 1 +FLAGS (\\Flagged)\r\n");
  EXPECT_THAT(run(*b, "3 NOOP\r\n"), HasSubstr("* 1 FETCH (FLAGS (\\Flagged"));
  run(*a, "4 STORE 1 +FLAGS (\\Deleted)\r\n5 EXPUNGE\r\n");
  std::string out = run(*b, "4 FETCH 1:* FLAGS\r\n");
  EXPECT_THAT(out, Not(HasSubstr("EXPUNGE")));  // not during FETCH
  EXPECT_THAT(run(*b, "5 NOOP\r\n"), HasSubstr("* 1 EXPUNGE"));
}

TEST_F(SessionTest, AclsHideAndGrant) {
  auto bob = login("bob");
  EXPECT_THAT(run(*bob, "1 SELECT \"Other Users/alice\"\r\n"), HasSubstr("1 NO [NONEXISTENT]"));
  EXPECT_THAT(run(*bob, "2 LIST \"\" *\r\n"), Not(HasSubstr("alice")));
  auto alice = login("alice");
  EXPECT_THAT(run(*alice, "1 SETACL INBOX bob lr\r\n"), HasSubstr("1 OK"));
  EXPECT_THAT(run(*alice, "2 GETACL INBOX\r\n"), HasSubstr("bob lr"));
  EXPECT_THAT(run(*alice, "3 MYRIGHTS INBOX\r\n"), HasSubstr("lrswipkxtecdan"));
  EXPECT_THAT(run(*alice, "4 LISTRIGHTS INBOX bob\r\n"), HasSubstr("* LISTRIGHTS"));
  EXPECT_THAT(run(*bob, "3 EXAMINE \"Other Users/alice\"\r\n"), HasSubstr("3 OK [READ-ONLY]"));
  EXPECT_THAT(run(*bob, "4 SETACL \"Other Users/alice\" bob lrswipkxtecdan\r\n"),
              HasSubstr("4 NO [NOPERM]"));
  EXPECT_THAT(run(*bob, append_cmd("5", "\"Other Users/alice\"", kMessage)),
              HasSubstr("5 NO [NOPERM]"));
  EXPECT_THAT(run(*alice, "5 DELETEACL INBOX bob\r\n"), HasSubstr("5 OK"));
  EXPECT_THAT(run(*bob, "6 MYRIGHTS \"Other Users/alice\"\r\n"), HasSubstr("6 NO [NONEXISTENT]"));
}

TEST_F(SessionTest, AdminCreatesUserSetsQuota) {
  auto admin = login("admin");
  EXPECT_THAT(run(*admin, "1 CREATE user/carol\r\n"), HasSubstr("1 OK"));
  EXPECT_THAT(run(*admin, "2 SETQUOTA user/carol (STORAGE 1)\r\n"), HasSubstr("2 OK"));
  EXPECT_THAT(run(*admin, "3 GETQUOTAROOT user/carol\r\n"),
              HasSubstr("* QUOTA user/carol (STORAGE 0 1)"));
  auto carol = login("carol");
  EXPECT_THAT(run(*carol, "1 SETQUOTA INBOX (STORAGE 100)\r\n"), HasSubstr("1 NO [NOPERM]"));
  std::string big(900, 'x');
  EXPECT_THAT(run(*carol, append_cmd("2", "INBOX", "Subject: a\r\n\r\n" + big)), HasSubstr("2 OK"));
  EXPECT_THAT(run(*carol, append_cmd("3", "INBOX", "Subject: b\r\n\r\n" + big)),
              HasSubstr("3 NO [OVERQUOTA]"));
  EXPECT_THAT(run(*admin, "4 DELETE user/carol\r\n"), HasSubstr("4 OK"));
  EXPECT_FALSE(instance_->lookup("user.carol").ok());
}

TEST_F(SessionTest, BadInputKeepsConnectionUsable) {
  auto s = login("alice");
  EXPECT_THAT(run(*s, "1 FETCH 1 (FLAGS\r\n"), HasSubstr("1 BAD"));
  EXPECT_THAT(run(*s, "2 LIST \"\" \"*\r\n"), HasSubstr("2 BAD"));
  EXPECT_THAT(run(*s, "3 SEARCH " + std::string(50, '(') + "ALL" + std::string(50, ')') + "\r\n"),
              HasSubstr("3 BAD"));
  EXPECT_THAT(run(*s, "4 APPEND INBOX {5000}\r\n"), HasSubstr("4 NO [TOOBIG]"));
  EXPECT_THAT(run(*s, "5 APPEND INBOX {5000+}\r\n" + std::string(5000, 'x') + "\r\n"),
              HasSubstr("5 NO [TOOBIG]"));
  EXPECT_THAT(run(*s, std::string(kMaxLine + 10, 'a') + "\r\n"), HasSubstr("* BAD Line too long"));
  EXPECT_THAT(run(*s, "6 FROB\r\n"), HasSubstr("6 BAD"));
  EXPECT_THAT(run(*s, "7 FETCH 1 FLAGS\r\n"), HasSubstr("7 BAD Please select"));
  EXPECT_THAT(run(*s, "8 NOOP\r\n"), HasSubstr("8 OK"));
}

TEST_F(SessionTest, DeletedMailboxesAreForAdminsOnly) {
  store::CreateOptions o;
  o.acl = "alice\tlrswipkxtecdan\t";
  ASSERT_TRUE(instance_->create_mailbox("DELETED.user.alice.Old.6B0799F4", o).ok());
  auto s = login("alice");
  EXPECT_THAT(run(*s, "a LIST \"\" \"*\"\r\n"), Not(HasSubstr("DELETED")));
  EXPECT_THAT(run(*s, "b SELECT \"Shared Folders/DELETED/user/alice/Old/6B0799F4\"\r\n"),
              HasSubstr("b NO [NONEXISTENT]"));
  auto admin = login("admin");
  EXPECT_THAT(run(*admin, "c LIST \"\" \"DELETED*\"\r\n"), HasSubstr("6B0799F4"));
}

TEST_F(SessionTest, QuotaUsageRoundsDownToKib) {
  auto admin = login("admin");
  EXPECT_THAT(run(*admin, "q SETQUOTA user/alice (STORAGE 100)\r\n"), HasSubstr("q OK"));
  auto s = login("alice");
  // Two messages of about 700 bytes: 1.4 KiB in all.
  std::string msg = "Subject: q\r\n\r\n" + std::string(700, 'x');
  EXPECT_THAT(run(*s, append_cmd("a", "INBOX", msg)), HasSubstr("a OK"));
  EXPECT_THAT(run(*s, append_cmd("c", "INBOX", msg)), HasSubstr("c OK"));
  EXPECT_THAT(run(*s, "b GETQUOTAROOT INBOX\r\n"), HasSubstr("(STORAGE 1 100)"));
}

TEST_F(SessionTest, SyncLiteralGetsContinuation) {
  auto s = session();
  EXPECT_EQ(run(*s, "a LOGIN {5}\r\n"), "+ go ahead\r\n");
  EXPECT_THAT(run(*s, "alice alicepw\r\n"), HasSubstr("a OK"));
}

TEST_F(SessionTest, CondstoreAndQresync) {
  auto s = login("alice");
  run(*s, append_cmd("a", "INBOX", kMessage));
  EXPECT_THAT(run(*s, "b ENABLE QRESYNC\r\n"), HasSubstr("* ENABLED QRESYNC"));
  std::string out = run(*s, "c SELECT INBOX\r\n");
  EXPECT_THAT(out, HasSubstr("[HIGHESTMODSEQ "));
  auto pos = out.find("[UIDVALIDITY ");
  ASSERT_NE(pos, std::string::npos);
  std::string validity = out.substr(pos + 13, out.find(']', pos) - pos - 13);
  run(*s, "d STORE 1 +FLAGS (\\Deleted)\r\ne EXPUNGE\r\n");
  out = run(*s, "f SELECT INBOX (QRESYNC (" + validity + " 1))\r\n");
  EXPECT_THAT(out, HasSubstr("* OK [CLOSED]"));
  EXPECT_THAT(out, HasSubstr("* VANISHED (EARLIER) 1"));
}

// Untagged responses of one reply, in order, without their line ends.
std::vector<std::string> reply_lines(const std::string& out) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < out.size()) {
    size_t end = out.find("\r\n", pos);
    if (end == std::string::npos) end = out.size();
    lines.push_back(out.substr(pos, end - pos));
    pos = end + 2;
  }
  return lines;
}

TEST_F(SessionTest, LogoutSendsOnlyTheTaggedOkAfterBye) {
  auto a = login("alice");
  auto b = login("alice");
  run(*b, append_cmd("a", "INBOX", kMessage));
  run(*a, "1 SELECT INBOX\r\n");
  run(*b, append_cmd("b", "INBOX", kMessage));
  run(*b, "c SELECT INBOX\r\nd STORE 1 +FLAGS (\\Flagged)\r\n");
  EXPECT_THAT(reply_lines(run(*a, "2 LOGOUT\r\n")),
              ElementsAre("* BYE LOGOUT received", "2 OK Completed"));
  EXPECT_TRUE(a->closed());
}

TEST_F(SessionTest, NewKeywordIsAnnouncedBeforeTheFetchThatShowsIt) {
  auto a = login("alice");
  run(*a, append_cmd("a", "INBOX", kMessage));
  run(*a, append_cmd("b", "INBOX", kMessage));
  run(*a, "1 SELECT INBOX\r\n");
  EXPECT_THAT(reply_lines(run(*a, "2 STORE 1 +FLAGS ($Label1)\r\n")),
              ElementsAre("* FLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen $Label1)",
                          "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Draft \\Deleted "
                          "\\Seen $Label1 \\*)] Ok",
                          "* 1 FETCH (FLAGS (\\Recent $Label1))", "2 OK Completed"));
  // Known now: not announced again.
  EXPECT_THAT(reply_lines(run(*a, "3 STORE 2 +FLAGS ($Label1)\r\n")),
              ElementsAre("* 2 FETCH (FLAGS (\\Recent $Label1))", "3 OK Completed"));

  // Another session's new keyword comes with the next refresh, FLAGS first.
  auto b = login("alice");
  run(*b, "1 SELECT INBOX\r\n2 STORE 2 +FLAGS ($Label2)\r\n");
  auto lines = reply_lines(run(*a, "4 NOOP\r\n"));
  ASSERT_EQ(lines.size(), 4u) << ::testing::PrintToString(lines);
  EXPECT_EQ(lines[0], "* FLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen $Label1 $Label2)");
  EXPECT_THAT(lines[1], HasSubstr("PERMANENTFLAGS"));
  EXPECT_EQ(lines[2], "* 2 FETCH (FLAGS (\\Recent $Label1 $Label2))");
}

TEST_F(SessionTest, LiteralsBeforeLoginAreSmallAndAFloodEndsTheConnection) {
  auto s = session();
  // Never invited, and the connection stays.
  std::string out = run(*s, "s1 LOGIN {5000}\r\n");
  EXPECT_THAT(out, HasSubstr("s1 BAD [TOOBIG]"));
  EXPECT_THAT(out, Not(HasSubstr("+ go ahead")));
  EXPECT_THAT(run(*s, "s2 NOOP\r\n"), HasSubstr("s2 OK"));
  // Small ones are fine before login.
  EXPECT_THAT(run(*s, "s3 ID ({4+}\r\nname {3+}\r\nfoo)\r\n"), HasSubstr("s3 OK"));
  // A pushed literal over the bound ends the connection: nothing is read.
  out = run(*s, "m1 NOOP {1048576+}\r\n" + std::string(1 << 20, 'x') + "m2 NOOP\r\n");
  EXPECT_THAT(out, HasSubstr("m1 BAD [TOOBIG] Literal size exceeds fixed limit"));
  EXPECT_THAT(out, HasSubstr("* BYE [TOOBIG]"));
  EXPECT_THAT(out, Not(HasSubstr("m2")));
  EXPECT_TRUE(s->closed());

  // Many literals each under the bound: the command's bound ends it.
  auto t = session();
  std::string many = "m1 NOOP";
  for (int i = 0; i < 40; ++i) many += " {4000+}\r\n" + std::string(4000, 'x');
  out = run(*t, many + "\r\n");
  EXPECT_THAT(out, HasSubstr("m1 BAD [TOOBIG] Command arguments total size exceeds fixed limit"));
  EXPECT_TRUE(t->closed());
}

TEST_F(SessionTest, LiteralAndCommandLimitsAfterLogin) {
  SessionOptions o;
  o.max_literal = 2000;
  o.max_command = 10000;
  auto s = session(o);
  ASSERT_THAT(run(*s, "l LOGIN alice alicepw\r\n"), HasSubstr("l OK"));
  std::string out = run(*s, "1 NOOP {2001}\r\n");
  EXPECT_THAT(out, HasSubstr("1 NO [TOOBIG] Literal size exceeds fixed limit"));
  EXPECT_THAT(out, Not(HasSubstr("+ go ahead")));
  EXPECT_THAT(run(*s, "2 SEARCH TEXT {1500+}\r\n" + std::string(1500, 'q') + "\r\n"),
              HasSubstr("2 BAD Please select"));
  std::string big = "3 SEARCH";
  for (int i = 0; i < 8; ++i) big += " TEXT {1500+}\r\n" + std::string(1500, 'q');
  EXPECT_THAT(run(*s, big + "\r\n"),
              HasSubstr("3 NO [TOOBIG] Command arguments total size exceeds fixed limit"));
  EXPECT_THAT(run(*s, "4 NOOP {2001+}\r\n" + std::string(2001, 'z') + "\r\n"),
              HasSubstr("4 NO [TOOBIG] Literal size exceeds fixed limit"));
  EXPECT_THAT(run(*s, "5 NOOP\r\n"), HasSubstr("5 OK"));
  EXPECT_FALSE(s->closed());
}

}  // namespace
}  // namespace replimail::imap

namespace replimail::imap {
namespace {

// A user being moved to another slot (store::Instance::set_user_fence): a
// session open on that user ends with BYE [UNAVAILABLE] at its next command
// or IDLE tick, so that it does not go on over a copy about to be the old
// one; another user's session goes on.
TEST_F(SessionTest, FencedUsersSessionsEndWithByeOthersGoOn) {
  auto alice = login("alice");
  auto idler = login("alice");
  auto bob = login("bob");
  EXPECT_THAT(run(*alice, "a SELECT INBOX\r\n"), HasSubstr("a OK"));
  EXPECT_THAT(run(*idler, "i1 SELECT INBOX\r\n"), HasSubstr("i1 OK"));
  EXPECT_THAT(run(*idler, "i2 IDLE\r\n"), HasSubstr("+ idling"));
  ASSERT_TRUE(instance_->set_user_fence("alice", true).is_ok());

  std::string out = run(*alice, "b NOOP\r\n");
  EXPECT_THAT(out, HasSubstr("* BYE [UNAVAILABLE] Mailbox is being moved"));
  EXPECT_THAT(out, Not(HasSubstr("b OK")));
  EXPECT_TRUE(alice->closed());
  idler->tick();
  EXPECT_THAT(idler->take_output(), HasSubstr("* BYE [UNAVAILABLE]"));
  EXPECT_TRUE(idler->closed());
  EXPECT_THAT(run(*bob, "c SELECT INBOX\r\n"), HasSubstr("c OK"));
  EXPECT_FALSE(bob->closed());

  ASSERT_TRUE(instance_->set_user_fence("alice", false).is_ok());
  auto again = login("alice");
  EXPECT_THAT(run(*again, "d SELECT INBOX\r\n"), HasSubstr("d OK"));
}

// A session that sent nothing while its user was fenced still ends once the
// user has moved away (the fence lifted with moved_away): it would read and
// write an old copy. Logins after the move (the user moved back) go on.
TEST_F(SessionTest, SessionsOpenBeforeAMoveAwayEndAtTheirNextCommand) {
  auto quiet = login("alice");
  EXPECT_THAT(run(*quiet, "a SELECT INBOX\r\n"), HasSubstr("a OK"));
  ASSERT_TRUE(instance_->set_user_fence("alice", true).is_ok());
  ASSERT_TRUE(instance_->set_user_fence("alice", false, /*moved_away=*/true).is_ok());
  // Moved away: the fence stays on the old copy (a stale route is deferred).
  EXPECT_TRUE(instance_->user_fenced("alice"));
  ASSERT_TRUE(instance_->user_moved_at("alice").has_value());
  EXPECT_FALSE(instance_->user_moved_at("bob").has_value());
  EXPECT_THAT(run(*quiet, "b NOOP\r\n"), HasSubstr("* BYE [UNAVAILABLE]"));
  EXPECT_TRUE(quiet->closed());
  // Moved back: the operator removes the fence; a login after that goes on.
  ASSERT_TRUE(instance_->set_user_fence("alice", false).is_ok());
  EXPECT_FALSE(instance_->user_fenced("alice"));
  auto later = login("alice");
  EXPECT_THAT(run(*later, "c SELECT INBOX\r\n"), HasSubstr("c OK"));
  EXPECT_FALSE(later->closed());
}

}  // namespace
}  // namespace replimail::imap

namespace replimail::imap {
namespace {

// A FETCH answering many messages hands its output to the connection in
// pieces while it is made (Session::set_early_writer): the bytes, in order,
// are the same as the whole answer without an early writer, no piece before
// the last is shorter than kEarlyWriteAt, and a writer that fails (the
// client gone) stops the FETCH without a crash.
using test::SessionTest;

TEST_F(SessionTest, LongFetchIsWrittenInPiecesEqualToTheWholeAnswer) {
  const std::string body(6000, 'x');
  for (int i = 0; i < 40; ++i) {
    test::deliver_to(*instance_, "user.alice",
                     "Subject: piece " + std::to_string(i) + "\r\n\r\n" + body + "\r\n");
    ASSERT_FALSE(HasFatalFailure());
  }
  const std::string fetch = "f FETCH 1:* (UID FLAGS BODY.PEEK[])\r\n";
  auto whole_session = login("alice");
  run(*whole_session, "s EXAMINE INBOX\r\n");  // claims no \Recent
  const std::string whole = run(*whole_session, fetch);
  ASSERT_THAT(whole, HasSubstr("f OK"));
  ASSERT_GT(whole.size(), 3 * Session::kEarlyWriteAt);

  auto streamed = login("alice");
  run(*streamed, "s EXAMINE INBOX\r\n");
  std::vector<std::string> pieces;
  streamed->set_early_writer([&](std::string_view b) {
    pieces.emplace_back(b);
    return true;
  });
  const std::string rest = streamed->take_output() + run(*streamed, fetch);
  ASSERT_GE(pieces.size(), 3u);
  std::string joined;
  for (const std::string& p : pieces) {
    EXPECT_GE(p.size(), Session::kEarlyWriteAt);
    joined += p;
  }
  EXPECT_EQ(joined.size() + rest.size(), whole.size());
  EXPECT_TRUE(joined + rest == whole);  // (not printed: 240 KB)

  auto gone = login("alice");
  run(*gone, "s EXAMINE INBOX\r\n");
  int calls = 0;
  gone->set_early_writer([&](std::string_view) {
    ++calls;
    return false;
  });
  run(*gone, fetch);
  EXPECT_EQ(calls, 1);  // nothing more is made for a client that is gone
}

}  // namespace
}  // namespace replimail::imap
