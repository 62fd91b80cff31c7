// cyr_expire's options and its work on a real store: -X purges expunged
// records (and the files expunge_mode: delayed kept), -D removes deleted
// mailboxes by the time in their names, -E trims deliver.db; ipurge's
// options and selection.
#include "../../support/temp_dir.h"
#include "admin/expire.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>

#include "admin/purge.h"
#include "common/fs.h"
#include "store/duplicate.h"
#include "store/instance.h"
#include "synclog/line.h"
#include "synclog/synclog.h"

namespace replimail::admin {
namespace {

namespace fsys = std::filesystem;

TEST(ExpireArgs, DurationsAreDaysUnlessSuffixed) {
  EXPECT_EQ(*parse_expire_duration("2"), 2 * 86400.0);
  EXPECT_EQ(*parse_expire_duration("1.5d"), 1.5 * 86400);
  EXPECT_EQ(*parse_expire_duration("12h"), 12 * 3600.0);
  EXPECT_EQ(*parse_expire_duration("30m"), 1800.0);
  EXPECT_EQ(*parse_expire_duration("45s"), 45.0);
  EXPECT_EQ(*parse_expire_duration("0"), 0.0);
  for (const char* badv : {"", "d", "-1", "1w", "1.2.3x", "abc", "1 d"})
    EXPECT_FALSE(parse_expire_duration(badv).ok()) << badv;
}

TEST(ExpireArgs, GetoptStyleAndTheRequiredAction) {
  auto o = parse_expire_args({"-C", "/x.conf", "-E3", "-X", "0", "-D", "60", "-va", "-u", "bob"});
  ASSERT_TRUE(o.ok()) << o.status().to_string();
  EXPECT_EQ(o->config, "/x.conf");
  EXPECT_EQ(*o->expire_s, 3 * 86400.0);
  EXPECT_EQ(*o->expunge_s, 0.0);
  EXPECT_EQ(*o->delete_s, 60 * 86400.0);
  EXPECT_TRUE(o->verbose);
  EXPECT_TRUE(o->skip_annotations);
  EXPECT_FALSE(o->skip_expunge);
  EXPECT_EQ(o->user, "bob");
  auto x = parse_expire_args({"-x", "-c", "-A", "7d", "-p", "user.spam"});
  ASSERT_TRUE(x.ok()) << x.status().to_string();
  EXPECT_TRUE(x->skip_expunge);
  EXPECT_EQ(x->prefix, "user.spam");
  EXPECT_EQ(parse_expire_args({"-v"}).status().message(),
            "at least one of -A -D -E -X is required");
  EXPECT_FALSE(parse_expire_args({"-E"}).ok());            // no value
  EXPECT_FALSE(parse_expire_args({"-E", "soon"}).ok());    // bad duration
  EXPECT_FALSE(parse_expire_args({"-q", "-E1"}).ok());     // unknown option
  EXPECT_FALSE(parse_expire_args({"-E1", "extra"}).ok());  // stray argument
  EXPECT_FALSE(parse_expire_args({"-E1", "-u", "../x"}).ok());
  auto t = parse_expire_args({"-t", "-E1"});
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("not implemented"), std::string::npos);
}

TEST(ExpireArgs, DeletedMailboxTimeIsTheHexSuffix) {
  EXPECT_EQ(deleted_mailbox_time("DELETED.user.bob.Old.6B0799F4"), 0x6B0799F4);
  EXPECT_EQ(deleted_mailbox_time("DELETED.user.bob.5f1a2b3c"), 0x5F1A2B3C);
  EXPECT_EQ(deleted_mailbox_time("DELETED.user.bob.Old"), std::nullopt);
  EXPECT_EQ(deleted_mailbox_time("DELETED.user.bob.6B0799F"), std::nullopt);
  EXPECT_EQ(deleted_mailbox_time("nodots"), std::nullopt);
}

class ExpireStore : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = replimail::testing::make_temp_dir("rm_expire_");
    ASSERT_NE(root_, "");
  }
  void TearDown() override {
    inst_.reset();
    fsys::remove_all(root_);
  }
  void open(const std::string& extra) {
    auto cfg = Config::parse(fmt::format("configdirectory: {0}/conf\npartition-default: {0}/part\n"
                                         "sync_log: 1\nsync_log_channels: replica\n{1}",
                                         root_, extra),
                             "test.conf");
    ASSERT_TRUE(cfg.ok()) << cfg.status().to_string();
    auto inst = store::Instance::open(*cfg);
    ASSERT_TRUE(inst.ok()) << inst.status().to_string();
    inst_ = std::move(*inst);
  }
  uint32_t deliver(const std::string& mailbox, const std::string& body, int64_t internaldate = 0) {
    auto msg = inst_->stage_message();
    EXPECT_TRUE(msg.ok());
    EXPECT_TRUE((*msg)->write(body).is_ok());
    EXPECT_TRUE((*msg)->finish().is_ok());
    store::AppendRequest req;
    req.mailbox = mailbox;
    req.message = msg->get();
    req.internaldate = internaldate;
    auto res = inst_->append({req});
    EXPECT_TRUE(res[0].status.is_ok()) << res[0].status.to_string();
    return res[0].uid;
  }
  std::vector<store::IndexRecord> records(const std::string& name) {
    std::vector<store::IndexRecord> out;
    auto mbox = inst_->open_mailbox(name);
    EXPECT_TRUE(mbox.ok());
    if (!mbox.ok()) return out;
    EXPECT_TRUE((*mbox)
                    ->for_each_record(0,
                                      [&](const store::IndexRecord& r) {
                                        out.push_back(r);
                                        return true;
                                      })
                    .is_ok());
    return out;
  }
  std::string file(const std::string& name, uint32_t uid) {
    return (*inst_->open_mailbox(name))->message_path(uid);
  }
  std::vector<synclog::Line> take_log() {
    std::string path = synclog::log_path(inst_->config().configdirectory(), "replica");
    auto data = fs::read_file(path);
    (void)fs::remove_file(path);  // absent when nothing was logged
    if (!data.ok()) return {};
    return synclog::parse_log(*data).lines;
  }
  ExpireReport expire(std::vector<std::string> args, int64_t now) {
    auto o = parse_expire_args(args);
    EXPECT_TRUE(o.ok()) << o.status().to_string();
    auto r = run_expire(*inst_, *o, now, nullptr);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? *r : ExpireReport{};
  }

  std::string root_;
  std::unique_ptr<store::Instance> inst_;
};

