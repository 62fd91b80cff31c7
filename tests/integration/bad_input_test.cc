// Bad input gets a clear error and changes nothing else: malformed LMTP
// commands, oversized messages, hostile recipients, broken configuration,
// unknown recipients; plus the recipient forms Cyrus accepts (+detail,
// autocreate_post).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "common/config.h"
#include "harness.h"
#include "store/acl.h"
#include "store/instance.h"
#include "store_checks.h"

namespace replimail::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json lmtp_case(const Instance& inst, const std::vector<std::string>& args, int* exit_code) {
  std::vector<std::string> argv = {"--port", std::to_string(inst.lmtp_port())};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = inst.python("lmtp_cases.py", argv);
  *exit_code = r.exit_code;
  if (!r.ok()) {
    ADD_FAILURE() << r.describe();
    return json::object();
  }
  return json::parse(r.out);
}

int reply_code(const json& out, const std::string& rcpt) {
  return out["replies"][rcpt][0].get<int>();
}

// Test ids of the live messages of a mailbox.
std::set<std::string> test_ids(const Instance& inst, const std::string& mbox) {
  std::set<std::string> ids;
  auto snap = inst.snapshot(mbox);
  for (const auto& rec : snap.records) {
    if (!rec.expunged())
      ids.insert(test_id_of(slurp(snap.dir + "/" + std::to_string(rec.uid) + ".")));
  }
  return ids;
}

std::set<std::string> tree(const std::string& root) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) out.insert(e.path().string());
  return out;
}

class BadInput : public ::testing::Test {
 protected:
  void start(Instance::Options o = {}) {
    inst_ = std::make_unique<Instance>(std::move(o));
    ASSERT_EQ(inst_->start(), "");
    auto r = inst_->tool("cyr_mbox", {"create", "user.alice"});
    ASSERT_TRUE(r.ok()) << r.describe();
  }
  std::unique_ptr<Instance> inst_;
};

TEST_F(BadInput, MalformedCommandsGet5xxAndTheSessionGoesOn) {
  start();
  int rc = 0;
  json out = lmtp_case(*inst_, {"malformed"}, &rc);
  auto& rep = out["replies"];
  for (const char* bad : {"FROBNICATE now", "MAIL", "MAIL TO:<a@example.com>", "RCPT TO:<alice>",
                          "DATA", "LHLO", "MAIL FROM:<a@example.com> BOGUS=1", "long line",
                          "MAIL FROM:<b@example.com>", "RCPT TO:", "RCPT TO:<>"}) {
    int code = rep[bad].get<int>();
    EXPECT_GE(code, 500) << bad;
    EXPECT_LT(code, 600) << bad;
  }
  EXPECT_EQ(rep["RSET"].get<int>(), 250);
  EXPECT_EQ(rep["NOOP"].get<int>(), 250);
  EXPECT_EQ(rep["MAIL FROM:<a@example.com>"].get<int>(), 250);
  EXPECT_EQ(out["delivered"].get<int>(), 250);
  EXPECT_EQ(test_ids(*inst_, "user.alice"), std::set<std::string>{"case-0"});
}

TEST_F(BadInput, MessageOverMaxmessagesizeIsRefusedWith552) {
  Instance::Options o;
  o.imapd_extra = {"maxmessagesize: 4000"};
  start(o);
  int rc = 0;
  json big = lmtp_case(*inst_, {"--size", "20000", "deliver", "alice"}, &rc);
  EXPECT_EQ(reply_code(big, "alice"), 552) << big.dump();
  EXPECT_TRUE(test_ids(*inst_, "user.alice").empty());
  json small = lmtp_case(*inst_, {"--size", "1000", "deliver", "alice"}, &rc);
  EXPECT_EQ(reply_code(small, "alice"), 250) << small.dump();
  EXPECT_EQ(test_ids(*inst_, "user.alice").size(), 1u);
}

// These send the same message to one mailbox several times: duplicate
// suppression (on by default, as in Cyrus) would keep one copy, so it is off.
Instance::Options no_duplicate_suppression() {
  Instance::Options o;
  o.imapd_extra = {"duplicatesuppression: no"};
  return o;
}

TEST_F(BadInput, HostileDetailNeverLeavesTheMailbox) {
  start(no_duplicate_suppression());
  const std::string parent = fs::path(inst_->state_dir()).parent_path().string();
  const std::string escape = "escape-" + fs::path(inst_->state_dir()).filename().string();
  auto before = tree(inst_->partition_dir());
  const std::string alice_dir = inst_->snapshot("user.alice").dir;
  size_t delivered = 0;
  const std::vector<std::string> rcpts = {"alice+../x",
                                          "alice+a/b",
                                          "alice+..",
                                          "alice+../../../../../../" + escape,
                                          "alice+/etc/" + escape,
                                          "../alice",
                                          "alice/../bob",
                                          "alice+.x",
                                          "alice+x."};
  for (const auto& rcpt : rcpts) {
    int rc = 0;
    json out = lmtp_case(*inst_, {"deliver", rcpt}, &rc);
    int code = reply_code(out, rcpt);
    EXPECT_TRUE(code == 250 || (code >= 500 && code < 600)) << rcpt << ": " << out.dump();
    if (code == 250) ++delivered;
  }
  // Whatever was accepted went to alice's INBOX, and nothing else appeared.
  EXPECT_EQ(inst_->snapshot("user.alice").records.size(), delivered);
  auto dump = inst_->tool("ctl_mboxlist", {"-d"});
  ASSERT_TRUE(dump.ok()) << dump.describe();
  for (const auto& line : lines_of(dump.out)) {
    EXPECT_EQ(line.find("user.alice."), std::string::npos) << line;
    EXPECT_EQ(line.find("user.bob"), std::string::npos) << line;
  }
  for (const auto& path : tree(inst_->partition_dir())) {
    if (before.count(path) || path.rfind(alice_dir, 0) == 0) continue;
    bool staging = path.find("/stage.") != std::string::npos;
    EXPECT_TRUE(staging) << "unexpected " << path;
  }
  EXPECT_FALSE(fs::exists(parent + "/" + escape));
  EXPECT_FALSE(fs::exists("/etc/" + escape));
  EXPECT_FALSE(fs::exists(inst_->state_dir() + "/" + escape));
}

