// POP3 conversations as transcripts against a fake maildrop and a fake
// SASL server.
#include "pop3/session.h"

#include <gtest/gtest.h>

#include <map>

#include "pop3/parser.h"

namespace replimail::pop3 {
namespace {

class FakeBackend : public Backend {
 public:
  Result<Maildrop> open(const std::string& userid) override {
    opened.push_back(userid);
    if (userid == "nobox") return Status(Code::kMailboxNonexistent, "user.nobox");
    if (userid == "broken") return Status(Code::kIoError, "database or disk is full");
    return drop;
  }
  Result<std::string> read(uint32_t uid) override {
    auto it = bodies.find(uid);
    if (it == bodies.end()) return Status(Code::kIoError, "gone");
    return it->second;
  }
  Status expunge(const std::vector<uint32_t>& uids) override {
    expunged.insert(expunged.end(), uids.begin(), uids.end());
    return expunge_status;
  }
  Status writable() override { return writable_status; }

  Maildrop drop;
  std::map<uint32_t, std::string> bodies;
  std::vector<std::string> opened;
  std::vector<uint32_t> expunged;
  Status expunge_status;
  Status writable_status;
};

// Accepts PLAIN "\0<user>\0secret" for any user; offers PLAIN only.
class FakeSasl : public net::SaslServer {
 public:
  std::vector<std::string> mechanisms() override { return {"PLAIN"}; }
  net::SaslStep start(std::string_view mech, std::optional<std::string_view> initial) override {
    net::SaslStep s;
    if (mech != "PLAIN") {
      s.kind = net::SaslStep::Kind::kNoMech;
      return s;
    }
    if (!initial) {
      s.kind = net::SaslStep::Kind::kContinue;
      return s;
    }
    return check(*initial);
  }
  net::SaslStep step(std::string_view response) override { return check(response); }
  std::string username() override { return user; }

 private:
  net::SaslStep check(std::string_view plain) {
    net::SaslStep s;
    size_t a = plain.find('\0');
    size_t b = a == std::string_view::npos ? a : plain.find('\0', a + 1);
    if (b != std::string_view::npos && plain.substr(b + 1) == "secret") {
      user = std::string(plain.substr(a + 1, b - a - 1));
      s.kind = net::SaslStep::Kind::kOk;
    }
    return s;
  }
  std::string user;
};

class Pop3SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backend.drop.uidvalidity = 1700000000;
    backend.drop.messages = {{3, 20}, {5, 31}, {9, 7}};
    backend.bodies[3] = "Subject: a\r\n\r\nhello\r\n";
    backend.bodies[5] = "Subject: b\r\n\r\n.dot\r\nline 2\r\nline 3\r\n";
    backend.bodies[9] = "X: y\r\n\r\n";
  }
  std::string run(std::string_view input) {
    session.feed(input);
    return session.take_output();
  }
  void login() {
    session.take_output();
    ASSERT_EQ(run("USER bob\r\nPASS secret\r\n"),
              "+OK Name is a valid mailbox\r\n+OK Mailbox locked and ready\r\n");
  }

  FakeBackend backend;
  FakeSasl sasl;
  Session session{backend, &sasl, SessionOptions{"mail.example.com", false}};
};

TEST_F(Pop3SessionTest, GreetingAndCapa) {
  EXPECT_EQ(session.take_output(), "+OK mail.example.com replimail POP3 server ready\r\n");
  EXPECT_EQ(run("CAPA\r\n"),
            "+OK List of capabilities follows\r\nSASL PLAIN\r\nEXPIRE NEVER\r\nLOGIN-DELAY 0\r\n"
            "TOP\r\nUIDL\r\nPIPELINING\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nUSER\r\n"
            "IMPLEMENTATION replimail POP3\r\n.\r\n");
}