TEST_F(ExpireStore, DelayedExpungeKeepsFilesUntilMinusXPurgesRecordsAndFiles) {
  open("expunge_mode: delayed\n");
  ASSERT_TRUE(inst_->create_mailbox("user.alice").ok());
  uint32_t a = deliver("user.alice", "Subject: a\r\n\r\na\r\n");
  uint32_t b = deliver("user.alice", "Subject: b\r\n\r\nb\r\n");
  ASSERT_TRUE(inst_->expunge("user.alice", {a}).is_ok());
  // delayed: the expunged record's file stays.
  EXPECT_TRUE(fsys::exists(file("user.alice", a)));
  take_log();
  // Expunged just now: -X 1 (a day) keeps it.
  const int64_t now = ::time(nullptr);
  EXPECT_EQ(expire({"-X", "1"}, now).records_purged, 0u);
  EXPECT_EQ(records("user.alice").size(), 2u);
  EXPECT_TRUE(take_log().empty());  // nothing changed, nothing logged
  // -X 0 a second later: the record and its file go, the live one stays.
  EXPECT_EQ(expire({"-X", "0"}, now + 1).records_purged, 1u);
  auto left = records("user.alice");
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].uid, b);
  EXPECT_FALSE(fsys::exists(file("user.alice", a)));
  EXPECT_TRUE(fsys::exists(file("user.alice", b)));
  auto log = take_log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0], (synclog::Line{"MAILBOX", {"user.alice"}}));
  // -x skips -X.
  ASSERT_TRUE(inst_->expunge("user.alice", {b}).is_ok());
  EXPECT_EQ(expire({"-X", "0", "-x"}, now + 2).records_purged, 0u);
  EXPECT_EQ(records("user.alice").size(), 1u);
}

TEST_F(ExpireStore, SemidelayedRemovesTheFileAtTheExpungeAndMinusXTheRecord) {
  open("");
  ASSERT_TRUE(inst_->create_mailbox("user.alice").ok());
  uint32_t a = deliver("user.alice", "Subject: a\r\n\r\na\r\n");
  ASSERT_TRUE(inst_->expunge("user.alice", {a}).is_ok());
  EXPECT_FALSE(fsys::exists(file("user.alice", a)));
  EXPECT_EQ(records("user.alice").size(), 1u);
  EXPECT_EQ(expire({"-X", "0"}, ::time(nullptr) + 1).records_purged, 1u);
  EXPECT_TRUE(records("user.alice").empty());
}

