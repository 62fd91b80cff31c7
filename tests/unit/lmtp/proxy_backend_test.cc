// lmtpproxyd's forwarding (lmtp/proxy_backend.h) behind the real LMTP
// session, against a scripted slot lmtpd on a loopback socket; and the pure
// pieces it uses (DotEncoder, parse_reply_line).
#include "lmtp/proxy_backend.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "../../support/temp_dir.h"
#include "lmtp/session.h"
#include "net/stream.h"

namespace replimail::lmtp {
namespace {

TEST(DotEncoder, StuffsLeadingDotsAndEndsTheMessage) {
  DotEncoder e;
  std::string out;
  e.feed(".first\r\nmid.dle\r\n..two\r\n.", &out);
  e.finish(&out);
  EXPECT_EQ(out, "..first\r\nmid.dle\r\n...two\r\n..\r\n.\r\n");
}

TEST(DotEncoder, ByteByByteIsTheSameAndRoundTripsThroughDotDecoder) {
  const std::string msg = "Subject: x\r\n\r\n.a\r\n.\r\nb.\r\n..\r\n";
  std::string whole, split;
  DotEncoder a, b;
  a.feed(msg, &whole);
  a.finish(&whole);
  for (char c : msg) b.feed(std::string_view(&c, 1), &split);
  b.finish(&split);
  EXPECT_EQ(whole, split);
  DotDecoder d;
  std::string back;
  EXPECT_EQ(d.feed(whole, &back), whole.size());
  EXPECT_TRUE(d.done());
  EXPECT_EQ(back, msg);
}

TEST(DotEncoder, MessageWithoutFinalLineEnd) {
  DotEncoder e;
  std::string out;
  e.feed("no newline", &out);
  e.finish(&out);
  EXPECT_EQ(out, "no newline\r\n.\r\n");
}

TEST(ParseLhloExtensions, TheKeywordsOfTheLinesAfterTheFirst) {
  auto ext = parse_lhlo_extensions(
      {"250-slot.example", "250-8BITMIME", "250-size 1000", "250-AUTH PLAIN", "250 IGNOREQUOTA"});
  EXPECT_TRUE(ext.size);
  EXPECT_TRUE(ext.eight_bit);
  EXPECT_TRUE(ext.auth);
  // The first line is the server's name, whatever it says; a keyword is a
  // whole word.
  ext = parse_lhlo_extensions({"250-SIZE", "250-SIZEX", "250-AUTHX", "250 PIPELINING"});
  EXPECT_FALSE(ext.size);
  EXPECT_FALSE(ext.eight_bit);
  EXPECT_FALSE(ext.auth);
}

TEST(MailFromCommand, OnlyWhatTheSlotAdvertised) {
  MailParams m{"a@b.example", 1234, "8BITMIME", "bob=x+y"};
  EXPECT_EQ(mail_from_command(m, {}), "MAIL FROM:<a@b.example>");
  EXPECT_EQ(mail_from_command(m, {true, true, true}),
            "MAIL FROM:<a@b.example> SIZE=1234 BODY=8BITMIME AUTH=bob+3Dx+2By");
  EXPECT_EQ(mail_from_command(m, {true, false, false}), "MAIL FROM:<a@b.example> SIZE=1234");
  // BODY and AUTH only when the MTA gave them.
  EXPECT_EQ(mail_from_command({"", 7, "", ""}, {true, true, true}), "MAIL FROM:<> SIZE=7");
}

TEST(EncodeXtext, EscapesPlusEqualsAndNonPrintables) {
  EXPECT_EQ(encode_xtext("alice@example.org"), "alice@example.org");
  EXPECT_EQ(encode_xtext("a+b=c d\xc3\xa9"), "a+2Bb+3Dc+20d+C3+A9");
}

TEST(UnreachableSlots, UntilItsTimeOrAnAnswer) {
  UnreachableSlots u;
  const Route a{"a", "10.0.0.1", 2003}, b{"b", "10.0.0.1", 2004};
  const auto now = UnreachableSlots::Clock::now();
  EXPECT_FALSE(u.unreachable(a, now));
  u.failed(a, now + std::chrono::seconds(2));
  EXPECT_TRUE(u.unreachable(a, now + std::chrono::seconds(1)));
  EXPECT_FALSE(u.unreachable(b, now + std::chrono::seconds(1)));
  EXPECT_FALSE(u.unreachable(a, now + std::chrono::seconds(2)));
  u.failed(a, now + std::chrono::seconds(2));
  u.answered(a);
  EXPECT_FALSE(u.unreachable(a, now));
}

TEST(ParseReplyLine, LastAndContinuationLines) {
  auto a = parse_reply_line("250-mx.test");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->code, 250);
  EXPECT_FALSE(a->last);
  EXPECT_EQ(a->text, "mx.test");
  auto b = parse_reply_line("452 4.2.2 Over quota");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->code, 452);
  EXPECT_TRUE(b->last);
  EXPECT_EQ(b->text, "4.2.2 Over quota");
  auto c = parse_reply_line("354");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->code, 354);
  EXPECT_TRUE(c->last);
  for (const char* bad : {"", "25", "abc def", "2500 x", "250x", "650 no", "150 no"})
    EXPECT_FALSE(parse_reply_line(bad).ok()) << bad;
}

