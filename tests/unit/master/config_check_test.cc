// master -t (master/config_check.h): what a systemd unit runs before start.
#include "../../support/temp_dir.h"
#include "master/config_check.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace replimail::master {
namespace {

class ConfigCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = replimail::testing::make_temp_dir("config_check_test.");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  std::string good_imapd() {
    return write("imapd.conf", "configdirectory: " + dir_ + "/conf\npartition-default: " + dir_ +
                                   "/spool\nadmins: admin\n");
  }
  // master -t on the files; exit status and stderr.
  std::pair<int, std::string> run_master(const std::string& imapd, const std::string& cyrus) {
    std::string cmd = std::string(REPLIMAIL_BIN_DIR) + "/master -t -C " + imapd + " -M " + cyrus +
                      " 2>" + dir_ + "/err >" + dir_ + "/out";
    int status = std::system(cmd.c_str());
    std::ifstream in(dir_ + "/err");
    std::string err((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, err};
  }

  std::string dir_;
  const std::string bin_ = REPLIMAIL_BIN_DIR;
};

TEST_F(ConfigCheckTest, AGoodInstancePasses) {
  std::string cyrus = write("cyrus.conf",
                            "SERVICES {\n"
                            "  lmtp cmd=\"echo_service\" listen=\"127.0.0.1:2003\"\n"
                            "  imap cmd=\"echo_service\" listen=\"127.0.0.1:2143\"\n"
                            "}\n");
  auto report = check_configuration(good_imapd(), cyrus, bin_);
  EXPECT_TRUE(report.ok()) << report.errors.front();
  auto [code, err] = run_master(dir_ + "/imapd.conf", cyrus);
  EXPECT_EQ(code, 0) << err;
}

TEST_F(ConfigCheckTest, ImapdConfErrorsNameTheLine) {
  std::string imapd =
      write("imapd.conf", "configdirectory: /x\npartition-default: /y\nsync_log: maybe\n");
  std::string cyrus = write("cyrus.conf", "SERVICES {\n}\n");
  auto report = check_configuration(imapd, cyrus, bin_);
  ASSERT_EQ(report.errors.size(), 1u);
  EXPECT_NE(report.errors[0].find("imapd.conf:3"), std::string::npos) << report.errors[0];
  auto [code, err] = run_master(imapd, cyrus);
  EXPECT_EQ(code, 78);
  EXPECT_NE(err.find("error: "), std::string::npos) << err;
  EXPECT_NE(err.find("imapd.conf:3"), std::string::npos) << err;
}

TEST_F(ConfigCheckTest, MissingDirectoriesAreErrorsAndIgnoredOptionsWarnings) {
  std::string imapd = write("imapd.conf", "admins: admin\nsieve_maxscripts: 5\n");
  std::string cyrus = write("cyrus.conf", "SERVICES {\n}\n");
  auto report = check_configuration(imapd, cyrus, bin_);
  ASSERT_EQ(report.errors.size(), 2u);
  EXPECT_NE(report.errors[0].find("configdirectory"), std::string::npos);
  EXPECT_NE(report.errors[1].find("partition"), std::string::npos);
  ASSERT_FALSE(report.warnings.empty());
  EXPECT_NE(report.warnings[0].find("sieve_maxscripts"), std::string::npos) << report.warnings[0];
}

TEST_F(ConfigCheckTest, CyrusConfErrorsNameTheLine) {
  std::string imapd = good_imapd();
  std::string missing = write("cyrus.conf",
                              "SERVICES {\n"
                              "  lmtp cmd=\"echo_service\" listen=\"127.0.0.1:2003\"\n"
                              "  imap cmd=\"no_such_program\" listen=\"127.0.0.1:2143\"\n"
                              "}\n");
  auto report = check_configuration(imapd, missing, bin_);
  ASSERT_EQ(report.errors.size(), 1u);
  EXPECT_NE(report.errors[0].find("cyrus.conf:3"), std::string::npos) << report.errors[0];

  std::string twice = write("cyrus2.conf",
                            "SERVICES {\n"
                            "  lmtp cmd=\"echo_service\" listen=\"127.0.0.1:2003\"\n"
                            "\n"
                            "  lmtp2 cmd=\"echo_service\" listen=\"127.0.0.1:2003\"\n"
                            "}\n");
  report = check_configuration(imapd, twice, bin_);
  ASSERT_EQ(report.errors.size(), 1u);
  EXPECT_NE(report.errors[0].find("cyrus2.conf:4"), std::string::npos) << report.errors[0];
  EXPECT_NE(report.errors[0].find("line 2"), std::string::npos) << report.errors[0];

  std::string syntax =
      write("cyrus3.conf", "SERVICES {\n  imap cmd=\"echo_service\" prefork=x\n}\n");
  report = check_configuration(imapd, syntax, bin_);
  ASSERT_EQ(report.errors.size(), 1u);
  EXPECT_NE(report.errors[0].find("cyrus3.conf:2"), std::string::npos) << report.errors[0];
  auto [code, err] = run_master(imapd, syntax);
  EXPECT_EQ(code, 78);
  EXPECT_NE(err.find("cyrus3.conf:2"), std::string::npos) << err;
}

}  // namespace
}  // namespace replimail::master