TEST_F(ExpireStore, MinusDRemovesDeletedMailboxesOlderThanTheDurationOnly) {
  open("");
  const int64_t now = 0x6B000000;
  std::string old_name = fmt::format("DELETED.user.bob.Old.{:08X}", now - 3 * 86400);
  std::string new_name = fmt::format("DELETED.user.bob.New.{:08X}", now - 3600);
  std::string carol = fmt::format("DELETED.user.carol.{:08X}", now - 3 * 86400);
  for (const auto& n : {old_name, new_name, carol}) ASSERT_TRUE(inst_->create_mailbox(n).ok()) << n;
  ASSERT_TRUE(inst_->create_mailbox("user.bob").ok());
  take_log();
  // -u: only bob's.
  EXPECT_EQ(expire({"-D", "1", "-u", "bob"}, now).mailboxes_deleted, 1u);
  EXPECT_FALSE(inst_->lookup(old_name).ok());
  EXPECT_TRUE(inst_->lookup(new_name).ok());
  EXPECT_TRUE(inst_->lookup(carol).ok());
  EXPECT_TRUE(inst_->lookup("user.bob").ok());
  bool unmailbox = false;
  for (const auto& l : take_log())
    if (l == synclog::Line{"UNMAILBOX", {old_name}}) unmailbox = true;
  EXPECT_TRUE(unmailbox);
  EXPECT_EQ(expire({"-D", "0"}, now).mailboxes_deleted, 2u);
  EXPECT_FALSE(inst_->lookup(new_name).ok());
  EXPECT_FALSE(inst_->lookup(carol).ok());
  EXPECT_TRUE(inst_->lookup("user.bob").ok());
}

TEST_F(ExpireStore, MinusDDoesNothingWithImmediateDeleteMode) {
  open("delete_mode: immediate\n");
  std::string name = "DELETED.user.bob.5F000000";
  ASSERT_TRUE(inst_->create_mailbox(name).ok());
  EXPECT_EQ(expire({"-D", "0"}, 0x6B000000).mailboxes_deleted, 0u);
  EXPECT_TRUE(inst_->lookup(name).ok());
}

TEST_F(ExpireStore, MinusETrimsTheDuplicateDatabase) {
  open("");
  auto db = store::DuplicateDb::open(store::DuplicateDb::path_for(inst_->config()));
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)->mark({{"<a@x>", "user.a"}}, 1000).is_ok());
  ASSERT_TRUE((*db)->mark({{"<b@x>", "user.a"}}, 1000 + 2 * 86400).is_ok());
  auto rep = expire({"-E", "1"}, 1000 + 2 * 86400);
  EXPECT_EQ(rep.duplicates_expired, 1);
  EXPECT_EQ(rep.duplicates_left, 1);
  EXPECT_FALSE(*(*db)->check({"<a@x>", "user.a"}));
  EXPECT_TRUE(*(*db)->check({"<b@x>", "user.a"}));
}

TEST(IpurgeArgs, OneCriterionSizesInUnitsAndPatterns) {
  auto o = parse_ipurge_args({"-f", "-d", "30", "-X", "-n", "user.bob", "shared.*"});
  ASSERT_TRUE(o.ok()) << o.status().to_string();
  EXPECT_EQ(*o->days, 30);
  EXPECT_TRUE(o->force && o->delivery_time && o->dry_run);
  EXPECT_EQ(o->patterns, (std::vector<std::string>{"user.bob", "shared.*"}));
  EXPECT_EQ(*parse_ipurge_args({"-b", "100"})->bytes, 100u);
  EXPECT_EQ(*parse_ipurge_args({"-k2"})->bytes, 2048u);
  EXPECT_EQ(*parse_ipurge_args({"-m", "3"})->bytes, 3u << 20);
  EXPECT_FALSE(parse_ipurge_args({"-v"}).ok());                  // no criterion
  EXPECT_FALSE(parse_ipurge_args({"-d", "1", "-b", "2"}).ok());  // two
  EXPECT_FALSE(parse_ipurge_args({"-d", "x"}).ok());
  EXPECT_FALSE(parse_ipurge_args({"-d", "-1"}).ok());
  EXPECT_FALSE(parse_ipurge_args({"-z", "-d1"}).ok());
}

TEST(IpurgeArgs, MatchingOlderLargerExactInvertAndFlags) {
  store::IndexRecord r;
  r.size = 1000;
  const int64_t now = 100 * 86400;
  PurgeOptions o = *parse_ipurge_args({"-d", "10"});
  EXPECT_TRUE(purge_matches(o, r, now - 11 * 86400, now));
  EXPECT_FALSE(purge_matches(o, r, now - 10 * 86400, now));  // not older
  o.invert = true;
  EXPECT_TRUE(purge_matches(o, r, now - 86400, now));
  o = *parse_ipurge_args({"-x", "-d", "10"});
  EXPECT_TRUE(purge_matches(o, r, now - 10 * 86400 - 5, now));
  EXPECT_FALSE(purge_matches(o, r, now - 11 * 86400, now));
  o = *parse_ipurge_args({"-b", "999"});
  EXPECT_TRUE(purge_matches(o, r, now, now));
  o = *parse_ipurge_args({"-b", "1000"});
  EXPECT_FALSE(purge_matches(o, r, now, now));
  o = *parse_ipurge_args({"-x", "-b", "1000"});
  EXPECT_TRUE(purge_matches(o, r, now, now));
  o = *parse_ipurge_args({"-s", "-b", "1"});
  r.system_flags = store::kFlagFlagged;
  EXPECT_FALSE(purge_matches(o, r, now, now));
  o = *parse_ipurge_args({"-o", "-b", "1"});
  EXPECT_FALSE(purge_matches(o, r, now, now));
  r.system_flags = store::kFlagDeleted;
  EXPECT_TRUE(purge_matches(o, r, now, now));
  r.system_flags |= store::kFlagExpunged;
  EXPECT_FALSE(purge_matches(o, r, now, now));
}