// A slot's lmtpd, scripted: one connection at a time, on 127.0.0.1. RCPT of
// "nobody" gets 550; after the final dot each accepted recipient gets
// final[user] or 250. With drop_after_dot it closes instead of answering.
class FakeSlot {
 public:
  FakeSlot() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd_, 4);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeSlot() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
  }
  uint16_t port() const { return port_; }

  std::map<std::string, std::string> final;
  std::atomic<bool> drop_after_dot{false};
  // Its LHLO reply (set before the proxy connects).
  std::string lhlo = "250-slot\r\n250 PIPELINING\r\n";
  // Run after a message is read, before its replies (set before the proxy
  // connects).
  std::function<void()> before_final;
  // What it was sent: commands (MAIL, RCPT lines) and the messages.
  std::vector<std::string> commands() {
    std::lock_guard<std::mutex> l(mu_);
    return commands_;
  }
  std::vector<std::string> messages() {
    std::lock_guard<std::mutex> l(mu_);
    return messages_;
  }

 private:
  void serve() {
    while (!stop_) {
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      talk(c);
      close(c);
    }
  }
  void talk(int c) {
    net::Stream s(c);
    s.set_timeout(std::chrono::seconds(10));
    (void)s.write_flush("220 slot ready\r\n");
    std::vector<std::string> accepted;
    for (;;) {
      auto line = s.read_line(1000);
      if (!line.ok()) return;
      std::string verb = line->substr(0, 4);
      if (verb == "LHLO") {
        (void)s.write_flush(lhlo);
      } else if (verb == "MAIL") {
        record(*line);
        (void)s.write_flush("250 2.1.0 ok\r\n");
      } else if (verb == "RCPT") {
        record(*line);
        std::string who = line->substr(9, line->find('>') - 9);
        if (who == "nobody") {
          (void)s.write_flush("550 5.1.1 User unknown\r\n");
        } else {
          accepted.push_back(who);
          (void)s.write_flush("250 2.1.5 ok\r\n");
        }
      } else if (verb == "DATA") {
        (void)s.write_flush("354 go ahead\r\n");
        DotDecoder d;
        std::string msg;
        while (!d.done()) {
          auto piece = s.read_some(4096);
          if (!piece.ok()) return;
          d.feed(*piece, &msg);
        }
        {
          std::lock_guard<std::mutex> l(mu_);
          messages_.push_back(msg);
        }
        if (drop_after_dot) return;
        if (before_final) before_final();
        for (const std::string& who : accepted) {
          auto it = final.find(who);
          (void)s.write_flush((it == final.end() ? "250 2.1.5 Ok" : it->second) + "\r\n");
        }
        accepted.clear();
      } else if (verb == "QUIT") {
        (void)s.write_flush("221 bye\r\n");
        return;
      } else {
        (void)s.write_flush("500 what\r\n");
      }
    }
  }
  void record(const std::string& line) {
    std::lock_guard<std::mutex> l(mu_);
    commands_.push_back(line);
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> commands_;
  std::vector<std::string> messages_;
};

