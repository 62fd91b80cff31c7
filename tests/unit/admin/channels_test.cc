// admin::remove_channels (admin/promote.h), what clusterd runs when no user
// of its slot is placed on a channel's replica slot any more: imapd.conf
// stops logging to the channel and forgets its sync host, mailboxes.db
// forgets it (so one added again bootstraps afresh), cyrus.conf's rolling
// client of it is commented out, and the other channels are left alone.
#include "store/channels.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "../../support/temp_dir.h"
#include "admin/promote.h"
#include "common/config.h"
#include "common/fs.h"
#include "master/cyrus_conf.h"
#include "store/mboxlist.h"

namespace replimail::admin {
namespace {

struct Slot {
  std::string dir = testing::make_temp_dir("remove_channels");
  std::string conf = dir + "/imapd.conf";
  std::string cyrus = dir + "/cyrus.conf";
  ~Slot() { std::filesystem::remove_all(dir); }

  void write(const std::string& channels) {
    ASSERT_FALSE(dir.empty());
    ASSERT_TRUE(fs::write_file_atomic(conf, fmt::format("configdirectory: {}/conf\n"
                                                        "partition-default: {}/spool\n"
                                                        "sync_log: 1\n"
                                                        "sync_log_channels: {}\n"
                                                        "n1_sync_host: 10.0.0.2:2005\n"
                                                        "n_2_sync_host: 10.0.0.3:2005\n",
                                                        dir, dir, channels))
                    .is_ok());
    ASSERT_TRUE(fs::write_file_atomic(cyrus,
                                      "SERVICES {\n"
                                      "  imap cmd=\"imapd\" listen=\"imap\"\n"
                                      "}\n"
                                      "DAEMON {\n"
                                      "  syncn1 cmd=\"sync_client -r -n n1\"\n"
                                      "  syncn2 cmd=\"sync_client -r -n n_2\"\n"
                                      "}\n")
                    .is_ok());
    auto cfg = Config::load(conf);
    ASSERT_TRUE(cfg.ok()) << cfg.status().to_string();
    ASSERT_TRUE(store::record_channels(*cfg).ok());
  }

  std::vector<std::string> recorded() {
    std::vector<std::string> out;
    auto mbl = store::MailboxList::open(dir + "/conf/mailboxes.db");
    if (!mbl.ok()) return {"(" + mbl.status().to_string() + ")"};
    auto states = (*mbl)->channel_states();
    if (!states.ok()) return {"(" + states.status().to_string() + ")"};
    const std::vector<store::ChannelState>& all = *states;
    for (size_t i = 0; i < all.size(); i++) out.push_back(all[i].channel);
    return out;
  }

  int remove(const std::vector<std::string>& channels, std::string* report = nullptr) {
    PromoteOptions o;
    o.conf = conf;
    o.cyrus_conf = cyrus;
    for (const auto& c : channels) o.replicas.push_back({c, ""});
    std::string out;
    int rc = remove_channels(o, {[&](const std::string& l) { out += l + "\n"; },
                                 [&](const std::string& l) { out += "ERR " + l + "\n"; }});
    if (report != nullptr) *report = out;
    return rc;
  }
};

TEST(RemoveChannels, OnlyTheNamedChannelGoesEverywhere) {
  Slot s;
  s.write("squatter n1 n_2");
  ASSERT_EQ(s.recorded(), (std::vector<std::string>{"n1", "n_2", "squatter"}));
  std::string report;
  ASSERT_EQ(s.remove({"n1"}, &report), 0) << report;
  auto cfg = Config::load(s.conf);
  ASSERT_TRUE(cfg.ok());
  EXPECT_TRUE(cfg->get_bool("sync_log"));
  EXPECT_EQ(cfg->get("sync_log_channels"), "squatter n_2");
  EXPECT_FALSE(cfg->raw("n1_sync_host").has_value());
  EXPECT_EQ(cfg->get("n_2_sync_host"), "10.0.0.3:2005");
  EXPECT_EQ(s.recorded(), (std::vector<std::string>{"n_2", "squatter"}));
  auto cyrus = master::load_cyrus_conf(s.cyrus);
  ASSERT_TRUE(cyrus.ok()) << cyrus.status().to_string();
  ASSERT_EQ(cyrus->daemons.size(), 1u);
  EXPECT_EQ(cyrus->daemons[0].name, "syncn2");
  EXPECT_NE(report.find("master not signalled"), std::string::npos) << report;
  // Again: nothing left to do, and still success.
  EXPECT_EQ(s.remove({"n1"}, &report), 0) << report;
  EXPECT_NE(report.find("logs to none of n1 already"), std::string::npos) << report;
}

TEST(RemoveChannels, TheLastChannelTurnsLoggingOffAndIsForgottenAnyway) {
  Slot s;
  s.write("n1");
  ASSERT_EQ(s.remove({"n1"}), 0);
  auto cfg = Config::load(s.conf);
  ASSERT_TRUE(cfg.ok());
  EXPECT_FALSE(cfg->get_bool("sync_log"));
  // master leaves the records alone while sync_log is off; the removal
  // does not: n1 added again later must bootstrap.
  EXPECT_TRUE(s.recorded().empty());
  PromoteOptions none;
  none.conf = s.conf;
  none.cyrus_conf = s.cyrus;
  EXPECT_NE(remove_channels(none, {[](const std::string&) {}, [](const std::string&) {}}), 0);
}

}  // namespace
}  // namespace replimail::admin
