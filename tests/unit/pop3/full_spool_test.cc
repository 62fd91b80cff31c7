// A full spool must not lock POP3 users out (issue 13, item 11): on a
// filesystem with no free space the maildrop opens (POP3_LAST_LOGIN, a
// write, is then skipped) and its messages can be read.
#include <gtest/gtest.h>

#include "../small_fs.h"
#include "common/config.h"
#include "pop3/store_backend.h"
#include "store/instance.h"
#include "store/staged_message.h"

namespace replimail::pop3 {
namespace {

TEST(Pop3FullSpoolTest, MaildropOpensAndReadsOnAFullSpool) {
  std::string report;
  int rc = replimail::testing::run_on_small_fs(4096, &report, [](const std::string& dir) {
    auto cfg = Config::parse("configdirectory: " + dir + "/conf\npartition-default: " + dir +
                                 "/spool\nsync_log: 1\nsync_log_channels: replica\n",
                             "imapd.conf");
    if (!cfg.ok()) return std::string("config");
    const std::string body = "Subject: hi\r\n\r\nhello pop\r\n";
    {
      auto inst = store::Instance::open(*cfg);
      if (!inst.ok() || !(*inst)->create_mailbox("user.alice").ok()) return std::string("create");
      auto msg = (*inst)->stage_message();
      if (!msg.ok() || !(*msg)->write(body) || !(*msg)->finish()) return std::string("stage");
      store::AppendRequest req;
      req.mailbox = "user.alice";
      req.message = msg->get();
      if (!(*inst)->append({req})[0].status) return std::string("append");
    }
    if (!replimail::testing::fill_filesystem(dir + "/filler")) return std::string("not full");
    auto inst = store::Instance::open(*cfg);
    if (!inst.ok()) return "open instance: " + inst.status().to_string();
    StoreBackend backend(**inst, [] { return std::time_t{1800000000}; });
    auto drop = backend.open("alice");
    if (!drop.ok()) return "open maildrop: " + drop.status().to_string();
    if (drop->messages.size() != 1) return std::string("messages");
    auto text = backend.read(drop->messages[0].uid);
    if (!text.ok()) return "RETR: " + text.status().to_string();
    if (text->find("hello pop") == std::string::npos) return "RETR: " + *text;
    return std::string();
  });
  ASSERT_NE(rc, replimail::testing::kCannotMount) << report;
  EXPECT_EQ(rc, 0) << report;
}

}  // namespace
}  // namespace replimail::pop3