TEST(IpurgeArgs, SharedOnlyWithoutMinusFAndPatternsRecurseUnlessMinusM) {
  PurgeOptions o = *parse_ipurge_args({"-d", "1"});
  EXPECT_TRUE(purge_selects(o, "shared.lists"));
  EXPECT_FALSE(purge_selects(o, "user.bob"));
  o.force = true;
  EXPECT_TRUE(purge_selects(o, "user.bob.Trash"));
  o.patterns = {"user.bob"};
  EXPECT_TRUE(purge_selects(o, "user.bob"));
  EXPECT_TRUE(purge_selects(o, "user.bob.Trash"));
  EXPECT_FALSE(purge_selects(o, "user.bobby"));
  o.no_recurse = true;
  EXPECT_FALSE(purge_selects(o, "user.bob.Trash"));
  o.patterns = {"user.%.Trash"};
  EXPECT_TRUE(purge_selects(o, "user.bob.Trash"));
  EXPECT_FALSE(purge_selects(o, "user.bob.x.Trash"));
  o.patterns = {"user.*.Trash"};
  EXPECT_TRUE(purge_selects(o, "user.bob.x.Trash"));
}

TEST_F(ExpireStore, IpurgeExpungesByDateHeaderOrDeliveryTimeAndBySize) {
  open("");
  ASSERT_TRUE(inst_->create_mailbox("shared.lists").ok());
  ASSERT_TRUE(inst_->create_mailbox("user.bob").ok());
  const int64_t now = ::time(nullptr);
  // Sent long ago, delivered now; sent now, delivered long ago; a big one.
  uint32_t old_sent = deliver("shared.lists", "Date: Mon, 02 Nov 2020 10:00:00 +0000\r\n\r\nx\r\n");
  char today[64];
  struct tm tm;
  ::gmtime_r(&now, &tm);
  ::strftime(today, sizeof today, "Date: %a, %d %b %Y %H:%M:%S +0000\r\n\r\nx\r\n", &tm);
  uint32_t old_arrival = deliver("shared.lists", today, now - 40 * 86400);
  uint32_t big = deliver("shared.lists", "Subject: big\r\n\r\n" + std::string(5000, 'b') + "\r\n");
  deliver("user.bob", "Date: Mon, 02 Nov 2020 10:00:00 +0000\r\n\r\nx\r\n");
  auto run = [&](std::vector<std::string> args) {
    auto o = parse_ipurge_args(args);
    EXPECT_TRUE(o.ok()) << o.status().to_string();
    auto r = run_ipurge(*inst_, *o, now, nullptr);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? *r : PurgeReport{};
  };
  auto live = [&](const std::string& name) {
    std::vector<uint32_t> out;
    for (const auto& r : records(name))
      if (!r.expunged()) out.push_back(r.uid);
    return out;
  };
  // Dry run: nothing goes.
  EXPECT_EQ(run({"-n", "-d", "30"}).deleted, 1u);
  EXPECT_EQ(live("shared.lists").size(), 3u);
  take_log();
  // By the Date: header, shared mailboxes only.
  EXPECT_EQ(run({"-d", "30"}).deleted, 1u);
  EXPECT_EQ(live("shared.lists"), (std::vector<uint32_t>{old_arrival, big}));
  EXPECT_EQ(live("user.bob").size(), 1u);
  bool logged = false;
  for (const auto& l : take_log())
    if (l == synclog::Line{"MAILBOX", {"shared.lists"}}) logged = true;
  EXPECT_TRUE(logged);
  // -X: by delivery time.
  EXPECT_EQ(run({"-X", "-d", "30"}).deleted, 1u);
  EXPECT_EQ(live("shared.lists"), (std::vector<uint32_t>{big}));
  // By size, -f for user mailboxes too.
  EXPECT_EQ(run({"-f", "-k", "4"}).deleted, 1u);
  EXPECT_TRUE(live("shared.lists").empty());
  EXPECT_EQ(run({"-f", "-d", "30", "user.bob"}).deleted, 1u);
  EXPECT_TRUE(live("user.bob").empty());
  (void)old_sent;
}

}  // namespace
}  // namespace replimail::admin
