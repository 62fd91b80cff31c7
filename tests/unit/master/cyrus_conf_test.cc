#include "../../support/temp_dir.h"
#include "master/cyrus_conf.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace replimail::master {
namespace {

TEST(CyrusConfTest, ParsesEverySection) {
  auto conf = parse_cyrus_conf(
      "# cyrus.conf for a replica\n"
      "START {\n"
      "  recover cmd=\"ctl_cyrusdb -r\"   # runs first\n"
      "}\n"
      "services {\n"
      "  lmtp   cmd=\"lmtpd -a\" listen=\"127.0.0.1:2003\" prefork=1 maxchild=10\n"
      "  imap   cmd=imapd listen=imap maxforkrate=5 maxfds=100\n"
      "  sock   cmd=lmtpd listen=/var/run/lmtp proto=TCP babysit=yes\n"
      "}\n"
      "Events {\n"
      "  checkpoint cmd=\"ctl_cyrusdb -c\" period=30\n"
      "  delprune cmd=cyr_expire at=0400\n"
      "  once cmd=true\n"
      "}\n"
      "DAEMON {\n"
      "  syncclient cmd=\"sync_client -r -n replica\" wait=n\n"
      "}\n",
      "cyrus.conf");
  ASSERT_TRUE(conf.ok()) << conf.status().to_string();
  ASSERT_EQ(conf->start.size(), 1u);
  EXPECT_EQ(conf->start[0].name, "recover");
  EXPECT_EQ(conf->start[0].argv, (std::vector<std::string>{"ctl_cyrusdb", "-r"}));
  EXPECT_EQ(conf->start[0].line, 3);

  ASSERT_EQ(conf->services.size(), 3u);
  const auto& lmtp = conf->services[0];
  EXPECT_EQ(lmtp.argv, (std::vector<std::string>{"lmtpd", "-a"}));
  EXPECT_EQ(lmtp.address.host, "127.0.0.1");
  EXPECT_EQ(lmtp.address.port, 2003);
  EXPECT_EQ(lmtp.prefork, 1);
  EXPECT_EQ(lmtp.maxchild, 10);
  EXPECT_EQ(lmtp.maxforkrate, 0);
  const auto& imap = conf->services[1];
  EXPECT_EQ(imap.address.port, 143);
  EXPECT_EQ(imap.maxchild, -1);
  EXPECT_EQ(imap.maxforkrate, 5);
  const auto& sock = conf->services[2];
  EXPECT_EQ(sock.address.kind, net::ListenAddress::Kind::kUnix);
  EXPECT_EQ(sock.address.path, "/var/run/lmtp");
  EXPECT_TRUE(sock.babysit);
  EXPECT_EQ(sock.prefork, 1);
  EXPECT_EQ(sock.maxforkrate, 10);

  ASSERT_EQ(conf->events.size(), 3u);
  EXPECT_EQ(conf->events[0].period_minutes, 30);
  EXPECT_FALSE(conf->events[0].at.has_value());
  EXPECT_EQ(conf->events[1].at.value(), 400);
  EXPECT_EQ(conf->events[2].period_minutes, 0);

  ASSERT_EQ(conf->daemons.size(), 1u);
  EXPECT_EQ(conf->daemons[0].argv.size(), 4u);
  EXPECT_FALSE(conf->daemons[0].wait);
  EXPECT_EQ(conf->daemons[0].maxforkrate, 10);
  // maxfds is accepted but reported as ignored.
  ASSERT_EQ(conf->warnings.size(), 1u);
  EXPECT_NE(conf->warnings[0].find("maxfds"), std::string::npos);
}

TEST(CyrusConfTest, CommentInsideQuotesCutsTheLine) {
  // As in Cyrus, '#' starts a comment even inside quotes, so the quote is
  // left open.
  auto conf = parse_cyrus_conf("START {\n  a cmd=\"x # y\"\n}\n", "c.conf");
  ASSERT_FALSE(conf.ok());
  EXPECT_EQ(conf.status().message(), "c.conf:2: entry 'a': unterminated quote in cmd=");
}

TEST(CyrusConfTest, UnknownSectionIsSkippedWithWarning) {
  auto conf = parse_cyrus_conf("FOO {\n anything goes here\n}\nSTART {\n a cmd=x\n}\n", "c");
  ASSERT_TRUE(conf.ok()) << conf.status().to_string();
  EXPECT_EQ(conf->start.size(), 1u);
  ASSERT_EQ(conf->warnings.size(), 1u);
  EXPECT_EQ(conf->warnings[0], "c:1: unknown section 'FOO' ignored");
}

TEST(CyrusConfTest, EmptyTextIsAnEmptyTable) {
  auto conf = parse_cyrus_conf("# nothing\n\n", "c");
  ASSERT_TRUE(conf.ok());
  EXPECT_TRUE(conf->services.empty());
  EXPECT_TRUE(conf->daemons.empty());
}

struct BadCase {
  const char* text;
  const char* message;
};

class CyrusConfErrorTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(CyrusConfErrorTest, NamesFileAndLine) {
  auto conf = parse_cyrus_conf(GetParam().text, "cyrus.conf");
  ASSERT_FALSE(conf.ok());
  EXPECT_EQ(conf.status().code(), Code::kConfigError);
  EXPECT_EQ(conf.status().message(), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Errors, CyrusConfErrorTest,
    ::testing::Values(
        BadCase{"lmtp cmd=x\n", "cyrus.conf:1: expected 'SECTION {', got 'lmtp cmd=x'"},
        BadCase{"\nST-ART {\n}\n", "cyrus.conf:2: bad section header 'ST-ART {'"},
        BadCase{"START {\n a cmd=x\n", "cyrus.conf:1: section opened here is not closed"},
        BadCase{"START {\nSERVICES {\n}\n", "cyrus.conf:2: section opened at line 1 is not closed"},
        BadCase{"START {\n  my-thing cmd=x\n}\n",
                "cyrus.conf:2: entry name 'my-thing' must be alphanumeric"},
        BadCase{"START {\n  a cmd\n}\n", "cyrus.conf:2: entry 'a': expected key=value at 'cmd'"},
        BadCase{"START {\n  a cmd= x\n}\n", "cyrus.conf:2: entry 'a': empty value for cmd="},
        BadCase{"START {\n  a cmd=\"x\"y\n}\n",
                "cyrus.conf:2: entry 'a': text after closing quote of cmd="},
        BadCase{"START {\n  a cmd=x CMD=y\n}\n", "cyrus.conf:2: entry 'a': CMD= given twice"},
        BadCase{"START {\n  a period=3\n}\n", "cyrus.conf:2: entry 'a': unknown key period="},
        BadCase{"START {\n  a cmd=\"  \"\n}\n", "cyrus.conf:2: entry 'a': empty cmd="},
        BadCase{"DAEMON {\n  a wait=y\n}\n", "cyrus.conf:2: entry 'a': missing cmd="},
        BadCase{"START {\n a cmd=x\n a cmd=y\n}\n", "cyrus.conf:3: duplicate entry name 'a'"},
        BadCase{"SERVICES {\n  s cmd=x\n}\n", "cyrus.conf:2: service 's': missing listen="},
        BadCase{"SERVICES {\n  s cmd=x listen=nosuchservicename\n}\n",
                "cyrus.conf:2: service 's': listen nosuchservicename: unknown service name: "
                "nosuchservicename"},
        BadCase{"SERVICES {\n  s cmd=x listen=1 proto=udp\n}\n",
                "cyrus.conf:2: service 's': unsupported proto: udp"},
        BadCase{"SERVICES {\n  s cmd=x listen=1 prefork=-1\n}\n",
                "cyrus.conf:2: entry 's': prefork=-1 is not a number in [0, 1073741824]"},
        BadCase{"SERVICES {\n  s cmd=x listen=1 maxchild=ten\n}\n",
                "cyrus.conf:2: entry 's': maxchild=ten is not a number in [-1, 1073741824]"},
        BadCase{"SERVICES {\n  s cmd=x listen=1 babysit=maybe\n}\n",
                "cyrus.conf:2: entry 's': babysit=maybe is not a switch"},
        BadCase{"EVENTS {\n  e cmd=x at=2400\n}\n",
                "cyrus.conf:2: entry 'e': at=2400 is not a number in [0, 2359]"},
        BadCase{"EVENTS {\n  e cmd=x at=1261\n}\n",
                "cyrus.conf:2: event 'e': at=1261 is not a HHMM time"},
        BadCase{"EVENTS {\n  e cmd=x period=5m\n}\n",
                "cyrus.conf:2: entry 'e': period=5m is not a number in [0, 1073741824]"},
        BadCase{"DAEMON {\n  d cmd=x wait=sometimes\n}\n",
                "cyrus.conf:2: entry 'd': wait=sometimes is not a switch"}));

TEST(CyrusConfTest, PreforkIsCappedByMaxchild) {
  auto conf = parse_cyrus_conf("SERVICES {\n s cmd=x listen=1234 prefork=5 maxchild=2\n}\n", "c");
  ASSERT_TRUE(conf.ok());
  EXPECT_EQ(conf->services[0].prefork, 2);
  EXPECT_EQ(conf->warnings.size(), 1u);
}

class ResolveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = replimail::testing::make_temp_dir("cyrusconf_test.");
    std::ofstream(dir_ + "/prog") << "#!/bin/sh\n";
    ::chmod((dir_ + "/prog").c_str(), 0755);
    std::ofstream(dir_ + "/plain") << "data\n";
  }
  void TearDown() override {
    ::unlink((dir_ + "/prog").c_str());
    ::unlink((dir_ + "/plain").c_str());
    ::rmdir(dir_.c_str());
  }
  std::string dir_;
};

