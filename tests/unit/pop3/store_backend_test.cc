// pop3::StoreBackend against a real store: INBOX autocreation at login.
#include "../../support/temp_dir.h"
#include "pop3/store_backend.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

namespace replimail::pop3 {
namespace {

class Pop3StoreBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = replimail::testing::make_temp_dir("rm_pop3_store_");
    ASSERT_NE(dir_, "");
  }
  void TearDown() override {
    backend_.reset();
    instance_.reset();
    std::filesystem::remove_all(dir_);
  }
  void open(const std::string& extra) {
    std::string text = "configdirectory: " + dir_ + "/conf\npartition-default: " + dir_ +
                       "/spool\nsync_log: 1\n" + extra;
    auto cfg = Config::parse(text, "imapd.conf");
    ASSERT_TRUE(cfg.ok());
    auto inst = store::Instance::open(*cfg);
    ASSERT_TRUE(inst.ok()) << inst.status().to_string();
    instance_ = std::move(*inst);
    backend_ = std::make_unique<StoreBackend>(*instance_);
  }

  std::string dir_;
  std::unique_ptr<store::Instance> instance_;
  std::unique_ptr<StoreBackend> backend_;
};

TEST_F(Pop3StoreBackendTest, LoginAutocreatesInboxWhenAutocreateQuotaIsSet) {
  open("autocreate_quota: 0\n");
  auto drop = backend_->open("erin");
  ASSERT_TRUE(drop.ok()) << drop.status().to_string();
  EXPECT_TRUE(drop->messages.empty());
  EXPECT_TRUE(instance_->lookup("user.erin").ok());
}

TEST_F(Pop3StoreBackendTest, NoAutocreateByDefault) {
  open("");
  auto drop = backend_->open("erin");
  EXPECT_FALSE(drop.ok());
  EXPECT_EQ(instance_->lookup("user.erin").status().code(), Code::kMailboxNonexistent);
}

}  // namespace
}  // namespace replimail::pop3
