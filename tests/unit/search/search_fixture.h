// A throw-away instance with search_engine: xapian and helpers to deliver
// messages, for the search room's tests.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "../../support/temp_dir.h"
#include "common/config.h"
#include "store/instance.h"
#include "store/staged_message.h"

namespace replimail::search::testing {

class SearchFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = replimail::testing::make_temp_dir("rm_search_");
    ASSERT_NE(dir_, "");
    auto cfg = Config::parse("configdirectory: " + dir_ + "/conf\npartition-default: " + dir_ +
                                 "/spool\nsearch_engine: xapian\nsync_log: 1\n"
                                 "sync_log_channels: squatter\n",
                             "imapd.conf");
    ASSERT_TRUE(cfg.ok());
    cfg_ = *cfg;
    auto inst = store::Instance::open(cfg_);
    ASSERT_TRUE(inst.ok()) << inst.status().to_string();
    instance_ = std::move(*inst);
  }
  void TearDown() override {
    instance_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Appends `bytes` to `mailbox`; returns the UID (0 on failure).
  uint32_t deliver(const std::string& mailbox, const std::string& bytes) {
    auto staged = instance_->stage_message();
    EXPECT_TRUE(staged.ok());
    if (!staged.ok()) return 0;
    EXPECT_TRUE((*staged)->write(bytes).is_ok());
    EXPECT_TRUE((*staged)->finish().is_ok());
    store::AppendRequest req;
    req.mailbox = mailbox;
    req.message = staged->get();
    auto results = instance_->append({req});
    EXPECT_TRUE(results[0].status.is_ok()) << results[0].status.to_string();
    return results[0].uid;
  }

  std::string uniqueid(const std::string& mailbox) {
    auto e = instance_->lookup(mailbox);
    EXPECT_TRUE(e.ok());
    return e.ok() ? e->uniqueid : "";
  }

  std::string dir_;
  Config cfg_;
  std::unique_ptr<store::Instance> instance_;
};

inline std::string message(const std::string& subject, const std::string& body,
                           const std::string& from = "sender@example.com") {
  return "From: " + from + "\r\nTo: rcpt@example.com\r\nSubject: " + subject + "\r\nMessage-ID: <" +
         subject.substr(0, 8) + "@x>\r\n\r\n" + body + "\r\n";
}

}  // namespace replimail::search::testing
