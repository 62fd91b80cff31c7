#include "../../support/temp_dir.h"
#include "lmtp/store_backend.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "lmtp/session.h"
#include "store/acl.h"

namespace replimail::lmtp {
namespace {

namespace fsys = std::filesystem;

class StoreBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = replimail::testing::make_temp_dir("rm_lmtp_store_");
    ASSERT_NE(dir_, "");
  }
  void TearDown() override {
    instance_.reset();
    fsys::remove_all(dir_);
  }

  void open(std::string_view extra = "") {
    std::string text = "configdirectory: " + dir_ + "/conf\npartition-default: " + dir_ +
                       "/spool\nsync_log: 1\n" + std::string(extra);
    auto cfg = Config::parse(text, "imapd.conf");
    ASSERT_TRUE(cfg.ok()) << cfg.status().to_string();
    auto inst = store::Instance::open(*cfg);
    ASSERT_TRUE(inst.ok()) << inst.status().to_string();
    instance_ = std::move(*inst);
    backend_ = std::make_unique<StoreBackend>(*instance_);
  }

  void create(std::string_view name, std::string_view acl = "") {
    store::CreateOptions o;
    o.acl = std::string(acl);
    auto e = instance_->create_mailbox(name, o);
    ASSERT_TRUE(e.ok()) << e.status().to_string();
  }

  Result<Recipient> resolve(std::string_view addr, std::string authuser = "") {
    auto a = parse_address(addr);
    EXPECT_TRUE(a.ok()) << addr;
    if (!a.ok()) return a.status();
    RcptQuery q;
    q.address = *a;
    q.authuser = std::move(authuser);
    return backend_->resolve_recipient(q);
  }

  // One LMTP conversation against the real store; returns the replies.
  std::string lmtp(std::string_view input, uint64_t max_size = 0) {
    SessionOptions o;
    o.servername = "mx.test";
    o.preauth = true;
    o.max_message_size = max_size;
    Session s(*backend_, nullptr, o);
    s.feed(input);
    return s.take_output();
  }

  std::vector<store::IndexRecord> records(std::string_view name) {
    std::vector<store::IndexRecord> out;
    auto mbox = instance_->open_mailbox(name);
    EXPECT_TRUE(mbox.ok());
    if (!mbox.ok()) return out;
    Status s = (*mbox)->for_each_record(0, [&](const store::IndexRecord& r) {
      out.push_back(r);
      return true;
    });
    EXPECT_TRUE(s.is_ok());
    return out;
  }