TEST_F(Pop3SessionTest, BadPasswordThenGoodOne) {
  session.take_output();
  EXPECT_EQ(run("PASS x\r\n"), "-ERR [AUTH] Must give USER command\r\n");
  EXPECT_EQ(run("USER bob\r\nPASS wrong\r\n"),
            "+OK Name is a valid mailbox\r\n-ERR [AUTH] Invalid login\r\n");
  EXPECT_EQ(session.state(), Session::State::kAuthorization);
  EXPECT_EQ(run("STAT\r\n"), "-ERR Unrecognized command\r\n");
  EXPECT_EQ(run("USER bob\r\nPASS secret\r\n"),
            "+OK Name is a valid mailbox\r\n+OK Mailbox locked and ready\r\n");
  EXPECT_EQ(session.state(), Session::State::kTransaction);
  EXPECT_EQ(backend.opened, std::vector<std::string>{"bob"});
}

TEST_F(Pop3SessionTest, StatListUidl) {
  login();
  EXPECT_EQ(run("STAT\r\n"), "+OK 3 58\r\n");
  EXPECT_EQ(run("LIST\r\n"), "+OK scan listing follows\r\n1 20\r\n2 31\r\n3 7\r\n.\r\n");
  EXPECT_EQ(run("LIST 2\r\n"), "+OK 2 31\r\n");
  EXPECT_EQ(run("LIST 4\r\n"), "-ERR No such message\r\n");
  EXPECT_EQ(run("LIST x\r\n"), "-ERR Invalid number\r\n");
  EXPECT_EQ(run("UIDL\r\n"),
            "+OK unique-id listing follows\r\n1 1700000000.3\r\n2 1700000000.5\r\n"
            "3 1700000000.9\r\n.\r\n");
  EXPECT_EQ(run("UIDL 3\r\n"), "+OK 3 1700000000.9\r\n");
}

TEST_F(Pop3SessionTest, UidlWithoutOptionPIsTheUid) {
  backend.drop.new_uidl = false;
  login();
  EXPECT_EQ(run("UIDL 2\r\n"), "+OK 2 5\r\n");
}

TEST_F(Pop3SessionTest, RetrAndTopAreDotStuffed) {
  login();
  EXPECT_EQ(run("RETR 2\r\n"),
            "+OK Message follows\r\nSubject: b\r\n\r\n..dot\r\nline 2\r\nline 3\r\n.\r\n");
  EXPECT_EQ(run("TOP 2 1\r\n"), "+OK Message follows\r\nSubject: b\r\n\r\n..dot\r\n.\r\n");
  EXPECT_EQ(run("TOP 2\r\n"), "-ERR Missing argument\r\n");
  EXPECT_EQ(run("RETR 0\r\n"), "-ERR No such message\r\n");
}

TEST_F(Pop3SessionTest, DeleRsetAndQuitExpunges) {
  login();
  EXPECT_EQ(run("DELE 1\r\n"), "+OK message deleted\r\n");
  EXPECT_EQ(run("DELE 1\r\n"), "-ERR No such message\r\n");
  EXPECT_EQ(run("RETR 1\r\n"), "-ERR No such message\r\n");
  EXPECT_EQ(run("STAT\r\n"), "+OK 2 38\r\n");
  EXPECT_EQ(run("RSET\r\n"), "+OK\r\n");
  EXPECT_EQ(run("STAT\r\n"), "+OK 3 58\r\n");
  EXPECT_EQ(run("DELE 1\r\nDELE 3\r\nQUIT\r\n"),
            "+OK message deleted\r\n+OK message deleted\r\n+OK\r\n");
  EXPECT_TRUE(session.closed());
  EXPECT_EQ(backend.expunged, (std::vector<uint32_t>{3, 9}));
}

TEST_F(Pop3SessionTest, DroppedConnectionExpungesNothing) {
  login();
  run("DELE 1\r\n");
  EXPECT_TRUE(backend.expunged.empty());
}

TEST_F(Pop3SessionTest, DeleIsRefusedInReadOnlyModeAndReadsGoOn) {
  login();
  backend.writable_status = Status(Code::kReadOnly, "the instance is in read-only mode");
  EXPECT_EQ(run("DELE 1\r\n"), "-ERR [SYS/TEMP] Server is in read-only mode, try again later\r\n");
  EXPECT_EQ(run("STAT\r\n"), "+OK 3 58\r\n");
  EXPECT_EQ(run("RETR 2\r\n").substr(0, 20), "+OK Message follows\r");
  EXPECT_EQ(run("QUIT\r\n"), "+OK\r\n");
  EXPECT_TRUE(backend.expunged.empty());
}