class FakeRouter : public Router {
 public:
  Result<Route> route(std::string_view userid) override {
    ++calls;
    auto it = routes.find(std::string(userid));
    if (it == routes.end()) return Status(Code::kMailboxNonexistent, "no user");
    return it->second;
  }
  std::map<std::string, Result<Route>> routes;
  int calls = 0;
};

// A port nothing listens on.
uint16_t closed_port() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

class ProxyBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spool_ = testing::make_temp_dir("proxy-spool-");
    ASSERT_FALSE(spool_.empty());
  }
  void TearDown() override { std::filesystem::remove_all(spool_); }

  // One connection of lmtpproxyd's session; the replies to `input`.
  std::string converse(const std::string& input, UnreachableSlots* unreachable = nullptr) {
    ProxyOptions po;
    po.servername = "proxy.test";
    po.spool_dir = spool_;
    po.connect_timeout = std::chrono::seconds(2);
    po.io_timeout = std::chrono::seconds(5);
    po.unreachable = unreachable;
    ProxyBackend backend(router_, po);
    SessionOptions so;
    so.servername = "proxy.test";
    so.preauth = true;
    so.client_host = "[127.0.0.1]";
    Session s(backend, nullptr, so);
    s.take_output();
    s.feed(input);
    return s.take_output();
  }
  Route slot_route(const FakeSlot& slot) { return Route{"s0", "127.0.0.1", slot.port()}; }

  std::string spool_;
  FakeRouter router_;
};

constexpr const char* kHead = "LHLO mta.test\r\nMAIL FROM:<sender@example.com>\r\n";
constexpr const char* kHeadReplies =
    "250-proxy.test\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n"
    "250-SIZE\r\n250 IGNOREQUOTA\r\n250 2.1.0 ok\r\n";

TEST_F(ProxyBackendTest, EachRecipientGetsItsSlotsOwnReplyAfterTheFinalDot) {
  FakeSlot slot;
  slot.final["full"] = "452 4.2.2 Over quota";
  router_.routes.emplace("alice", slot_route(slot));
  router_.routes.emplace("full", slot_route(slot));
  std::string out = converse(std::string(kHead) +
                             "RCPT TO:<alice@example.org>\r\nRCPT TO:<full>\r\nDATA\r\n"
                             "Subject: hi\r\n\r\n..dotted\r\n.\r\nQUIT\r\n");
  EXPECT_EQ(out, std::string(kHeadReplies) +
                     "250 2.1.5 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n"
                     "250 2.1.5 Ok\r\n452 4.2.2 Over quota\r\n221 2.0.0 bye\r\n");
  auto cmds = slot.commands();
  ASSERT_EQ(cmds.size(), 3u);
  EXPECT_EQ(cmds[0], "MAIL FROM:<sender@example.com>");
  EXPECT_EQ(cmds[1], "RCPT TO:<alice@example.org>");
  EXPECT_EQ(cmds[2], "RCPT TO:<full>");
  auto msgs = slot.messages();
  ASSERT_EQ(msgs.size(), 1u);
  // The proxy's trace headers, then the message with its leading dot intact.
  EXPECT_EQ(msgs[0].rfind("Return-Path: <sender@example.com>\r\nReceived: from mta.test", 0), 0u)
      << msgs[0];
  EXPECT_NE(msgs[0].find("by proxy.test"), std::string::npos);
  EXPECT_NE(msgs[0].find("\r\nSubject: hi\r\n\r\n.dotted\r\n"), std::string::npos) << msgs[0];
}

TEST_F(ProxyBackendTest, RcptAnswersFromTheDirectory) {
  router_.routes.emplace("moving", Status(Code::kMailboxMoved, "being moved"));
  router_.routes.emplace("down", Status(Code::kAgain, "slot not alive"));
  std::string out =
      converse(std::string(kHead) + "RCPT TO:<dave>\r\nRCPT TO:<moving>\r\nRCPT TO:<down>\r\n");
  EXPECT_EQ(out, std::string(kHeadReplies) +
                     "550 5.1.1 User unknown\r\n451 4.2.1 Mailbox Moved\r\n"
                     "451 4.3.0 transient system error\r\n");
}

