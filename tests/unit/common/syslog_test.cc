// syslog_facility and the syslog sink (common/log.h): the facility names,
// the datagram, and lines reaching a unix datagram socket that stands in
// for /dev/log.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "../../support/temp_dir.h"
#include "common/config.h"
#include "common/log.h"

namespace replimail {
namespace {

TEST(SyslogTest, CyrusFacilityNamesMapToTheirCodes) {
  EXPECT_EQ(syslog_facility_code("MAIL"), LOG_MAIL);
  EXPECT_EQ(syslog_facility_code("mail"), LOG_MAIL);
  EXPECT_EQ(syslog_facility_code("DAEMON"), LOG_DAEMON);
  EXPECT_EQ(syslog_facility_code("NEWS"), LOG_NEWS);
  EXPECT_EQ(syslog_facility_code("USER"), LOG_USER);
  EXPECT_EQ(syslog_facility_code("LOCAL0"), LOG_LOCAL0);
  EXPECT_EQ(syslog_facility_code("local6"), LOG_LOCAL6);
  EXPECT_EQ(syslog_facility_code("LOCAL7"), LOG_LOCAL7);
  EXPECT_FALSE(syslog_facility_code("LOCAL8"));
  EXPECT_FALSE(syslog_facility_code("AUTH"));  // not one Cyrus accepts
  EXPECT_FALSE(syslog_facility_code(""));
}

TEST(SyslogTest, ConfigRefusesAnUnknownFacilityWithItsLine) {
  auto good = Config::parse("configdirectory: /x\nsyslog_facility: LOCAL3\n", "imapd.conf");
  ASSERT_TRUE(good.ok()) << good.status().to_string();
  EXPECT_EQ(good->get("syslog_facility"), "LOCAL3");
  EXPECT_TRUE(good->warnings().empty());
  auto bad = Config::parse("configdirectory: /x\nsyslog_facility: LOCAL9\n", "imapd.conf");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("imapd.conf:2"), std::string::npos)
      << bad.status().message();
  EXPECT_NE(bad.status().message().find("syslog_facility"), std::string::npos);
}

TEST(SyslogTest, SeveritiesAndTheDatagramFollowGlibc) {
  EXPECT_EQ(syslog_severity(spdlog::level::debug), LOG_DEBUG);
  EXPECT_EQ(syslog_severity(spdlog::level::info), LOG_INFO);
  EXPECT_EQ(syslog_severity(spdlog::level::warn), LOG_WARNING);
  EXPECT_EQ(syslog_severity(spdlog::level::err), LOG_ERR);
  EXPECT_EQ(syslog_severity(spdlog::level::critical), LOG_CRIT);
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  // 2026-03-05 07:08:09 UTC: the day is padded with a space.
  EXPECT_EQ(syslog_datagram(LOG_MAIL, LOG_ERR, 1772694489, "cyrus/imapd", 42, "error: boom"),
            "<19>Mar  5 07:08:09 cyrus/imapd[42]: error: boom");
}

TEST(SyslogTest, LinesReachTheSocketWithFacilityPrefixAndLevel) {
  std::string dir = replimail::testing::make_temp_dir("syslog_test.");
  std::string path = dir + "/log";
  int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  struct timeval tv = {5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  ::unsetenv("CYRUS_SYSLOG_PREFIX");
  init_logging("syslogtest");
  apply_syslog_prefix("cyrus");
  enable_syslog(LOG_LOCAL4, path);
  spdlog::warn("disk {} full", "nearly");
  char buf[1024];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  ASSERT_GT(n, 0) << std::strerror(errno);
  std::string got(buf, n);
  EXPECT_TRUE(got.starts_with(fmt::format("<{}>", LOG_LOCAL4 | LOG_WARNING))) << got;
  EXPECT_NE(
      got.find(" cyrus/syslogtest[" + std::to_string(::getpid()) + "]: warning: disk nearly full"),
      std::string::npos)
      << got;

  // syslogd restarted: a new socket at the same path is found again.
  ::close(fd);
  ::unlink(path.c_str());
  fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  spdlog::error("second");
  n = ::recv(fd, buf, sizeof buf, 0);
  ASSERT_GT(n, 0) << std::strerror(errno);
  EXPECT_NE(std::string(buf, n).find("error: second"), std::string::npos);
  ::close(fd);
  std::filesystem::remove_all(dir);
  spdlog::drop_all();
}

}  // namespace
}  // namespace replimail
