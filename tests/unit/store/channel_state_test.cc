#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

#include "store/channels.h"
#include "store/digest.h"
#include "store/mboxlist.h"
#include "store_test_util.h"

namespace replimail::store {
namespace {

using testing::TempInstance;

TEST(ChannelStateTest, NewChannelsAreRecordedBootstrappingOnce) {
  TempInstance t;
  auto& mbl = t.inst().mailboxes();
  auto added = mbl.note_new_channels({"r1", "", "squatter"}, 1000);
  ASSERT_TRUE(added.ok()) << added.status().to_string();
  EXPECT_EQ(*added, (std::vector<std::string>{"r1", "", "squatter"}));
  auto st = mbl.channel_state("r1");
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE(st->has_value());
  EXPECT_EQ((*st)->phase, ChannelPhase::kBootstrapping);
  EXPECT_EQ((*st)->since, 1000);
  // Known ones are not recorded again, whatever their state.
  ASSERT_TRUE(mbl.set_channel_state("r1", ChannelPhase::kRolling, "", 2000));
  added = mbl.note_new_channels({"r1", "", "squatter", "r2"}, 3000);
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(*added, std::vector<std::string>{"r2"});
  EXPECT_EQ((*mbl.channel_state("r1"))->phase, ChannelPhase::kRolling);
  EXPECT_FALSE(mbl.channel_state("nope")->has_value());
}

TEST(ChannelStateTest, RemovedChannelIsForgottenAndBootstrapsWhenItComesBack) {
  TempInstance t;
  auto& mbl = t.inst().mailboxes();
  ASSERT_TRUE(mbl.note_new_channels({"r1", "r2"}, 1).ok());
  ASSERT_TRUE(mbl.set_channel_state("r2", ChannelPhase::kRolling, "", 2));
  ASSERT_TRUE(mbl.note_new_channels({"r1"}, 3).ok());
  auto all = mbl.channel_states();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].channel, "r1");
  auto back = mbl.note_new_channels({"r1", "r2"}, 4);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, std::vector<std::string>{"r2"});
  EXPECT_EQ((*mbl.channel_state("r2"))->phase, ChannelPhase::kBootstrapping);
}

TEST(ChannelStateTest, TransitionsKeepSinceUntilThePhaseChangesAndReasonIsOneLine) {
  TempInstance t;
  auto& mbl = t.inst().mailboxes();
  ASSERT_TRUE(mbl.note_new_channels({"r1"}, 100).ok());
  ASSERT_TRUE(mbl.set_channel_state("r1", ChannelPhase::kBootstrapping, "retrying: refused", 200));
  auto st = *mbl.channel_state("r1");
  EXPECT_EQ(st->since, 100);
  EXPECT_EQ(st->reason, "retrying: refused");
  ASSERT_TRUE(mbl.set_channel_state("r1", ChannelPhase::kFailed,
                                    "authentication\r\nrefused\n" + std::string(500, 'x'), 300));
  st = *mbl.channel_state("r1");
  EXPECT_EQ(st->phase, ChannelPhase::kFailed);
  EXPECT_EQ(st->since, 300);
  EXPECT_EQ(st->reason.find('\n'), std::string::npos);
  EXPECT_EQ(st->reason.find('\r'), std::string::npos);
  EXPECT_TRUE(st->reason.starts_with("authentication  refused"));
  EXPECT_LE(st->reason.size(), 300u);
  ASSERT_TRUE(mbl.set_channel_state("r1", ChannelPhase::kBootstrapping, "", 400));
  ASSERT_TRUE(mbl.set_channel_state("r1", ChannelPhase::kRolling, "", 500));
  st = *mbl.channel_state("r1");
  EXPECT_EQ(st->phase, ChannelPhase::kRolling);
  EXPECT_EQ(st->since, 500);
  EXPECT_EQ(st->reason, "");
  // The state survives closing and opening the instance.
  t.reopen();
  EXPECT_EQ(*t.inst().mailboxes().channel_state("r1"), st);
}