TEST_F(ProxyBackendTest, SlotRefusingARecipientAtRcptIsThatRecipientsReply) {
  FakeSlot slot;
  router_.routes.emplace("nobody", slot_route(slot));
  router_.routes.emplace("bob", slot_route(slot));
  std::string out =
      converse(std::string(kHead) + "RCPT TO:<nobody>\r\nRCPT TO:<bob>\r\nDATA\r\nx\r\n.\r\n");
  EXPECT_EQ(out, std::string(kHeadReplies) +
                     "250 2.1.5 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n"
                     "550 5.1.1 User unknown\r\n250 2.1.5 Ok\r\n");
}

TEST_F(ProxyBackendTest, NoTwoFiftyWhenTheSlotDropsTheConnectionAfterTheDot) {
  FakeSlot slot;
  slot.drop_after_dot = true;
  router_.routes.emplace("alice", slot_route(slot));
  router_.routes.emplace("bob", slot_route(slot));
  std::string out =
      converse(std::string(kHead) + "RCPT TO:<alice>\r\nRCPT TO:<bob>\r\nDATA\r\nx\r\n.\r\n");
  EXPECT_EQ(out, std::string(kHeadReplies) +
                     "250 2.1.5 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n"
                     "451 4.4.2 Connection to slot s0 lost, try again later\r\n"
                     "451 4.4.2 Connection to slot s0 lost, try again later\r\n");
  EXPECT_EQ(slot.messages().size(), 1u);
}

TEST_F(ProxyBackendTest, UnreachableSlotIsATemporaryFailure) {
  router_.routes.emplace("alice", Route{"gone", "127.0.0.1", closed_port()});
  std::string out = converse(std::string(kHead) + "RCPT TO:<alice>\r\nDATA\r\nx\r\n.\r\n");
  EXPECT_EQ(out, std::string(kHeadReplies) + "250 2.1.5 ok\r\n354 go ahead\r\n" +
                     "451 4.4.1 Slot gone does not answer, try again later\r\n");
}

TEST_F(ProxyBackendTest, RoutedAgainAtTheFinalDot) {
  // alice's move starts (fence) between her RCPT and the end of DATA; bob
  // is moved to another slot meanwhile: his message goes there.
  FakeSlot old_slot, new_slot;
  router_.routes.emplace("alice", slot_route(old_slot));
  router_.routes.emplace("bob", slot_route(old_slot));
  ProxyOptions po;
  po.servername = "proxy.test";
  po.spool_dir = spool_;
  ProxyBackend backend(router_, po);
  SessionOptions so;
  so.servername = "proxy.test";
  so.preauth = true;
  Session s(backend, nullptr, so);
  s.take_output();
  s.feed(std::string(kHead) + "RCPT TO:<alice>\r\nRCPT TO:<bob>\r\nDATA\r\n");
  s.take_output();
  router_.routes.insert_or_assign("alice", Status(Code::kMailboxMoved, "being moved"));
  router_.routes.insert_or_assign("bob", Route{"s1", "127.0.0.1", new_slot.port()});
  s.feed("x\r\n.\r\n");
  EXPECT_EQ(s.take_output(), "451 4.2.1 Mailbox Moved\r\n250 2.1.5 Ok\r\n");
  EXPECT_TRUE(old_slot.messages().empty());
  ASSERT_EQ(new_slot.messages().size(), 1u);
  auto cmds = new_slot.commands();
  ASSERT_EQ(cmds.size(), 2u);
  EXPECT_EQ(cmds[1], "RCPT TO:<bob>");
}

}  // namespace
}  // namespace replimail::lmtp