  std::string message_file(std::string_view name, uint32_t uid) {
    auto mbox = instance_->open_mailbox(name);
    EXPECT_TRUE(mbox.ok());
    std::ifstream f((*mbox)->message_path(uid), std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

  std::string dir_;
  std::unique_ptr<store::Instance> instance_;
  std::unique_ptr<StoreBackend> backend_;
};

TEST_F(StoreBackendTest, UserMapsToInboxDowncased) {
  open();
  create("user.alice");
  auto r = resolve("Alice@Example.com");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->mailbox, "user.alice");
  EXPECT_EQ(r->userid, "alice");
  EXPECT_FALSE(r->autocreate);
  EXPECT_EQ(resolve("ghost").status().code(), Code::kMailboxNonexistent);
  EXPECT_EQ(resolve("a/b").status().code(), Code::kMailboxNonexistent);
}

TEST_F(StoreBackendTest, DowncaseCanBeTurnedOff) {
  open("lmtp_downcase_rcpt: no\n");
  create("user.alice");
  EXPECT_EQ(resolve("Alice").status().code(), Code::kMailboxNonexistent);
  EXPECT_TRUE(resolve("alice").ok());
}

TEST_F(StoreBackendTest, DetailNeedsAnExistingFolderWithPostRight) {
  open("admins: cyrus\n");
  create("user.alice");
  create("user.alice.lists", "alice\tlrs\tanyone\tp\t");
  create("user.alice.own");  // default ACL: the owner holds 'p', anyone nothing
  create("user.alice.closed", "alice\tlrs\t");
  create("user.alice.a.b", "anyone\tp\t");
  EXPECT_EQ(resolve("alice+lists")->mailbox, "user.alice.lists");
  // Anonymous delivery (a pre-authorised MTA) has only the rights of anyone;
  // an identity (AUTH= or SASL) brings its own, and an admin's.
  EXPECT_EQ(resolve("alice+own")->mailbox, "user.alice");
  EXPECT_EQ(resolve("alice+own", "alice")->mailbox, "user.alice.own");
  EXPECT_EQ(resolve("alice+own", "bob")->mailbox, "user.alice");
  EXPECT_EQ(resolve("alice+own", "cyrus")->mailbox, "user.alice.own");
  EXPECT_EQ(resolve("alice+closed", "alice")->mailbox, "user.alice");
  EXPECT_EQ(resolve("alice+closed")->mailbox, "user.alice");
  EXPECT_EQ(resolve("alice+missing")->mailbox, "user.alice");
  EXPECT_EQ(resolve("alice+a/b")->mailbox, "user.alice.a.b");
  EXPECT_EQ(resolve("alice+")->mailbox, "user.alice");
}

TEST_F(StoreBackendTest, HostileDetailFallsBackToInbox) {
  open();
  create("user.alice");
  create("user.bob");
  // Unquoted, ".." is not even an address (501 at RCPT); quoted, it parses.
  EXPECT_FALSE(parse_address("alice+../bob").ok());
  for (const char* addr : {"\"alice+../bob\"", "alice+/etc", "alice+a//b", "\"alice+..\"",
                           "alice+x/", "\"alice+a\\\"b\"", "alice+.bob"}) {
    auto r = resolve(addr);
    ASSERT_TRUE(r.ok()) << addr;
    EXPECT_EQ(r->mailbox, "user.alice") << addr;
  }
}

TEST_F(StoreBackendTest, DeliveryStoresTraceHeadersSizeAndGuid) {
  open();
  create("user.alice");
  std::string out = lmtp(
      "LHLO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice>\r\nRCPT TO:<ALICE>\r\nDATA\r\n"
      "Subject: t\r\n\r\n..body\r\n.\r\n");
  EXPECT_NE(out.find("354 go ahead\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"), std::string::npos) << out;
  auto recs = records("user.alice");
  ASSERT_EQ(recs.size(), 1u);  // one copy for two spellings of one recipient
  std::string file = message_file("user.alice", recs[0].uid);
  EXPECT_EQ(file.rfind("Return-Path: <s@x>\r\nReceived: from c (unknown)\r\n", 0), 0u) << file;
  EXPECT_NE(file.find("Subject: t\r\n\r\n.body\r\n"), std::string::npos);
  EXPECT_EQ(recs[0].size, file.size());
  EXPECT_EQ(recs[0].guid.size(), 40u);
  // The staging file is gone.
  for (const auto& e : fsys::recursive_directory_iterator(dir_ + "/spool")) {
    if (e.is_regular_file()) {
      EXPECT_EQ(e.path().string().find("stage."), std::string::npos) << e.path();
    }
  }
}

TEST_F(StoreBackendTest, UnknownAmongGoodDeliversOnlyToGood) {
  open();
  create("user.alice");
  create("user.bob");
  std::string out = lmtp(
      "LHLO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice>\r\nRCPT TO:<nobody>\r\nRCPT TO:<bob>\r\n"
      "DATA\r\nx\r\n.\r\n");
  EXPECT_NE(out.find("550 5.1.1 User unknown\r\n"), std::string::npos);
  EXPECT_EQ(records("user.alice").size(), 1u);
  EXPECT_EQ(records("user.bob").size(), 1u);
  EXPECT_EQ(instance_->lookup("user.nobody").status().code(), Code::kMailboxNonexistent);
}

// A user being moved (store::Instance::set_user_fence) is deferred at RCPT
// with 451 4.2.1, so the MTA keeps the message; other recipients go on, and
// once the fence is lifted the retry is delivered.
TEST_F(StoreBackendTest, FencedUserIsDeferredAndOthersDelivered) {
  open();
  create("user.alice");
  create("user.bob");
  ASSERT_TRUE(instance_->set_user_fence("alice", true).is_ok());
  std::string out = lmtp(
      "LHLO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice>\r\nRCPT TO:<bob>\r\nDATA\r\nx\r\n.\r\n");
  EXPECT_NE(out.find("451 4.2.1 Mailbox Moved\r\n"), std::string::npos) << out;
  EXPECT_EQ(records("user.alice").size(), 0u);
  EXPECT_EQ(records("user.bob").size(), 1u);
  ASSERT_TRUE(instance_->set_user_fence("alice", false).is_ok());
  lmtp("LHLO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice>\r\nDATA\r\nx\r\n.\r\n");
  EXPECT_EQ(records("user.alice").size(), 1u);
}

TEST_F(StoreBackendTest, AutocreatePostCreatesInboxWithQuota) {
  open("autocreate_post: yes\nautocreate_quota: 1\n");
  auto r = resolve("carol");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->autocreate);
  EXPECT_EQ(instance_->lookup("user.carol").status().code(), Code::kMailboxNonexistent);
  std::string big(1500, 'x');
  std::string out = lmtp("LHLO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<carol>\r\nDATA\r\n" + big +
                         "\r\n.\r\nMAIL FROM:<s@x>\r\nRCPT TO:<carol>\r\n");
  EXPECT_NE(out.find("354 go ahead\r\n250 2.1.5 Ok\r\n"), std::string::npos) << out;
  ASSERT_TRUE(instance_->lookup("user.carol").ok());
  EXPECT_EQ(records("user.carol").size(), 1u);
  // The 1 KiB autocreate quota is now full: the next RCPT is refused.
  EXPECT_NE(out.find("452 4.2.2 Over quota\r\n"), std::string::npos) << out;
}

