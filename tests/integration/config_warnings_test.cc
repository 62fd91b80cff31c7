// imapd.conf options replimail does not implement are said once, by master,
// at start-up and at each SIGHUP, never by each worker; options that cannot
// be ignored safely stop the start-up (docs/CYRUS-NOTES.md, issue 14).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

#include "harness.h"

namespace replimail::testing {
namespace {

size_t count_of(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// Connects to a service and reads its greeting: a worker has read imapd.conf.
std::string greeting(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string got;
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
    char buf[512];
    while (got.find('\n') == std::string::npos) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return got;
}

TEST(ConfigWarnings, IgnoredOptionsAreNamedOnceByMasterPerLoad) {
  Instance::Options o;
  o.services = {{"lmtp", "lmtpd -a"}, {"imap", "imapd"}, {"pop3", "pop3d"}};
  o.prefork = 2;
  o.imapd_extra = {"quotawarn: 80", "duplicatesuppression: 1", "frobnicate_widgets: 3"};
  Instance inst(o);
  ASSERT_EQ(inst.start(), "");
  // Every service's workers have read imapd.conf by the time they greet.
  for (const char* svc : {"lmtp", "imap", "pop3", "imap", "lmtp"})
    ASSERT_NE(greeting(inst.port(svc)), "") << svc << "\n" << inst.master_log();
  std::string log = inst.master_log();
  EXPECT_EQ(count_of(log, "'quotawarn'"), 1u) << log;
  EXPECT_EQ(count_of(log, "'duplicatesuppression'"), 1u) << log;
  EXPECT_EQ(count_of(log, "unknown option 'frobnicate_widgets'"), 1u) << log;
  EXPECT_NE(log.find("option 'quotawarn' is a Cyrus option replimail does not implement"),
            std::string::npos)
      << log;

  // A reload says it again, once, and the workers it replaces say nothing.
  inst.reload();
  ASSERT_TRUE(wait_until([&] { return count_of(inst.master_log(), "'quotawarn'") >= 2; },
                         std::chrono::seconds(10)))
      << inst.master_log();
  for (const char* svc : {"lmtp", "imap", "pop3"})
    ASSERT_NE(greeting(inst.port(svc)), "") << svc << "\n" << inst.master_log();
  log = inst.master_log();
  EXPECT_EQ(count_of(log, "'quotawarn'"), 2u) << log;
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

}  // namespace
}  // namespace replimail::testing
