#include "lmtp/session.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace replimail::lmtp {
namespace {

// Users: alice, bob (known), full (over quota at RCPT), late (over quota at
// delivery). Everything else is unknown.
class FakeBackend : public Backend {
 public:
  struct Sink : MessageSink {
    explicit Sink(FakeBackend* b) : backend(b) {}
    ~Sink() override { ++backend->sinks_released; }
    Status write(std::string_view bytes) override {
      if (backend->fail_writes) return Status(Code::kIoError, "disk full");
      if (backend->full) return Status(Code::kNoSpace, "No space left on device");
      data.append(bytes);
      return Status::success();
    }
    FakeBackend* backend;
    std::string data;
  };

  Result<Recipient> resolve_recipient(const RcptQuery& query) override {
    const Address& address = query.address;
    bool ignorequota = query.ignorequota;
    last_size_hint = query.size_hint;
    last_authuser = query.authuser;
    if (address.user == "full" && !ignorequota) return Status(Code::kQuotaExceeded, "full");
    static const std::set<std::string> kUsers = {"alice", "bob", "full", "late"};
    if (!kUsers.count(address.user)) return Status(Code::kMailboxNonexistent, address.user);
    Recipient r;
    r.userid = address.user;
    r.mailbox = "user." + address.user;
    if (address.detail && !address.detail->empty()) r.mailbox += "." + *address.detail;
    return r;
  }

  Result<std::unique_ptr<MessageSink>> begin_message() override {
    if (fail_begin) return Status(Code::kIoError, "no staging dir");
    if (full_at_begin) return Status(Code::kNoSpace, "No space left on device");
    return std::unique_ptr<MessageSink>(std::make_unique<Sink>(this));
  }

  std::vector<Status> deliver(MessageSink& sink,
                              const std::vector<Recipient>& recipients) override {
    std::vector<Status> out;
    for (const Recipient& r : recipients) {
      if (r.userid == "late") {
        out.emplace_back(Code::kQuotaExceeded, "late");
        continue;
      }
      delivered[r.mailbox].push_back(static_cast<Sink&>(sink).data);
      out.emplace_back();
    }
    return out;
  }

  std::map<std::string, std::vector<std::string>> delivered;
  bool fail_writes = false;
  bool fail_begin = false;
  bool full = false;           // the sink says ENOSPC
  bool full_at_begin = false;  // the staging file cannot be made
  uint64_t last_size_hint = 0;
  std::string last_authuser;
  int sinks_released = 0;  // staging files a real sink would have removed
};

class FakeSasl : public net::SaslServer {
 public:
  std::vector<std::string> mechanisms() override { return {"PLAIN", "LOGIN"}; }
  net::SaslStep start(std::string_view mech, std::optional<std::string_view> initial) override {
    if (mech != "PLAIN") return {net::SaslStep::Kind::kNoMech, "", "no mech"};
    if (!initial) return {net::SaslStep::Kind::kContinue, "", ""};
    return step(*initial);
  }
  net::SaslStep step(std::string_view response) override {
    if (response == std::string_view("\0alice\0secret", 13)) {
      user_ = "alice";
      return {net::SaslStep::Kind::kOk, "", ""};
    }
    return {net::SaslStep::Kind::kFailed, "", "authentication failure"};
  }
  std::string username() override { return user_; }

 private:
  std::string user_;
};

constexpr const char* kGreeting = "220 mx.test LMTP replimail server ready\r\n";
constexpr const char* kLhloReply =
    "250-mx.test\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n"
    "250-SIZE 1000\r\n250 IGNOREQUOTA\r\n";
// 2026-11-25 22:41:34 UTC.
constexpr std::time_t kNow = 1795646494;

class SessionTest : public ::testing::Test {
 protected:
  std::unique_ptr<Session> open(bool preauth = true, net::SaslServer* sasl = nullptr,
                                bool perm_quota = false) {
    SessionOptions o;
    o.servername = "mx.test";
    o.max_message_size = 1000;
    o.preauth = preauth;
    o.over_quota_perm_failure = perm_quota;
    o.client_host = "[127.0.0.1]";
    o.clock = [] { return kNow; };
    auto s = std::make_unique<Session>(backend_, sasl, o);
    EXPECT_EQ(s->take_output(), kGreeting);
    return s;
  }