// imapd.conf(5): autocreate_quota 0 creates the INBOX with unlimited quota.
// The most common Cyrus setting; it once gave a 0 KiB quota that refused all
// mail after the first.
TEST_F(StoreBackendTest, AutocreateQuotaZeroIsUnlimited) {
  open("autocreate_post: yes\nautocreate_quota: 0\n");
  std::string big(3000, 'x');
  std::string out = lmtp("LHLO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<dave>\r\nDATA\r\n" + big +
                         "\r\n.\r\nMAIL FROM:<s@x>\r\nRCPT TO:<dave>\r\nDATA\r\n" + big +
                         "\r\n.\r\n");
  EXPECT_EQ(out.find("452"), std::string::npos) << out;
  EXPECT_EQ(records("user.dave").size(), 2u);
  auto root = instance_->quota().find_root("user.dave");
  ASSERT_TRUE(root.ok());
  EXPECT_FALSE(root->has_value()) << "a quota root was created";
}

// Cyrus autocreates at delivery only when autocreate_quota >= 0 as well.
TEST_F(StoreBackendTest, AutocreatePostWithDefaultQuotaCreatesNothing) {
  open("autocreate_post: yes\n");
  std::string out = lmtp("LHLO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<erin>\r\n");
  EXPECT_NE(out.find("550 5.1.1"), std::string::npos) << out;
  EXPECT_EQ(instance_->lookup("user.erin").status().code(), Code::kMailboxNonexistent);
}

TEST_F(StoreBackendTest, AutocreateMessageQuotaAndFolders) {
  open(
      "autocreate_post: yes\nautocreate_quota: 0\nautocreate_quota_messages: 5\n"
      "autocreate_inbox_folders: Sent | Trash|Spam/Old\nautocreate_subscribe_folders: Trash\n"
      "xlist-trash: Trash\nautocreate_acl: Sent anyone p\n");
  std::string out = lmtp("LHLO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<fay>\r\nDATA\r\nx\r\n.\r\n");
  EXPECT_NE(out.find("250 2.1.5"), std::string::npos) << out;
  auto root = instance_->quota().get("user.fay");
  ASSERT_TRUE(root.ok()) << root.status().to_string();
  EXPECT_EQ(root->message_limit, 5);
  EXPECT_EQ(root->storage_limit_kib, -1);
  ASSERT_TRUE(instance_->lookup("user.fay.Sent").ok());
  ASSERT_TRUE(instance_->lookup("user.fay.Trash").ok());
  ASSERT_TRUE(instance_->lookup("user.fay.Spam.Old").ok());
  EXPECT_TRUE(store::acl_has_right(instance_->lookup("user.fay.Sent")->acl, "anyone", 'p'));
  auto subs = instance_->userdata().subscriptions("fay");
  ASSERT_TRUE(subs.ok());
  std::set<std::string> got(subs->begin(), subs->end());
  EXPECT_EQ(got, (std::set<std::string>{"user.fay", "user.fay.Trash"}));
  auto use = instance_->annotations().get("user.fay.Trash", "/specialuse", "fay");
  ASSERT_TRUE(use.ok());
  EXPECT_EQ(use->value, "\\Trash");
}

// Admins and users outside autocreate_users get no INBOX.
TEST_F(StoreBackendTest, AutocreateUsersAndAdmins) {
  open("autocreate_post: yes\nautocreate_quota: 0\nadmins: root\nautocreate_users: gil\n");
  std::string out = lmtp(
      "LHLO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<gil>\r\nRCPT TO:<hal>\r\nRCPT TO:<root>\r\n"
      "DATA\r\nx\r\n.\r\n");
  EXPECT_TRUE(instance_->lookup("user.gil").ok()) << out;
  EXPECT_FALSE(instance_->lookup("user.hal").ok()) << out;
  EXPECT_FALSE(instance_->lookup("user.root").ok()) << out;
}

