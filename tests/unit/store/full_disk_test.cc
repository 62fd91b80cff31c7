// A full spool must not lock readers out (issue 13, item 11): with the
// filesystem holding the configdirectory and the partition full, a new
// process opens the instance and the mailbox, reads its counters, records,
// seen state and message files, and can start a write transaction (to
// expunge); once space is back, writes work again.
//
// The full filesystem is a small tmpfs (tests/unit/small_fs.h).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>


#include "../small_fs.h"
#include "store_test_util.h"

namespace replimail::store {
namespace {

using testing::sha1_hex;

using replimail::testing::fill_filesystem;
using replimail::testing::kCannotMount;
using replimail::testing::run_on_small_fs;

Config config_for(const std::string& dir) {
  auto cfg = Config::parse(fmt::format("configdirectory: {0}/conf\n"
                                       "partition-default: {0}/part\n"
                                       "sync_log: 1\n"
                                       "sync_log_channels: replica\n",
                                       dir),
                           "test.conf");
  return *cfg;
}

std::string body_of(int i) { return fmt::format("Subject: m{}\r\n\r\nbody {}\r\n", i, i); }

// Delivers, flags and marks seen as a session would, then closes everything.
std::string prepare(const Config& cfg) {
  auto inst = Instance::open(cfg);
  if (!inst.ok()) return "open: " + inst.status().to_string();
  auto e = (*inst)->create_mailbox("user.alice");
  if (!e.ok()) return "create: " + e.status().to_string();
  for (int i = 1; i <= 5; i++) {
    auto msg = (*inst)->stage_message();
    if (!msg.ok() || !(*msg)->write(body_of(i)) || !(*msg)->finish()) return "stage";
    AppendRequest req;
    req.mailbox = "user.alice";
    req.message = msg->get();
    auto res = (*inst)->append({req});
    if (!res[0].status) return "append: " + res[0].status.to_string();
  }
  Status s = (*inst)->store_flags("user.alice", {2}, kFlagFlagged, {"$Label1"}, true);
  if (!s) return "store: " + s.to_string();
  SeenRecord seen;
  seen.uniqueid = e->uniqueid;
  seen.lastuid = 5;
  seen.seenuids = "1:3";
  s = (*inst)->set_seen("bob", seen);
  if (!s) return "seen: " + s.to_string();
  return "";
}

// Everything a reader does, on a full filesystem.
std::string read_all(const Config& cfg) {
  auto inst = Instance::open(cfg);
  if (!inst.ok()) return "open instance: " + inst.status().to_string();
  auto m = (*inst)->open_mailbox("user.alice");
  if (!m.ok()) return "open mailbox: " + m.status().to_string();
  auto c = (*m)->counters();
  if (!c.ok()) return "counters: " + c.status().to_string();
  if (c->exists != 5 || c->last_uid != 5) return fmt::format("exists {}", c->exists);
  std::vector<IndexRecord> records;
  Status s = (*m)->for_each_record(0, [&](const IndexRecord& r) {
    records.push_back(r);
    return true;
  });
  if (!s) return "records: " + s.to_string();
  if (records.size() != 5) return fmt::format("{} records", records.size());
  if (records[1].user_flags != std::vector<std::string>{"$Label1"}) return "flags lost";
  for (const auto& r : records) {
    auto data = fs::read_file((*m)->message_path(r.uid));
    if (!data.ok()) return "message: " + data.status().to_string();
    if (sha1_hex(*data) != r.guid) return "message content";
  }
  s = (*m)->begin_read();
  if (!s) return "read snapshot: " + s.to_string();
  (*m)->end_read();
  auto seen = (*inst)->userdata().seen("bob", (*m)->entry().uniqueid);
  if (!seen.ok() || seen->seenuids != "1:3")
    return "seen: " + (seen.ok() ? seen->seenuids : seen.status().to_string());
  auto q = (*inst)->quota().get("user.alice");
  (void)q;  // no quota root here: a lookup that answers at all is enough
  // A second reader of the same mailbox in the same process (another
  // session), and one opened to expunge: the write transaction starts.
  auto m2 = (*inst)->open_mailbox("user.alice");
  if (!m2.ok()) return "second open: " + m2.status().to_string();
  auto txn = (*m2)->begin();
  if (!txn.ok()) return "begin write: " + txn.status().to_string();
  return "";
}

TEST(FullDiskTest, ReadersOpenAndReadWhenTheSpoolIsFull) {
  std::string report;
  int rc = run_on_small_fs(4096, &report, [&](const std::string& dir) -> std::string {
    Config cfg = config_for(dir);
    // The mailbox is used and every process using it has gone.
    std::string r = prepare(cfg);
    if (!r.empty()) return "prepare: " + r;
    if (!fill_filesystem(dir + "/filler")) return "could not fill the filesystem";
    // A new process (a new imapd or pop3d session) reads.
    std::string r2 = read_all(cfg);
    if (!r2.empty()) return "full disk: " + r2;
    // Space comes back: writing works again, in this process too.
    ::unlink((dir + "/filler").c_str());
    auto inst = Instance::open(cfg);
    if (!inst.ok()) return "reopen: " + inst.status().to_string();
    Status s = (*inst)->expunge("user.alice", {1});
    if (!s) return "expunge after space returned: " + s.to_string();
    return "";
  });
  ASSERT_NE(rc, kCannotMount) << report;
  EXPECT_EQ(rc, 0) << report;
}

}  // namespace
}  // namespace replimail::store