namespace replimail::lmtp {
namespace {

TEST_F(ProxyBackendTest, MailParametersTheSlotAdvertisedArePassedOn) {
  FakeSlot plain, extended;
  extended.lhlo = "250-slot\r\n250-8BITMIME\r\n250-SIZE 100000\r\n250-AUTH PLAIN\r\n250 OK\r\n";
  router_.routes.emplace("alice", slot_route(plain));
  router_.routes.emplace("bob", Route{"s1", "127.0.0.1", extended.port()});
  std::string out = converse(
      "LHLO mta.test\r\nMAIL FROM:<s@example.com> SIZE=10 BODY=8BITMIME AUTH=carol+2Bx\r\n"
      "RCPT TO:<alice>\r\nRCPT TO:<bob>\r\nDATA\r\nhello\r\n.\r\n");
  EXPECT_NE(out.find("250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"), std::string::npos) << out;
  ASSERT_FALSE(plain.commands().empty());
  EXPECT_EQ(plain.commands()[0], "MAIL FROM:<s@example.com>");
  ASSERT_FALSE(extended.commands().empty());
  ASSERT_EQ(extended.messages().size(), 1u);
  // SIZE= is the size of what the slot receives (the proxy's trace headers
  // and the message), AUTH= the MTA's identity re-encoded.
  EXPECT_EQ(extended.commands()[0],
            "MAIL FROM:<s@example.com> SIZE=" + std::to_string(extended.messages()[0].size()) +
                " BODY=8BITMIME AUTH=carol+2Bx");
}

TEST_F(ProxyBackendTest, SlotsAreForwardedToInParallel) {
  // Each slot answers only once the other has the message: one slot after
  // the other (in either order), the first would give up (451) before the
  // second was even asked.
  FakeSlot a, b;
  auto wait_for = [](FakeSlot& self, FakeSlot& other, const std::string& who) {
    return [&self, &other, who] {
      for (int i = 0; i < 300 && other.messages().empty(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (other.messages().empty()) self.final[who] = "451 4.0.0 waited in vain";
    };
  };
  a.before_final = wait_for(a, b, "alice");
  b.before_final = wait_for(b, a, "bob");
  router_.routes.emplace("alice", slot_route(a));
  router_.routes.emplace("bob", Route{"s1", "127.0.0.1", b.port()});
  std::string out =
      converse(std::string(kHead) + "RCPT TO:<alice>\r\nRCPT TO:<bob>\r\nDATA\r\nx\r\n.\r\n");
  EXPECT_EQ(out, std::string(kHeadReplies) +
                     "250 2.1.5 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n"
                     "250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n");
}

TEST_F(ProxyBackendTest, ASlotThatDidNotAnswerIsDeferredAtOnceAndTheDirectoryReadAgain) {
  UnreachableSlots unreachable;
  const Route gone{"gone", "127.0.0.1", closed_port()};
  router_.routes.emplace("alice", gone);
  std::string first =
      converse(std::string(kHead) + "RCPT TO:<alice>\r\nDATA\r\nx\r\n.\r\n", &unreachable);
  EXPECT_EQ(first, std::string(kHeadReplies) + "250 2.1.5 ok\r\n354 go ahead\r\n" +
                       "451 4.4.1 Slot gone does not answer, try again later\r\n");
  // The next connection: deferred at RCPT, without trying the slot again.
  std::string again = converse(std::string(kHead) + "RCPT TO:<alice>\r\n", &unreachable);
  EXPECT_EQ(again, std::string(kHeadReplies) + "451 4.3.0 transient system error\r\n");
  // The directory names another slot now (a failover): the next recipient
  // goes there.
  FakeSlot promoted;
  router_.routes.insert_or_assign("alice", slot_route(promoted));
  std::string after =
      converse(std::string(kHead) + "RCPT TO:<alice>\r\nDATA\r\nx\r\n.\r\n", &unreachable);
  EXPECT_EQ(after,
            std::string(kHeadReplies) + "250 2.1.5 ok\r\n354 go ahead\r\n" + "250 2.1.5 Ok\r\n");
  EXPECT_EQ(promoted.messages().size(), 1u);
}

}  // namespace
}  // namespace replimail::lmtp