TEST(ChannelStateTest, OldDatabaseWithoutTheTableIsMigratedInPlace) {
  TempInstance t;
  ASSERT_TRUE(t.inst().create_mailbox("user.alice").ok());
  t.close();
  const std::string db = t.cfg().configdirectory() + "/mailboxes.db";
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(h, "DROP TABLE channels", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(h);
  t.reopen();
  EXPECT_TRUE(t.inst().lookup("user.alice").ok());
  auto added = t.inst().mailboxes().note_new_channels({"replica"}, 7);
  ASSERT_TRUE(added.ok()) << added.status().to_string();
  EXPECT_EQ(*added, std::vector<std::string>{"replica"});
}

TEST(ChannelStateTest, RecordChannelsTakesTheConfiguredSetAndIsNotInTheDigest) {
  TempInstance t;
  auto before = digest_lines(t.inst());
  ASSERT_TRUE(before.ok());
  auto added = record_channels(t.cfg());
  ASSERT_TRUE(added.ok()) << added.status().to_string();
  EXPECT_EQ(*added, std::vector<std::string>{"replica"});
  EXPECT_TRUE(record_channels(t.cfg())->empty());
  auto after = digest_lines(t.inst());
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*before, *after);
}

// With sync_log off nothing is logged, so every channel is forgotten:
// turned on again, each bootstraps. An instance without mailboxes.db gets
// none made for that.
TEST(ChannelStateTest, SyncLogOffForgetsEveryChannelAndOnAgainBootstraps) {
  TempInstance t;
  auto with = [&](const std::string& lines) {
    auto cfg = Config::parse(fmt::format("configdirectory: {}\n", t.cfg().configdirectory()) + lines,
                             "test.conf");
    EXPECT_TRUE(cfg.ok()) << cfg.status().to_string();
    return *cfg;
  };
  const Config on = with("sync_log: 1\nsync_log_channels: replica squatter\n");
  const Config off = with("sync_log: 0\nsync_log_channels: replica squatter\n");
  auto& mbl = t.inst().mailboxes();
  auto first = record_channels(on);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  ASSERT_EQ(*first, (std::vector<std::string>{"replica", "squatter"}));
  ASSERT_TRUE(mbl.set_channel_state("replica", ChannelPhase::kRolling, "", 5));
  auto forgot = record_channels(off);
  ASSERT_TRUE(forgot.ok()) << forgot.status().to_string();
  EXPECT_TRUE(forgot->empty());
  auto states = mbl.channel_states();
  ASSERT_TRUE(states.ok());
  EXPECT_TRUE(states->empty());
  // A client still running for a forgotten channel does not record it again.
  ASSERT_TRUE(mbl.set_channel_state("replica", ChannelPhase::kRolling, "", 6));
  auto gone = mbl.channel_state("replica");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
  auto back = record_channels(on);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, (std::vector<std::string>{"replica", "squatter"}));
  auto again = mbl.channel_state("replica");
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(again->has_value());
  EXPECT_EQ((*again)->phase, ChannelPhase::kBootstrapping);

  const std::string bare = replimail::testing::make_temp_dir("replimail-nodb-");
  auto cfg = Config::parse("configdirectory: " + bare + "/conf\nsync_log: 0\n", "test.conf");
  ASSERT_TRUE(cfg.ok());
  auto none = record_channels(*cfg);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_FALSE(std::filesystem::exists(bare + "/conf/mailboxes.db"));
  std::filesystem::remove_all(bare);
}

TEST(ChannelStateTest, PhaseNames) {
  for (auto p : {ChannelPhase::kBootstrapping, ChannelPhase::kRolling, ChannelPhase::kFailed})
    EXPECT_EQ(channel_phase_from_name(channel_phase_name(p)), p);
  EXPECT_FALSE(channel_phase_from_name("idle"));
}

}  // namespace
}  // namespace replimail::store