TEST_F(StoreBackendTest, QuotaStrictAndIgnoreQuota) {
  open("lmtp_strict_quota: yes\n");
  create("user.alice");
  ASSERT_TRUE(instance_->set_quota("user.alice", 1, -1).is_ok());
  std::string big(2000, 'y');
  std::string out = lmtp("LHLO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice>\r\nDATA\r\n" + big +
                         "\r\n.\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice> IGNOREQUOTA\r\nDATA\r\n" +
                         big + "\r\n.\r\n");
  EXPECT_NE(out.find("354 go ahead\r\n452 4.2.2 Over quota\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("354 go ahead\r\n250 2.1.5 Ok\r\n"), std::string::npos) << out;
  EXPECT_EQ(records("user.alice").size(), 1u);
}

TEST_F(StoreBackendTest, OversizeMessageStoresNothing) {
  open();
  create("user.alice");
  std::string out = lmtp("LHLO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice>\r\nDATA\r\n" +
                             std::string(300, 'z') + "\r\n.\r\n",
                         100);
  EXPECT_NE(out.find("552 5.3.4"), std::string::npos);
  EXPECT_TRUE(records("user.alice").empty());
}

// duplicatesuppression (Cyrus's default): the same Message-ID delivered to
// the same mailbox again is dropped with 250; another mailbox, another id
// or a message without an id is delivered.
TEST_F(StoreBackendTest, DuplicateMessageIdToTheSameMailboxIsDroppedWith250) {
  open();
  create("user.alice");
  create("user.alice.lists", "anyone\tp");
  create("user.bob");
  const std::string msg = "DATA\r\nMessage-ID: <dup@x>\r\nSubject: t\r\n\r\nbody\r\n.\r\n";
  std::string first = lmtp("LHLO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice>\r\n" + msg);
  EXPECT_NE(first.find("354 go ahead\r\n250 2.1.5 Ok\r\n"), std::string::npos) << first;
  std::string again =
      lmtp("LHLO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice>\r\nRCPT TO:<bob>\r\n"
           "RCPT TO:<alice+lists>\r\n" + msg);
  EXPECT_NE(again.find("354 go ahead\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"),
            std::string::npos)
      << again;
  EXPECT_EQ(records("user.alice").size(), 1u);
  EXPECT_EQ(records("user.bob").size(), 1u);
  EXPECT_EQ(records("user.alice.lists").size(), 1u);
  // A third time: every mailbox has it already.
  lmtp("LHLO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice>\r\nRCPT TO:<bob>\r\n" + msg);
  EXPECT_EQ(records("user.alice").size(), 1u);
  EXPECT_EQ(records("user.bob").size(), 1u);
  // Another id, and no id at all, are delivered every time.
  for (int i = 0; i < 2; i++) {
    lmtp("LHLO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice>\r\nDATA\r\nMessage-ID: <other@x>\r\n"
         "\r\nb\r\n.\r\n");
    lmtp("LHLO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice>\r\nDATA\r\nSubject: no id\r\n"
         "\r\nb\r\n.\r\n");
  }
  EXPECT_EQ(records("user.alice").size(), 4u);
}

TEST_F(StoreBackendTest, DuplicateSuppressionOffDeliversEveryCopy) {
  open("duplicatesuppression: no\n");
  create("user.alice");
  const std::string session =
      "LHLO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice>\r\nDATA\r\nMessage-ID: <dup@x>\r\n"
      "\r\nbody\r\n.\r\n";
  lmtp(session);
  lmtp(session);
  EXPECT_EQ(records("user.alice").size(), 2u);
}

// A refused delivery records nothing: once the quota allows it, the retry
// of the same message is delivered, not dropped as a duplicate.
TEST_F(StoreBackendTest, FailedDeliveryIsNotRecordedAsDelivered) {
  open("lmtp_strict_quota: yes\n");
  create("user.alice");
  ASSERT_TRUE(instance_->set_quota("user.alice", 1, -1).is_ok());
  const std::string msg = "DATA\r\nMessage-ID: <q@x>\r\n\r\n" + std::string(2000, 'y') +
                          "\r\n.\r\n";
  std::string refused = lmtp("LHLO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice>\r\n" + msg);
  EXPECT_NE(refused.find("354 go ahead\r\n452 4.2.2 Over quota\r\n"), std::string::npos)
      << refused;
  EXPECT_TRUE(records("user.alice").empty());
  std::string ok = lmtp("LHLO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice> IGNOREQUOTA\r\n" + msg);
  EXPECT_NE(ok.find("354 go ahead\r\n250 2.1.5 Ok\r\n"), std::string::npos) << ok;
  EXPECT_EQ(records("user.alice").size(), 1u);
}

}  // namespace
}  // namespace replimail::lmtp