TEST_F(BadInput, UnknownRecipientAmongGoodOnesGets550Alone) {
  start();
  ASSERT_TRUE(inst_->tool("cyr_mbox", {"create", "user.bob"}).ok());
  int rc = 0;
  json out = lmtp_case(*inst_, {"deliver", "alice", "nosuchuser", "bob"}, &rc);
  EXPECT_EQ(reply_code(out, "alice"), 250) << out.dump();
  EXPECT_EQ(reply_code(out, "nosuchuser"), 550) << out.dump();
  EXPECT_NE(out["replies"]["nosuchuser"][1].get<std::string>().find("5.1.1"), std::string::npos);
  EXPECT_EQ(reply_code(out, "bob"), 250) << out.dump();
  EXPECT_EQ(test_ids(*inst_, "user.alice"), std::set<std::string>{"case-0"});
  EXPECT_EQ(test_ids(*inst_, "user.bob"), std::set<std::string>{"case-0"});
  auto dump = inst_->tool("ctl_mboxlist", {"-d"});
  EXPECT_EQ(dump.out.find("nosuchuser"), std::string::npos) << dump.out;
}

TEST_F(BadInput, AutocreatePostCreatesTheInboxOnFirstDelivery) {
  Instance::Options o;
  o.imapd_extra = {"autocreate_post: yes", "autocreate_quota: 10000"};
  start(o);
  int rc = 0;
  json out = lmtp_case(*inst_, {"deliver", "carol"}, &rc);
  EXPECT_EQ(reply_code(out, "carol"), 250) << out.dump();
  EXPECT_EQ(test_ids(*inst_, "user.carol"), std::set<std::string>{"case-0"});
  auto info = inst_->tool("cyr_mbox", {"info", "user.carol"});
  EXPECT_TRUE(info.ok()) << info.describe();
}

TEST_F(BadInput, WithoutAutocreateAnUnknownUserIsRefused) {
  start();
  int rc = 0;
  json out = lmtp_case(*inst_, {"deliver", "carol"}, &rc);
  EXPECT_EQ(reply_code(out, "carol"), 550) << out.dump();
  EXPECT_FALSE(inst_->tool("cyr_mbox", {"info", "user.carol"}).ok());
}

TEST_F(BadInput, PlusDetailGoesToAFolderPostableByAnyone) {
  start(no_duplicate_suppression());
  for (const char* name : {"user.alice.Lists", "user.alice.Private"}) {
    auto r = inst_->tool("cyr_mbox", {"create", name});
    ASSERT_TRUE(r.ok()) << r.describe();
  }
  {
    auto cfg = Config::load(inst_->imapd_conf());
    ASSERT_TRUE(cfg.ok());
    auto store = store::Instance::open(*cfg);
    ASSERT_TRUE(store.ok()) << store.status().to_string();
    auto acl = store::parse_acl(store::default_acl("user.alice.Lists"));
    acl["anyone"] = "p";
    ASSERT_TRUE((*store)->set_acl("user.alice.Lists", store::format_acl(acl)).is_ok());
  }
  int rc = 0;
  for (const char* rcpt : {"alice+Lists", "alice+Private", "alice+NoSuchFolder"}) {
    json out = lmtp_case(*inst_, {"deliver", rcpt}, &rc);
    EXPECT_EQ(reply_code(out, rcpt), 250) << rcpt << ": " << out.dump();
  }
  EXPECT_EQ(inst_->snapshot("user.alice.Lists").records.size(), 1u);
  // No 'p' for anyone, or no such folder: the INBOX gets it, as in Cyrus.
  EXPECT_EQ(inst_->snapshot("user.alice.Private").records.size(), 0u);
  EXPECT_EQ(inst_->snapshot("user.alice").records.size(), 2u);
}

TEST(BrokenConfig, MasterAndLmtpdExitNamingFileAndLine) {
  Instance inst;
  auto conf = slurp(inst.imapd_conf());
  int line = static_cast<int>(lines_of(conf).size()) + 1;
  ASSERT_TRUE(spit(inst.imapd_conf(), conf + "this line has no colon\n"));
  const std::string where = inst.imapd_conf() + ":" + std::to_string(line);

  auto master = inst.run_master_to_exit();
  EXPECT_NE(master.exit_code, 0) << master.describe();
  EXPECT_NE((master.out + master.err).find(where), std::string::npos) << master.describe();

  auto lmtpd = run({bin_dir() + "/lmtpd", "-C", inst.imapd_conf()}, "", std::chrono::seconds(10));
  EXPECT_NE(lmtpd.exit_code, 0) << lmtpd.describe();
  EXPECT_NE((lmtpd.out + lmtpd.err).find(where), std::string::npos) << lmtpd.describe();
}

TEST(BrokenConfig, UnknownOptionIsOnlyAWarning) {
  Instance::Options o;
  o.imapd_extra = {"no_such_option_here: 1"};
  Instance inst(o);
  ASSERT_EQ(inst.start(), "");
  EXPECT_NE(inst.master_log().find("no_such_option_here"), std::string::npos);
}

}  // namespace
}  // namespace replimail::testing