TEST_F(Pop3SessionTest, QuitReportsExpungeFailure) {
  login();
  backend.expunge_status = Status(Code::kIoError, "disk");
  EXPECT_EQ(run("DELE 2\r\nQUIT\r\n"),
            "+OK message deleted\r\n-ERR [SYS/TEMP] Unable to expunge: disk\r\n");
}

TEST_F(Pop3SessionTest, AuthPlainWithAndWithoutInitialResponse) {
  session.take_output();
  EXPECT_EQ(run("AUTH\r\n"), "+OK List of supported mechanisms follows\r\nPLAIN\r\n.\r\n");
  // base64("\0bob\0wrong") then base64("\0bob\0secret").
  EXPECT_EQ(run("AUTH PLAIN AGJvYgB3cm9uZw==\r\n"),
            "-ERR [AUTH] authenticating: authentication failure\r\n");
  EXPECT_EQ(run("AUTH PLAIN\r\n"), "+ \r\n");
  EXPECT_EQ(session.state(), Session::State::kSasl);
  EXPECT_EQ(run("*\r\n"), "-ERR [AUTH] authenticating: client canceled authentication\r\n");
  EXPECT_EQ(run("AUTH PLAIN\r\n"), "+ \r\n");
  EXPECT_EQ(run("AGJvYgBzZWNyZXQ=\r\n"), "+OK Mailbox locked and ready\r\n");
  EXPECT_EQ(session.user(), "bob");
}

TEST_F(Pop3SessionTest, AuthErrors) {
  session.take_output();
  EXPECT_EQ(run("AUTH CRAM-MD5\r\n"), "-ERR [AUTH] authenticating: no mechanism available\r\n");
  EXPECT_EQ(run("AUTH PLAIN !!!\r\n"),
            "-ERR [AUTH] authenticating: bad base64 initial response\r\n");
  EXPECT_EQ(run("AUTH PLAIN\r\nnot base64\r\n"),
            "+ \r\n-ERR [AUTH] authenticating: bad base64 response\r\n");
}

TEST_F(Pop3SessionTest, EmptyAndMissingMaildrops) {
  backend.drop.messages.clear();
  session.take_output();
  EXPECT_EQ(run("AUTH PLAIN AGJvYgBzZWNyZXQ=\r\nSTAT\r\nLIST\r\n"),
            "+OK Mailbox locked and ready\r\n+OK 0 0\r\n+OK scan listing follows\r\n.\r\n");
  Session other(backend, &sasl, SessionOptions{});
  other.take_output();
  other.feed("USER nobox\r\nPASS secret\r\nSTAT\r\n");
  EXPECT_EQ(other.take_output(),
            "+OK Name is a valid mailbox\r\n"
            "-ERR [SYS/PERM] Unable to locate maildrop: user.nobox\r\n"
            "-ERR Unrecognized command\r\n");
}

// A failing disk or database is a temporary condition, not a missing
// maildrop (issue 13, item 11).
TEST_F(Pop3SessionTest, AnUnreadableMaildropIsATemporaryError) {
  Session other(backend, &sasl, SessionOptions{});
  other.take_output();
  other.feed("USER broken\r\nPASS secret\r\n");
  EXPECT_EQ(other.take_output(),
            "+OK Name is a valid mailbox\r\n"
            "-ERR [SYS/TEMP] Unable to locate maildrop: database or disk is full\r\n");
}

TEST_F(Pop3SessionTest, PipelinedAndSplitInput) {
  session.take_output();
  session.feed("US");
  EXPECT_EQ(session.take_output(), "");
  session.feed("ER bob\r\nPASS sec");
  EXPECT_EQ(session.take_output(), "+OK Name is a valid mailbox\r\n");
  session.feed("ret\r\nNOOP\r\nQUIT\r\nNOOP\r\n");
  EXPECT_EQ(session.take_output(), "+OK Mailbox locked and ready\r\n+OK\r\n+OK\r\n");
  EXPECT_TRUE(session.closed());
}