TEST_F(ResolveTest, BareNamesResolveBesideMaster) {
  auto conf = parse_cyrus_conf("START {\n a cmd=\"prog -x\"\n b cmd=/bin/sh\n}\n", "c");
  ASSERT_TRUE(conf.ok());
  ASSERT_TRUE(resolve_commands(&*conf, dir_).is_ok());
  EXPECT_EQ(conf->start[0].argv[0], dir_ + "/prog");
  EXPECT_EQ(conf->start[0].argv[1], "-x");
  EXPECT_EQ(conf->start[1].argv[0], "/bin/sh");
}

TEST_F(ResolveTest, MissingOrNonExecutableIsAnError) {
  auto conf = parse_cyrus_conf("DAEMON {\n\n d cmd=nosuch\n}\n", "my.conf");
  ASSERT_TRUE(conf.ok());
  Status s = resolve_commands(&*conf, dir_);
  EXPECT_EQ(s.code(), Code::kConfigError);
  EXPECT_EQ(s.message(), "my.conf:3: entry 'd': " + dir_ + "/nosuch is not an executable file");

  auto plain = parse_cyrus_conf("EVENTS {\n e cmd=plain\n}\n", "c");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(resolve_commands(&*plain, dir_).is_ok());
}

TEST(SelfExeDirTest, IsTheTestBinaryDirectory) {
  auto dir = self_exe_dir();
  ASSERT_TRUE(dir.ok());
  EXPECT_EQ(::access((*dir + "/unit_master").c_str(), X_OK), 0);
}

}  // namespace
}  // namespace replimail::master
