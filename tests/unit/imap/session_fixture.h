// The fixture of the imap::Session tests: a throw-away instance with
// user.alice and user.bob, sessions fed bytes in memory, a fake PLAIN.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "../../support/temp_dir.h"
#include "imap/session.h"
#include "store/instance.h"
#include "store/staged_message.h"

namespace replimail::imap::test {

// Puts `bytes` into `mailbox` as a delivery would (staged, then appended).
inline void deliver_to(store::Instance& instance, const std::string& mailbox,
                       const std::string& bytes) {
  auto staged = instance.stage_message();
  ASSERT_TRUE(staged.ok()) << staged.status().to_string();
  ASSERT_TRUE((*staged)->write(bytes).is_ok());
  ASSERT_TRUE((*staged)->finish().is_ok());
  store::AppendRequest req;
  req.mailbox = mailbox;
  req.message = staged->get();
  auto done = instance.append({req});
  ASSERT_TRUE(done[0].status.is_ok()) << done[0].status.to_string();
}

// PLAIN only; the password of user X is "Xpw".
class FakeSasl : public net::SaslServer {
 public:
  std::vector<std::string> mechanisms() override { return {"PLAIN"}; }
  net::SaslStep start(std::string_view mech, std::optional<std::string_view> initial) override {
    net::SaslStep s;
    if (mech != "PLAIN") {
      s.kind = net::SaslStep::Kind::kNoMech;
      return s;
    }
    if (!initial) {
      s.kind = net::SaslStep::Kind::kContinue;
      return s;
    }
    return step(*initial);
  }
  net::SaslStep step(std::string_view resp) override {
    net::SaslStep s;
    size_t a = resp.find('\0');
    size_t b = a == resp.npos ? a : resp.find('\0', a + 1);
    if (b == resp.npos) return s;
    std::string user(resp.substr(a + 1, b - a - 1));
    if (resp.substr(b + 1) != user + "pw") return s;
    user_ = user;
    s.kind = net::SaslStep::Kind::kOk;
    return s;
  }
  std::string username() override { return user_; }

 private:
  std::string user_;
};

const char kMessage[] =
    "From: Alice <alice@example.com>\r\n"
    "To: bob@example.com\r\n"
    "Subject: hello there\r\n"
    "Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n"
    "Message-ID: <1@example.com>\r\n"
    "\r\n"
    "The body mentions zebras.\r\n";

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = replimail::testing::make_temp_dir("rm_imap_session_");
    ASSERT_NE(dir_, "");
    std::string text = "configdirectory: " + dir_ + "/conf\npartition-default: " + dir_ +
                       "/spool\nsync_log: 1\nadmins: admin\n";
    auto cfg = Config::parse(text, "imapd.conf");
    ASSERT_TRUE(cfg.ok());
    auto inst = store::Instance::open(*cfg);
    ASSERT_TRUE(inst.ok()) << inst.status().to_string();
    instance_ = std::move(*inst);
    for (const char* u : {"user.alice", "user.bob"}) ASSERT_TRUE(instance_->create_mailbox(u).ok());
  }
  void TearDown() override {
    instance_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<Session> session(SessionOptions o = {}) {
    o.max_message = 1000;
    auto s = std::make_unique<Session>(
        *instance_, [](bool) { return std::make_unique<FakeSasl>(); }, o);
    s->take_output();
    return s;
  }
  std::unique_ptr<Session> login(const std::string& user) {
    auto s = session();
    std::string out = run(*s, "l LOGIN " + user + " " + user + "pw\r\n");
    EXPECT_THAT(out, ::testing::HasSubstr("l OK"));
    return s;
  }
  static std::string run(Session& s, std::string_view input) {
    s.feed(input);
    return s.take_output();
  }
  static std::string append_cmd(const std::string& tag, const std::string& mbox,
                                std::string_view msg, std::string_view flags = "") {
    return tag + " APPEND " + mbox + " " + std::string(flags) + (flags.empty() ? "" : " ") + "{" +
           std::to_string(msg.size()) + "+}\r\n" + std::string(msg) + "\r\n";
  }

  std::string dir_;
  std::unique_ptr<store::Instance> instance_;
};

}  // namespace replimail::imap::test