  // Feeds `input` and returns the replies.
  static std::string talk(Session& s, std::string_view input) {
    s.feed(input);
    return s.take_output();
  }

  FakeBackend backend_;
};

TEST_F(SessionTest, LhloAdvertisesExtensions) {
  auto s = open();
  EXPECT_EQ(talk(*s, "LHLO client.test\r\n"), kLhloReply);
  EXPECT_EQ(s->state(), Session::State::kReady);
}

TEST_F(SessionTest, OneMessageWithTraceHeaders) {
  auto s = open();
  talk(*s, "LHLO client.test\r\n");
  EXPECT_EQ(talk(*s, "MAIL FROM:<sender@example.com>\r\n"), "250 2.1.0 ok\r\n");
  EXPECT_EQ(talk(*s, "RCPT TO:<alice@mx.test>\r\n"), "250 2.1.5 ok\r\n");
  EXPECT_EQ(talk(*s, "DATA\r\n"), "354 go ahead\r\n");
  EXPECT_EQ(s->state(), Session::State::kData);
  EXPECT_EQ(talk(*s, "Subject: hi\r\n\r\n..dotted\r\nbody\r\n.\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(s->state(), Session::State::kReady);
  ASSERT_EQ(backend_.delivered["user.alice"].size(), 1u);
  EXPECT_EQ(backend_.delivered["user.alice"][0],
            "Return-Path: <sender@example.com>\r\n"
            "Received: from client.test ([127.0.0.1])\r\n"
            "\tby mx.test (replimail lmtpd) with LMTP\r\n"
            "\tfor <alice@mx.test>; Wed, 25 Nov 2026 22:41:34 +0000\r\n"
            "Subject: hi\r\n\r\n.dotted\r\nbody\r\n");
  EXPECT_EQ(talk(*s, "QUIT\r\n"), "221 2.0.0 bye\r\n");
  EXPECT_TRUE(s->closed());
  EXPECT_EQ(talk(*s, "NOOP\r\n"), "");
}

TEST_F(SessionTest, PipelinedTransactionRepliesInOrder) {
  auto s = open();
  std::string out =
      talk(*s,
           "LHLO c\r\nMAIL FROM:<> SIZE=20\r\nRCPT TO:<alice>\r\nRCPT TO:<nobody>\r\n"
           "RCPT TO:<bob+lists>\r\nDATA\r\nx: y\r\n\r\nhello\r\n.\r\nNOOP\r\nQUIT\r\n");
  EXPECT_EQ(out, std::string(kLhloReply) +
                     "250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 User unknown\r\n250 2.1.5 ok\r\n"
                     "354 go ahead\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 ok\r\n"
                     "221 2.0.0 bye\r\n");
  EXPECT_EQ(backend_.last_size_hint, 20u);
  ASSERT_EQ(backend_.delivered.size(), 2u);
  const std::string& msg = backend_.delivered["user.bob.lists"].at(0);
  // Two recipients: no "for" clause; the null sender stays <>.
  EXPECT_EQ(msg.rfind("Return-Path: <>\r\n", 0), 0u);
  EXPECT_EQ(msg.find("\tfor <"), std::string::npos);
  EXPECT_EQ(backend_.delivered["user.alice"].at(0), msg);
}

// The delivered message's staging file is removed after its reply is on
// its way (lmtpd calls release_spent() once it has written the replies),
// not between the commit and the reply.
TEST_F(SessionTest, DeliveredSinkKeptUntilReleaseSpent) {
  auto s = open();
  EXPECT_EQ(
      talk(*s, "LHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<alice>\r\nDATA\r\nx: y\r\n\r\nhi\r\n.\r\n"),
      std::string(kLhloReply) + "250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n250 2.1.5 Ok\r\n");
  EXPECT_EQ(backend_.sinks_released, 0);
  s->release_spent();
  EXPECT_EQ(backend_.sinks_released, 1);
  // A second delivery's sink is held in its turn.
  talk(*s, "MAIL FROM:<>\r\nRCPT TO:<bob>\r\nDATA\r\nx: y\r\n\r\nagain\r\n.\r\n");
  EXPECT_EQ(backend_.sinks_released, 1);
  // The next finished transaction drops the one before, the destructor the
  // last.
  talk(*s, "MAIL FROM:<>\r\nRCPT TO:<bob>\r\nDATA\r\nx: y\r\n\r\nthird\r\n.\r\n");
  EXPECT_EQ(backend_.sinks_released, 2);
  s.reset();
  EXPECT_EQ(backend_.sinks_released, 3);
}

TEST_F(SessionTest, ByteAtATimeGivesSameConversation) {
  std::string input =
      "LHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<alice>\r\nDATA\r\n.x\r\n\r\n.\r\nQUIT\r\n";
  auto whole = open();
  std::string expected = talk(*whole, input);
  std::string whole_msg = backend_.delivered["user.alice"].at(0);
  backend_.delivered.clear();
  auto s = open();
  std::string got;
  for (char c : input) got += talk(*s, std::string_view(&c, 1));
  EXPECT_EQ(got, expected);
  EXPECT_EQ(backend_.delivered["user.alice"].at(0), whole_msg);
}

TEST_F(SessionTest, BareLfClient) {
  auto s = open();
  std::string out =
      talk(*s, "LHLO c\nMAIL FROM:<a@b>\nRCPT TO:<alice>\nDATA\nS: 1\n\nline\n..dot\n.\nQUIT\n");
  EXPECT_NE(out.find("354 go ahead\r\n250 2.1.5 Ok\r\n221 2.0.0 bye\r\n"), std::string::npos);
  const std::string& msg = backend_.delivered["user.alice"].at(0);
  EXPECT_NE(msg.find("S: 1\r\n\r\nline\r\n.dot\r\n"), std::string::npos);
  EXPECT_EQ(msg.find("\r\n\n"), std::string::npos);
}

TEST_F(SessionTest, UnknownRecipientAmongGoodOnes) {
  auto s = open();
  std::string out = talk(*s,
                         "LHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<ghost@x>\r\nRCPT TO:<alice@x>\r\n"
                         "RCPT TO:<late@x>\r\nDATA\r\nhi\r\n.\r\n");
  EXPECT_NE(out.find("550 5.1.1 User unknown\r\n250 2.1.5 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n"
                     "250 2.1.5 Ok\r\n452 4.2.2 Over quota\r\n"),
            std::string::npos)
      << out;
  EXPECT_EQ(backend_.delivered.size(), 1u);
  EXPECT_EQ(backend_.delivered.count("user.ghost"), 0u);
}

TEST_F(SessionTest, OverQuotaTemporaryOrPermanent) {
  auto s = open();
  talk(*s, "LHLO c\r\nMAIL FROM:<a@b>\r\n");
  EXPECT_EQ(talk(*s, "RCPT TO:<full>\r\n"), "452 4.2.2 Over quota\r\n");
  EXPECT_EQ(talk(*s, "RCPT TO:<full> IGNOREQUOTA\r\n"), "250 2.1.5 ok\r\n");
  auto p = open(true, nullptr, true);
  talk(*p, "LHLO c\r\nMAIL FROM:<a@b>\r\n");
  EXPECT_EQ(talk(*p, "RCPT TO:<full>\r\n"), "552 5.2.2 Over quota\r\n");
}

TEST_F(SessionTest, DeclaredSizeOverLimit) {
  auto s = open();
  talk(*s, "LHLO c\r\n");
  EXPECT_EQ(talk(*s, "MAIL FROM:<a@b> SIZE=1001\r\n"),
            "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
  EXPECT_EQ(talk(*s, "MAIL FROM:<a@b> SIZE=1000\r\n"), "250 2.1.0 ok\r\n");
}

TEST_F(SessionTest, MessageOverLimitIsReadToItsEndAndRefused) {
  auto s = open();
  talk(*s, "LHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<alice>\r\nRCPT TO:<bob>\r\nDATA\r\n");
  std::string body;
  for (int i = 0; i < 30; ++i) body += std::string(60, 'x') + "\r\n";
  EXPECT_EQ(talk(*s, body), "");
  EXPECT_EQ(talk(*s, ".\r\nNOOP\r\n"),
            "552 5.3.4 Message size exceeds fixed maximum message size\r\n"
            "552 5.3.4 Message size exceeds fixed maximum message size\r\n250 2.0.0 ok\r\n");
  EXPECT_TRUE(backend_.delivered.empty());
  EXPECT_EQ(s->state(), Session::State::kReady);
}

TEST_F(SessionTest, BadSequence) {
  auto s = open();
  EXPECT_EQ(talk(*s, "MAIL FROM:<a@b>\r\n"), "503 5.5.1 Need LHLO command\r\n");
  talk(*s, "LHLO c\r\n");
  EXPECT_EQ(talk(*s, "RCPT TO:<alice>\r\n"), "503 5.5.1 Need MAIL command\r\n");
  EXPECT_EQ(talk(*s, "DATA\r\n"), "503 5.5.1 Need MAIL command\r\n");
  EXPECT_EQ(talk(*s, "MAIL FROM:<a@b>\r\n"), "250 2.1.0 ok\r\n");
  EXPECT_EQ(talk(*s, "MAIL FROM:<a@b>\r\n"), "503 5.5.1 Nested MAIL command\r\n");
  EXPECT_EQ(talk(*s, "DATA\r\n"), "503 5.5.1 No recipients\r\n");
  EXPECT_EQ(talk(*s, "RSET\r\n"), "250 2.0.0 ok\r\n");
  EXPECT_EQ(talk(*s, "RCPT TO:<alice>\r\n"), "503 5.5.1 Need MAIL command\r\n");
}

TEST_F(SessionTest, BadSyntaxKeepsTheConnectionUsable) {
  auto s = open();
  EXPECT_EQ(talk(*s, "LHLO\r\n"), "501 5.5.4 Syntax error in parameters\r\n");
  EXPECT_EQ(talk(*s, "EHLO c\r\n"), "500 5.5.2 Syntax error\r\n");
  EXPECT_EQ(talk(*s, "HELLO\r\n"), "500 5.5.2 Syntax error\r\n");
  talk(*s, "LHLO c\r\n");
  EXPECT_EQ(talk(*s, "MAIL FROM:a@b\r\n"), "501 5.5.4 Syntax error in parameters\r\n");
  EXPECT_EQ(talk(*s, "MAIL FROM:<a@b> FOO=BAR\r\n"), "501 5.5.4 Unrecognized parameters\r\n");
  EXPECT_EQ(talk(*s, "MAIL FROM:<a@b> BODY=BINARYMIME\r\n"),
            "501 5.5.4 Unrecognized BODY type\r\n");
  EXPECT_EQ(talk(*s, "MAIL FROM:<a@b>\r\n"), "250 2.1.0 ok\r\n");
  EXPECT_EQ(talk(*s, "RCPT TO:<a..b@c>\r\n"), "501 5.5.4 Syntax error in parameters\r\n");
  EXPECT_EQ(talk(*s, "RCPT TO:<alice> NOTIFY=NEVER\r\n"), "501 5.5.4 Unrecognized parameters\r\n");
  EXPECT_EQ(talk(*s, "DATA now\r\n"), "503 5.5.1 No recipients\r\n");
  EXPECT_EQ(talk(*s, "VRFY alice\r\n"), "252 2.3.3 try RCPT to attempt delivery\r\n");
  EXPECT_EQ(talk(*s, "NOOP\r\n"), "250 2.0.0 ok\r\n");
}

TEST_F(SessionTest, OverlongCommandLineIsRefusedAndSkipped) {
  auto s = open();
  std::string longline(kMaxCommandLine + 10, 'A');
  EXPECT_EQ(talk(*s, longline), "");
  EXPECT_EQ(talk(*s, longline + "\r\nNOOP\r\n"), "500 5.5.2 Line too long\r\n250 2.0.0 ok\r\n");
  std::string exact = "NOOP " + std::string(kMaxCommandLine - 5, 'x') + "\r\n";
  EXPECT_EQ(talk(*s, exact), "250 2.0.0 ok\r\n");
}

TEST_F(SessionTest, RecipientCountIsBounded) {
  auto s = open();
  talk(*s, "LHLO c\r\nMAIL FROM:<a@b>\r\n");
  std::string many;
  for (size_t i = 0; i < kMaxRecipients; ++i) many += "RCPT TO:<alice>\r\n";
  s->feed(many);
  (void)s->take_output();
  EXPECT_EQ(talk(*s, "RCPT TO:<bob>\r\n"), "452 4.5.3 Too many recipients\r\n");
  EXPECT_EQ(talk(*s, "DATA\r\n"), "354 go ahead\r\n");
}

TEST_F(SessionTest, ExistingReturnPathIsReplaced) {
  auto s = open();
  talk(*s,
       "LHLO c\r\nMAIL FROM:<real@x>\r\nRCPT TO:<alice>\r\nDATA\r\n"
       "Return-Path: <forged@evil>\r\nSubject: s\r\n\r\nReturn-Path: body\r\n.\r\n");
  const std::string& msg = backend_.delivered["user.alice"].at(0);
  EXPECT_EQ(msg.find("forged"), std::string::npos);
  EXPECT_NE(msg.find("Subject: s\r\n\r\nReturn-Path: body\r\n"), std::string::npos);
  EXPECT_EQ(msg.rfind("Return-Path: <real@x>\r\n", 0), 0u);
}

TEST_F(SessionTest, BareSenderIsQualified) {
  auto s = open();
  talk(*s, "LHLO c\r\nMAIL FROM:<root>\r\nRCPT TO:<alice>\r\nDATA\r\nx\r\n.\r\n");
  EXPECT_EQ(backend_.delivered["user.alice"].at(0).rfind("Return-Path: <root@mx.test>\r\n", 0), 0u);
}

// A full spool (or filesystem quota) is 452 4.3.1, at DATA or after it.
TEST_F(SessionTest, AFullSpoolIsInsufficientSystemStorage) {
  auto s = open();
  backend_.full_at_begin = true;
  EXPECT_EQ(talk(*s, "LHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<alice>\r\nDATA\r\n")
                .substr(std::string(kLhloReply).size()),
            "250 2.1.0 ok\r\n250 2.1.5 ok\r\n452 4.3.1 Insufficient system storage\r\n");
  backend_.full_at_begin = false;
  backend_.full = true;
  EXPECT_EQ(talk(*s, "MAIL FROM:<a@b>\r\nRCPT TO:<alice>\r\nDATA\r\nx\r\n.\r\n"),
            "250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n"
            "452 4.3.1 Insufficient system storage\r\n");
  EXPECT_TRUE(backend_.delivered.empty());
  backend_.full = false;
  EXPECT_EQ(talk(*s, "MAIL FROM:<a@b>\r\nRCPT TO:<alice>\r\nDATA\r\nx\r\n.\r\n"),
            "250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n250 2.1.5 Ok\r\n");
}

TEST_F(SessionTest, StorageFailuresAreTemporary) {
  auto s = open();
  backend_.fail_begin = true;
  EXPECT_EQ(talk(*s, "LHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<alice>\r\nDATA\r\n")
                .substr(std::string(kLhloReply).size()),
            "250 2.1.0 ok\r\n250 2.1.5 ok\r\n451 4.3.0 cannot create temporary file\r\n");
  EXPECT_EQ(talk(*s, "RCPT TO:<alice>\r\n"), "503 5.5.1 Need MAIL command\r\n");
  backend_.fail_begin = false;
  backend_.fail_writes = true;
  EXPECT_EQ(talk(*s, "MAIL FROM:<a@b>\r\nRCPT TO:<alice>\r\nDATA\r\nx\r\n.\r\n"),
            "250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n451 4.3.0 System I/O error\r\n");
  EXPECT_TRUE(backend_.delivered.empty());
}

TEST_F(SessionTest, AuthenticationRequiredWithoutPreauth) {
  FakeSasl sasl;
  auto s = open(false, &sasl);
  std::string lhlo = talk(*s, "LHLO c\r\n");
  EXPECT_NE(lhlo.find("250-AUTH PLAIN LOGIN\r\n"), std::string::npos);
  EXPECT_EQ(talk(*s, "MAIL FROM:<a@b>\r\n"), "530 5.7.0 Authentication required\r\n");
  // "\0alice\0secret" in base64.
  EXPECT_EQ(talk(*s, "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"),
            "235 2.7.0 Authentication successful\r\n");
  EXPECT_EQ(s->auth_user(), "alice");
  EXPECT_EQ(talk(*s, "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"), "503 5.5.1 Already authenticated\r\n");
  EXPECT_EQ(talk(*s, "LHLO c\r\n").find("AUTH"), std::string::npos);
  talk(*s, "MAIL FROM:<a@b>\r\nRCPT TO:<bob>\r\nDATA\r\nx\r\n.\r\n");
  const std::string& msg = backend_.delivered["user.bob"].at(0);
  EXPECT_NE(msg.find("([127.0.0.1]) (authenticated user=alice)\r\n"), std::string::npos);
  EXPECT_NE(msg.find("with LMTPA\r\n"), std::string::npos);
}

TEST_F(SessionTest, AuthResponsesMayBeLongButNotUnbounded) {
  FakeSasl sasl;
  auto s = open(false, &sasl);
  talk(*s, "LHLO c\r\n");
  std::string big(kMaxCommandLine + 100, 'A');  // valid base64, wrong credentials
  EXPECT_EQ(talk(*s, "AUTH PLAIN\r\n" + big + "\r\n"),
            "334 \r\n535 5.7.8 Authentication credentials invalid\r\n");
  std::string huge(kMaxAuthLine + 4, 'A');
  EXPECT_EQ(talk(*s, "AUTH PLAIN\r\n" + huge + "\r\nNOOP\r\n"),
            "334 \r\n501 5.5.4 Authentication response too long\r\n250 2.0.0 ok\r\n");
  EXPECT_EQ(s->state(), Session::State::kReady);
}

// A login policy that locks the client out after `limit` failures.
class CountingPolicy : public net::LoginPolicy {
 public:
  explicit CountingPolicy(int limit) : limit_(limit) {}
  net::LoginCheck before_attempt(std::string_view) override { return check(); }
  void failed(std::string_view) override { ++failures; }
  net::LoginCheck succeeded(std::string_view, bool count) override {
    counted += count ? 1 : 0;
    return check();
  }
  void logged_out() override {}
  int failures = 0;
  int counted = 0;

 private:
  net::LoginCheck check() const {
    net::LoginCheck c;
    if (failures >= limit_) c.kind = net::LoginCheck::Kind::kLockedOut;
    return c;
  }
  int limit_;
};

TEST_F(SessionTest, FailedAuthIsCountedAndALockedOutClientIsRefused) {
  FakeSasl sasl;
  SessionOptions o;
  CountingPolicy policy(2);
  o.login = &policy;
  Session s(backend_, &sasl, o);
  s.feed("LHLO c\r\nAUTH PLAIN AGFsaWNlAHdyb25n\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
  EXPECT_EQ(policy.failures, 1);
  EXPECT_EQ(policy.counted, 0);  // LMTP sessions are not maxlogins sessions
  EXPECT_EQ(s.auth_user(), "alice");

  Session locked(backend_, &sasl, o);
  locked.feed("LHLO c\r\nAUTH PLAIN AGFsaWNlAHdyb25n\r\n");
  EXPECT_EQ(policy.failures, 2);
  (void)locked.take_output();
  locked.feed("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
  EXPECT_EQ(locked.take_output(), "454 4.7.0 Too many failed logins, try again later\r\n");
  EXPECT_EQ(locked.auth_user(), "");
}

TEST_F(SessionTest, AuthExchangeContinuationCancelAndFailure) {
  FakeSasl sasl;
  auto s = open(false, &sasl);
  talk(*s, "LHLO c\r\n");
  EXPECT_EQ(talk(*s, "AUTH PLAIN\r\n"), "334 \r\n");
  EXPECT_EQ(s->state(), Session::State::kAuth);
  EXPECT_EQ(talk(*s, "*\r\n"), "501 5.5.4 client canceled authentication\r\n");
  EXPECT_EQ(s->state(), Session::State::kReady);
  EXPECT_EQ(talk(*s, "AUTH PLAIN\r\n!!!\r\n"),
            "334 \r\n501 5.5.4 cannot decode base64 response\r\n");
  EXPECT_EQ(talk(*s, "AUTH PLAIN AGFsaWNlAHdyb25n\r\n"),
            "535 5.7.8 Authentication credentials invalid\r\n");
  EXPECT_EQ(talk(*s, "AUTH CRAM-MD5\r\n"), "504 5.5.4 Unrecognized authentication type\r\n");
  EXPECT_EQ(talk(*s, "AUTH PLAIN @@@\r\n"), "501 5.5.4 cannot decode base64 response\r\n");
  EXPECT_EQ(talk(*s, "AUTH PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\n"),
            "334 \r\n235 2.7.0 Authentication successful\r\n");
  EXPECT_EQ(talk(*s, "MAIL FROM:<a@b>\r\n"), "250 2.1.0 ok\r\n");
}

TEST_F(SessionTest, RcptIdentityIsAuthParamElseSaslUser) {
  FakeSasl sasl;
  auto s = open(false, &sasl);
  talk(*s, "LHLO c\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nMAIL FROM:<a@b>\r\nRCPT TO:<bob>\r\n");
  EXPECT_EQ(backend_.last_authuser, "alice");
  talk(*s, "RSET\r\nMAIL FROM:<a@b> AUTH=carol\r\nRCPT TO:<bob>\r\n");
  EXPECT_EQ(backend_.last_authuser, "carol");
  auto anon = open();
  talk(*anon, "LHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<bob>\r\n");
  EXPECT_EQ(backend_.last_authuser, "");
}

TEST_F(SessionTest, AuthNotOfferedWithoutSasl) {
  auto s = open(false, nullptr);
  EXPECT_EQ(talk(*s, "LHLO c\r\n").find("AUTH"), std::string::npos);
  EXPECT_EQ(talk(*s, "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"), "500 5.5.2 Syntax error\r\n");
  EXPECT_EQ(talk(*s, "MAIL FROM:<a@b>\r\n"), "530 5.7.0 Authentication required\r\n");
}

TEST_F(SessionTest, RandomGarbageNeverCrashes) {
  uint32_t seed = 12345;
  auto next = [&seed] {
    seed = seed * 1103515245 + 12345;
    return (seed >> 16) & 0x7fff;
  };
  static const char* kPieces[] = {"LHLO x\r\n",
                                  "MAIL FROM:<a@b>\r\n",
                                  "RCPT TO:<alice>\r\n",
                                  "DATA\r\n",
                                  ".\r\n",
                                  "\r\n",
                                  "\n",
                                  "RSET\r\n",
                                  "AUTH PLAIN\r\n",
                                  "\x01\xff",
                                  "..\r\n",
                                  "RCPT TO:<\"a\\"};
  for (int round = 0; round < 200; ++round) {
    FakeSasl sasl;
    auto s = open(round % 2 == 0, &sasl);
    for (int i = 0; i < 40; ++i) s->feed(kPieces[next() % std::size(kPieces)]);
    std::string out = s->take_output();
    EXPECT_LT(out.size(), 100000u);
  }
}

}  // namespace
}  // namespace replimail::lmtp
