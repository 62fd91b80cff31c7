// LMTP delivery end to end: Python's smtplib.LMTP against a real master +
// lmtpd, then the store and the channels' sync logs checked from outside.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "harness.h"
#include "store_checks.h"

namespace replimail::testing {
namespace {

using nlohmann::json;

size_t count_lines(const std::string& log, const std::string& line) {
  auto all = lines_of(log);
  return static_cast<size_t>(std::count(all.begin(), all.end(), line));
}

TEST(Delivery, ThousandMessagesBecomeRecordsWithSizesAndGuids) {
  Instance inst;
  ASSERT_EQ(inst.start(), "");
  auto created = inst.tool("cyr_mbox", {"create", "user.alice"});
  ASSERT_TRUE(created.ok()) << created.describe();

  auto r = inst.python("lmtp_deliver.py", {"--port", std::to_string(inst.lmtp_port()), "-n", "1000",
                                           "--rcpt", "alice", "--prefix", "k"});
  ASSERT_TRUE(r.ok()) << r.describe();
  json out = json::parse(r.out);
  ASSERT_EQ(out["acked"].size(), 1000u);

  auto snap = inst.snapshot("user.alice");
  ASSERT_EQ(snap.error, "");
  auto stored = check_stored_messages(snap, out["sent"]);
  ASSERT_EQ(stored.problems, std::vector<std::string>{});
  EXPECT_EQ(stored.by_test_id.size(), 1000u);
  EXPECT_EQ(snap.records.size(), 1000u);
  EXPECT_EQ(snap.counters.last_uid, 1000u);
  EXPECT_EQ(snap.counters.exists, 1000u);

  // The admin tool reports the same counters.
  auto info = inst.tool("cyr_mbox", {"info", "user.alice"});
  ASSERT_TRUE(info.ok()) << info.describe();
  auto kv = parse_key_values(info.out);
  EXPECT_EQ(kv["last_uid"], "1000") << info.out;
  EXPECT_EQ(kv["exists"], "1000") << info.out;

  // Every configured channel has the lines for every delivery.
  for (const char* channel : {"replica", "squatter"}) {
    auto log = inst.channel_log(channel);
    EXPECT_EQ(count_lines(log, "APPEND user.alice"), 1000u) << channel;
    EXPECT_GE(count_lines(log, "MAILBOX user.alice"), 1000u) << channel;
  }
  EXPECT_FALSE(std::filesystem::exists(inst.channel_log_path("")));
}

TEST(Delivery, FourConcurrentConnectionsGetDistinctUids) {
  Instance inst;
  ASSERT_EQ(inst.start(), "");
  ASSERT_TRUE(inst.tool("cyr_mbox", {"create", "user.alice"}).ok());

  auto r = inst.python("lmtp_deliver.py", {"--port", std::to_string(inst.lmtp_port()), "-n", "1000",
                                           "--conns", "4", "--prefix", "c"});
  ASSERT_TRUE(r.ok()) << r.describe();
  json out = json::parse(r.out);
  ASSERT_EQ(out["acked"].size(), 1000u);

  auto snap = inst.snapshot("user.alice");
  ASSERT_EQ(snap.error, "");
  auto stored = check_stored_messages(snap, out["sent"]);
  ASSERT_EQ(stored.problems, std::vector<std::string>{});
  std::set<uint32_t> uids;
  for (const auto& rec : snap.records) uids.insert(rec.uid);
  ASSERT_EQ(uids.size(), 1000u);
  EXPECT_EQ(*uids.begin(), 1u);
  EXPECT_EQ(*uids.rbegin(), 1000u);
  // No acknowledged message lost, none stored twice.
  auto acked_ids = out["acked"].get<std::vector<std::string>>();
  std::set<std::string> acked(acked_ids.begin(), acked_ids.end());
  std::set<std::string> found;
  for (const auto& [id, uid] : stored.by_test_id) found.insert(id);
  EXPECT_EQ(found, acked);
  EXPECT_EQ(stored.by_test_id.size(), 1000u);
}

TEST(Delivery, SyncLogOffWritesNothing) {
  Instance::Options o;
  o.sync_log = false;
  Instance inst(o);
  ASSERT_EQ(inst.start(), "");
  ASSERT_TRUE(inst.tool("cyr_mbox", {"create", "user.alice"}).ok());
  ASSERT_EQ(deliver(inst, "alice", 3), "");
  EXPECT_EQ(inst.snapshot("user.alice").records.size(), 3u);
  EXPECT_FALSE(std::filesystem::exists(inst.config_dir() + "/sync"));
}

// A delivery that cannot be logged to every channel is not acknowledged:
// no replica would ever hear of it. lmtpd answers a temporary failure, the
// message is not in the mailbox, and once the log can be written again the
// same delivery succeeds and is logged.
// The direct writer's rule. Through sync_logd the journal is the durable
// record and an unwritable channel is retried instead
// (SyncLogd.UnwritableChannelIsRetriedNotRefused).
TEST(Delivery, UnloggableDeliveryGetsNo250AndIsNotStored) {
  Instance::Options o;
  o.sync_logd = false;
  Instance inst(o);
  ASSERT_EQ(inst.start(), "");
  ASSERT_TRUE(inst.tool("cyr_mbox", {"create", "user.alice"}).ok());
  const std::string port = std::to_string(inst.lmtp_port());
  auto first = inst.python("lmtp_deliver.py", {"--port", port, "-n", "2", "--prefix", "a"});
  ASSERT_TRUE(first.ok()) << first.describe();

  // One channel's log becomes a directory: no append to it can succeed.
  const std::string squatter = inst.channel_log_path("squatter");
  std::filesystem::remove(squatter);
  ASSERT_TRUE(std::filesystem::create_directory(squatter));
  auto refused = inst.python("lmtp_deliver.py", {"--port", port, "-n", "3", "--prefix", "b"});
  EXPECT_FALSE(refused.ok());
  json out = json::parse(refused.out);
  EXPECT_EQ(out["acked"].size(), 0u) << refused.out;
  ASSERT_EQ(out["refused"].size(), 3u) << refused.out;
  for (const auto& [id, why] : out["refused"].items())
    EXPECT_EQ(why.get<std::string>().rfind("alice:451 4.3.0", 0), 0u) << id << ": " << why;
  EXPECT_EQ(inst.snapshot("user.alice").records.size(), 2u);

  std::filesystem::remove(squatter);
  auto after = inst.python("lmtp_deliver.py", {"--port", port, "-n", "1", "--prefix", "c"});
  ASSERT_TRUE(after.ok()) << after.describe();
  EXPECT_EQ(inst.snapshot("user.alice").records.size(), 3u);
  EXPECT_EQ(count_lines(inst.channel_log("squatter"), "APPEND user.alice"), 1u);
  EXPECT_GE(count_lines(inst.channel_log("replica"), "APPEND user.alice"), 3u);
}

}  // namespace
}  // namespace replimail::testing
