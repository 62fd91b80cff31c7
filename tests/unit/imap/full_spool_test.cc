// A full spool must not lock IMAP readers out (issue 13, item 11): on a
// filesystem with no free space, LOGIN, SELECT, EXAMINE, FETCH, STATUS and
// opening the mailbox to EXPUNGE answer OK. SELECT's claim of \Recent is a
// write; when it cannot be made the messages stay \Recent.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../small_fs.h"
#include "session_fixture.h"
#include "store/staged_message.h"

namespace replimail::imap::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string config_text(const std::string& dir) {
  return "configdirectory: " + dir + "/conf\npartition-default: " + dir +
         "/spool\nsync_log: 1\nsync_log_channels: replica\n";
}

std::string prepare(const Config& cfg) {
  auto inst = store::Instance::open(cfg);
  if (!inst.ok()) return "open: " + inst.status().to_string();
  if (!(*inst)->create_mailbox("user.alice").ok()) return "create";
  for (int i = 0; i < 3; i++) {
    auto msg = (*inst)->stage_message();
    if (!msg.ok() || !(*msg)->write(kMessage) || !(*msg)->finish()) return "stage";
    store::AppendRequest req;
    req.mailbox = "user.alice";
    req.message = msg->get();
    auto res = (*inst)->append({req});
    if (!res[0].status) return "append: " + res[0].status.to_string();
  }
  return "";
}

// The tagged response of `tag` in `out` is OK and nothing said SERVERBUG.
std::string expect_ok(const std::string& out, const std::string& tag) {
  if (out.find(tag + " OK") == std::string::npos || out.find("SERVERBUG") != std::string::npos)
    return "not OK: " + out;
  return "";
}

TEST(FullSpoolTest, ImapReadersWorkOnAFullSpool) {
  std::string report;
  int rc = replimail::testing::run_on_small_fs(4096, &report, [](const std::string& dir) {
    auto cfg = Config::parse(config_text(dir), "imapd.conf");
    if (!cfg.ok()) return std::string("config");
    std::string r = prepare(*cfg);
    if (!r.empty()) return "prepare: " + r;
    if (!replimail::testing::fill_filesystem(dir + "/filler")) return std::string("not full");
    auto inst = store::Instance::open(*cfg);
    if (!inst.ok()) return "open instance: " + inst.status().to_string();
    Session s(
        **inst, [](bool) { return std::make_unique<FakeSasl>(); }, SessionOptions{});
    s.take_output();
    auto run = [&](const std::string& line) {
      s.feed(line);
      return s.take_output();
    };
    for (const auto& [tag, cmd] : std::vector<std::pair<std::string, std::string>>{
             {"a", "a LOGIN alice alicepw\r\n"},
             {"b", "b STATUS INBOX (MESSAGES UIDNEXT UNSEEN)\r\n"},
             {"c", "c EXAMINE INBOX\r\n"},
             {"d", "d FETCH 1:* (FLAGS RFC822.SIZE)\r\n"},
             {"e", "e SELECT INBOX\r\n"},
             {"f", "f FETCH 2 (BODY.PEEK[])\r\n"},
             {"g", "g UID SEARCH ALL\r\n"}}) {
      std::string out = run(cmd);
      std::string bad = expect_ok(out, tag);
      if (!bad.empty()) return cmd + " -> " + bad;
      if (tag == "e" && out.find("* 3 EXISTS") == std::string::npos) return "SELECT: " + out;
      if (tag == "e" && out.find("* 3 RECENT") == std::string::npos) return "SELECT: " + out;
      if (tag == "f" && out.find("zebras") == std::string::npos) return "FETCH: " + out;
    }
    return std::string();
  });
  ASSERT_NE(rc, replimail::testing::kCannotMount) << report;
  EXPECT_EQ(rc, 0) << report;
}

// Writes on a full spool (issue 13, faults at the OS boundary): APPEND
// answers NO saying it is temporary, leaves nothing behind, and works again
// once space is freed, in the same session.
TEST(FullSpoolTest, AppendOnAFullSpoolIsATemporaryNoAndRecovers) {
  std::string report;
  int rc = replimail::testing::run_on_small_fs(4096, &report, [](const std::string& dir) {
    auto cfg = Config::parse(config_text(dir), "imapd.conf");
    if (!cfg.ok()) return std::string("config");
    std::string r = prepare(*cfg);
    if (!r.empty()) return "prepare: " + r;
    auto inst = store::Instance::open(*cfg);
    if (!inst.ok()) return "open instance: " + inst.status().to_string();
    Session s(
        **inst, [](bool) { return std::make_unique<FakeSasl>(); }, SessionOptions{});
    s.take_output();
    s.feed("a LOGIN alice alicepw\r\n");
    if (std::string bad = expect_ok(s.take_output(), "a"); !bad.empty()) return "LOGIN " + bad;
    if (!replimail::testing::fill_filesystem(dir + "/filler")) return std::string("not full");
    const std::string body = "Subject: big\r\n\r\n" + std::string(20000, 'z') + "\r\n";
    auto append = [&](const std::string& tag) {
      s.feed(tag + " APPEND INBOX {" + std::to_string(body.size()) + "+}\r\n" + body + "\r\n");
      return s.take_output();
    };
    std::string out = append("b");
    if (out.find("b NO [UNAVAILABLE]") == std::string::npos)
      return "APPEND on a full spool: " + out;
    auto mbox = (*inst)->open_mailbox("user.alice");
    if (!mbox.ok() || !(*mbox)->counters().ok() || (*mbox)->counters()->exists != 3)
      return std::string("a record was left");
    ::unlink((dir + "/filler").c_str());
    out = append("c");
    if (std::string bad = expect_ok(out, "c"); !bad.empty())
      return "APPEND after space came back " + bad;
    mbox = (*inst)->open_mailbox("user.alice");
    if (!mbox.ok() || !(*mbox)->counters().ok() || (*mbox)->counters()->exists != 4)
      return std::string("the APPEND is not there");
    return std::string();
  });
  ASSERT_NE(rc, replimail::testing::kCannotMount) << report;
  EXPECT_EQ(rc, 0) << report;
}

}  // namespace
}  // namespace replimail::imap::test
