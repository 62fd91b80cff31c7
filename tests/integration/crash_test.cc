// lmtpd killed with SIGKILL mid-delivery: the store stays consistent and
// holds exactly the acknowledged messages (the one cut after its final dot
// may exist, but then complete and indexed).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "harness.h"
#include "store_checks.h"

namespace replimail::testing {
namespace {

using nlohmann::json;

void crash_and_check(const std::string& mode) {
  Instance inst;
  ASSERT_EQ(inst.start(), "");
  ASSERT_TRUE(inst.tool("cyr_mbox", {"create", "user.alice"}).ok());

  auto r = inst.python("lmtp_crash.py", {"--port", std::to_string(inst.lmtp_port()), "--master-pid",
                                         std::to_string(inst.master_pid()), "--mode", mode});
  ASSERT_TRUE(r.ok()) << r.describe();
  json out = json::parse(r.out);
  EXPECT_TRUE(out["recovered"].get<bool>()) << r.out;
  EXPECT_FALSE(pid_alive(out["killed"].get<pid_t>()));
  const std::string cut = out["cut"].get<std::string>();

  auto check = inst.tool("reconstruct", {"-n"});
  EXPECT_EQ(check.exit_code, 0) << check.describe();

  auto snap = inst.snapshot("user.alice");
  ASSERT_EQ(snap.error, "");
  auto stored = check_stored_messages(snap, out["sent"]);
  EXPECT_EQ(stored.problems, std::vector<std::string>{});
  auto acked_ids = out["acked"].get<std::vector<std::string>>();
  std::set<std::string> acked(acked_ids.begin(), acked_ids.end());
  std::set<std::string> found;
  for (const auto& [id, uid] : stored.by_test_id) found.insert(id);
  if (mode == "dot" && found.count(cut) && !acked.count(cut)) acked.insert(cut);
  EXPECT_EQ(found, acked) << r.out;
  if (mode == "data") {
    EXPECT_FALSE(found.count(cut)) << "a half-sent message was stored";
  }

  // A second check run agrees, and the instance still works.
  EXPECT_EQ(inst.tool("reconstruct", {"-n"}).exit_code, 0);
  EXPECT_EQ(inst.stop(), 0);
}

TEST(Crash, LmtpdKilledInTheMiddleOfData) { crash_and_check("data"); }

TEST(Crash, LmtpdKilledRightAfterTheFinalDot) { crash_and_check("dot"); }

}  // namespace
}  // namespace replimail::testing
