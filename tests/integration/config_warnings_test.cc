// imapd.conf options replimail does not implement are said once, by master,
// at start-up and at each SIGHUP, never by each worker; options that cannot
// be ignored safely stop the start-up (docs/CYRUS-NOTES.md, issue 14).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <utility>

#include "harness.h"

namespace replimail::testing {
namespace {

size_t count_of(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// A line-at-a-time client on a loopback port (10 s read timeout).
class Client {
 public:
  explicit Client(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  // The next line, "" on EOF or timeout.
  std::string line() {
    char c;
    std::string got;
    while (fd_ >= 0 && ::read(fd_, &c, 1) == 1) {
      got += c;
      if (c == '\n') return got;
    }
    return "";
  }
  void send(const std::string& text) {
    if (fd_ >= 0 && ::write(fd_, text.data(), text.size()) < 0) ::close(std::exchange(fd_, -1));
  }

 private:
  int fd_ = -1;
};

// Connects to a service and reads its greeting: a worker has read imapd.conf.
std::string greeting(int port) { return Client(port).line(); }

TEST(ConfigWarnings, IgnoredOptionsAreNamedOnceByMasterPerLoad) {
  Instance::Options o;
  o.services = {{"lmtp", "lmtpd -a"}, {"imap", "imapd"}, {"pop3", "pop3d"}};
  o.prefork = 2;
  o.imapd_extra = {"allowanonymouslogin: no", "duplicate_db: twoskip", "frobnicate_widgets: 3"};
  Instance inst(o);
  ASSERT_EQ(inst.start(), "");
  // Every service's workers have read imapd.conf by the time they greet.
  for (const char* svc : {"lmtp", "imap", "pop3", "imap", "lmtp"})
    ASSERT_NE(greeting(inst.port(svc)), "") << svc << "\n" << inst.master_log();
  std::string log = inst.master_log();
  EXPECT_EQ(count_of(log, "'allowanonymouslogin'"), 1u) << log;
  EXPECT_EQ(count_of(log, "'duplicate_db'"), 1u) << log;
  EXPECT_EQ(count_of(log, "unknown option 'frobnicate_widgets'"), 1u) << log;
  EXPECT_NE(log.find("option 'allowanonymouslogin' is a Cyrus option replimail does not implement"),
            std::string::npos)
      << log;

  // A reload says it again, once, and the workers it replaces say nothing.
  inst.reload();
  ASSERT_TRUE(wait_until([&] { return count_of(inst.master_log(), "'allowanonymouslogin'") >= 2; },
                         std::chrono::seconds(10)))
      << inst.master_log();
  for (const char* svc : {"lmtp", "imap", "pop3"})
    ASSERT_NE(greeting(inst.port(svc)), "") << svc << "\n" << inst.master_log();
  log = inst.master_log();
  EXPECT_EQ(count_of(log, "'allowanonymouslogin'"), 2u) << log;
  EXPECT_EQ(count_of(log, "'frobnicate_widgets'"), 2u) << log;
}

TEST(ConfigWarnings, RefusedOptionStopsMasterNamingIt) {
  Instance::Options o;
  o.imapd_extra = {"virtdomains: userid"};
  Instance inst(o);
  inst.write_configs();
  auto master = inst.run_master_to_exit();
  EXPECT_NE(master.exit_code, 0) << master.describe();
  std::string said = master.out + master.err + inst.master_log();
  EXPECT_NE(said.find("virtdomains"), std::string::npos) << master.describe();
  EXPECT_NE(said.find("mail at risk"), std::string::npos) << master.describe();
}

// failedloginpause (imapd.conf(5): "Time to pause after a failed login")
// in imapd and pop3d too, not only in lmtpd and sync_server. Only the
// lower bound is checked: the answer cannot come before the pause.
TEST(ConfigWarnings, FailedLoginPausesInImapdAndPop3d) {
  Instance::Options o;
  o.services = {{"lmtp", "lmtpd -a"}, {"imap", "imapd"}, {"pop3", "pop3d"}};
  o.imapd_extra = {"failedloginpause: 2"};
  Instance inst(o);
  ASSERT_EQ(inst.start(), "");
  using Clock = std::chrono::steady_clock;
  {
    Client imap(inst.port("imap"));
    ASSERT_NE(imap.line(), "");
    auto t0 = Clock::now();
    imap.send("a LOGIN admin wrong-password\r\n");
    std::string answer = imap.line();
    EXPECT_TRUE(answer.starts_with("a NO")) << answer;
    EXPECT_GE(Clock::now() - t0, std::chrono::seconds(2));
  }
  {
    Client pop(inst.port("pop3"));
    ASSERT_NE(pop.line(), "");
    pop.send("USER admin\r\n");
    ASSERT_TRUE(pop.line().starts_with("+OK"));
    auto t0 = Clock::now();
    pop.send("PASS wrong-password\r\n");
    std::string answer = pop.line();
    EXPECT_TRUE(answer.starts_with("-ERR")) << answer;
    EXPECT_GE(Clock::now() - t0, std::chrono::seconds(2));
  }
}

// quotawarn: SELECT of a mailbox whose quota root is above it says so
// first, in Cyrus's words, to a user who may expunge there.
TEST(ConfigWarnings, QuotawarnAlertsOnSelect) {
  Instance::Options o;
  o.services = {{"lmtp", "lmtpd -a"}, {"imap", "imapd"}};
  o.users = {{"admin", "adminpw"}, {"alice", "alicepw"}};
  o.imapd_extra = {"autocreate_post: yes", "autocreate_quota: 1", "quotawarn: 50"};
  Instance inst(o);
  ASSERT_EQ(inst.start(), "");
  {
    Client lmtp(inst.lmtp_port());
    ASSERT_NE(lmtp.line(), "");
    lmtp.send("LHLO test\r\n");
    for (std::string l = lmtp.line(); l.size() > 3 && l[3] == '-'; l = lmtp.line()) {
    }
    lmtp.send("MAIL FROM:<bob@example.org>\r\n");
    ASSERT_TRUE(lmtp.line().starts_with("250"));
    lmtp.send("RCPT TO:<alice>\r\n");
    ASSERT_TRUE(lmtp.line().starts_with("250"));
    lmtp.send("DATA\r\n");
    ASSERT_TRUE(lmtp.line().starts_with("354"));
    // With the headers lmtpd adds, well over half of the INBOX's 1 KiB.
    lmtp.send("Subject: big\r\n\r\n" + std::string(500, 'x') + "\r\n.\r\n");
    std::string delivered = lmtp.line();
    ASSERT_TRUE(delivered.starts_with("250")) << delivered;
  }
  Client imap(inst.port("imap"));
  ASSERT_NE(imap.line(), "");
  imap.send("a LOGIN alice alicepw\r\n");
  for (std::string l = imap.line(); !l.starts_with("a "); l = imap.line()) ASSERT_NE(l, "");
  imap.send("b SELECT INBOX\r\n");
  std::string alerts;
  for (std::string l = imap.line(); !l.starts_with("b "); l = imap.line()) {
    ASSERT_NE(l, "");
    if (l.starts_with("* NO [ALERT]")) alerts += l;
  }
  EXPECT_TRUE(alerts.starts_with("* NO [ALERT] Mailbox is at ")) << alerts;
  EXPECT_NE(alerts.find("% of STORAGE quota\r\n"), std::string::npos) << alerts;
}

// syslog_prefix: every program's lines, master's and the workers', carry
// "<prefix>/<program>" as Cyrus's syslog idents do.
TEST(ConfigWarnings, SyslogPrefixNamesEveryProgram) {
  Instance::Options o;
  o.imapd_extra = {"syslog_prefix: mailhost"};
  Instance inst(o);
  ASSERT_EQ(inst.start(), "");
  ASSERT_NE(greeting(inst.lmtp_port()), "");
  ASSERT_TRUE(
      wait_until([&] { return inst.master_log().find("mailhost/lmtpd[") != std::string::npos; },
                 std::chrono::seconds(10)))
      << inst.master_log();
  EXPECT_NE(inst.master_log().find("mailhost/master["), std::string::npos) << inst.master_log();
  EXPECT_EQ(inst.master_log().find("syslog_prefix"), std::string::npos) << inst.master_log();
}

}  // namespace
}  // namespace replimail::testing