TEST_F(Pop3SessionTest, LongLineIsRefusedAndSessionGoesOn) {
  session.take_output();
  std::string huge(kMaxCommandLine + 10, 'A');
  EXPECT_EQ(run(huge + "\r\nNOOP\r\n"), "-ERR Line too long\r\n+OK\r\n");
}

TEST_F(Pop3SessionTest, QuitBeforeLoginExpungesNothing) {
  session.take_output();
  EXPECT_EQ(run("QUIT\r\n"), "+OK\r\n");
  EXPECT_TRUE(session.closed());
  EXPECT_TRUE(backend.expunged.empty());
}

TEST_F(Pop3SessionTest, StlsRefusedWithoutTls) {
  session.take_output();
  EXPECT_EQ(run("STLS\r\n"), "-ERR STLS not available\r\n");
  Session tls(backend, &sasl, SessionOptions{"x", true});
  tls.take_output();
  tls.feed("CAPA\r\n");
  EXPECT_NE(tls.take_output().find("\r\nSTLS\r\n"), std::string::npos);
  tls.feed("STLS\r\nNOOP\r\n");
  EXPECT_EQ(tls.take_output(), "+OK Begin TLS negotiation now\r\n");
  EXPECT_TRUE(tls.starttls_requested());
}

TEST_F(Pop3SessionTest, StlsDiscardsPipelinedInputAndIsNotOfferedTwice) {
  Session tls(backend, &sasl, SessionOptions{"x", true});
  tls.take_output();
  tls.feed("USER bob\r\nSTLS\r\nPASS secret\r\nUSER mallory");
  EXPECT_EQ(tls.take_output(), "+OK Name is a valid mailbox\r\n+OK Begin TLS negotiation now\r\n");
  FakeSasl secure_sasl;
  tls.tls_started(&secure_sasl);
  EXPECT_FALSE(tls.starttls_requested());
  // Neither the USER before STLS nor the bytes sent after it survive.
  tls.feed("\r\nPASS secret\r\n");
  EXPECT_EQ(tls.take_output(),
            "-ERR Unrecognized command\r\n-ERR [AUTH] Must give USER command\r\n");
  tls.feed("CAPA\r\n");
  EXPECT_EQ(tls.take_output().find("STLS"), std::string::npos);
  tls.feed("STLS\r\nUSER bob\r\nPASS secret\r\n");
  EXPECT_EQ(tls.take_output(),
            "-ERR STLS not available\r\n+OK Name is a valid mailbox\r\n"
            "+OK Mailbox locked and ready\r\n");
  EXPECT_EQ(secure_sasl.username(), "bob");
}

TEST_F(Pop3SessionTest, NoPlaintextUserBeforeStls) {
  SessionOptions opts{"x", true};
  opts.allow_plaintext = false;
  Session tls(backend, &sasl, opts);
  tls.take_output();
  tls.feed("CAPA\r\n");
  std::string capa = tls.take_output();
  EXPECT_NE(capa.find("\r\nSTLS\r\n"), std::string::npos);
  EXPECT_EQ(capa.find("\r\nUSER\r\n"), std::string::npos);
  tls.feed("USER bob\r\nPASS secret\r\n");
  EXPECT_EQ(tls.take_output(),
            "-ERR [AUTH] USER command only available under a layer\r\n"
            "-ERR [AUTH] Must give USER command\r\n");
  tls.feed("STLS\r\n");
  tls.take_output();
  tls.tls_started(&sasl);
  tls.feed("CAPA\r\n");
  EXPECT_NE(tls.take_output().find("\r\nUSER\r\n"), std::string::npos);
  tls.feed("USER bob\r\nPASS secret\r\n");
  EXPECT_EQ(tls.take_output(), "+OK Name is a valid mailbox\r\n+OK Mailbox locked and ready\r\n");
}

}  // namespace
}  // namespace replimail::pop3
