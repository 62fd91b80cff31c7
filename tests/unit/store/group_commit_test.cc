// Group commit of concurrent deliveries into one mailbox
// (store/delivery_queue.h): a group whose commit fails fails every member
// and leaves none of them behind; many concurrent deliveries are each
// present exactly once when acknowledged; a leader that died holding a
// claim is told from its committed records.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "os/fault_env.h"
#include "store/check.h"
#include "store/delivery_queue.h"
#include "store/mailbox_index.h"
#include "store_test_util.h"

namespace replimail::store {
namespace {

using testing::sha1_hex;
using testing::TempInstance;

const std::string kBox = "user.alice";

std::string body_of(int who, int n) {
  return fmt::format("Subject: group {} {}\r\nMessage-ID: <{}.{}@group>\r\n\r\n{}\r\n", who, n, who,
                     n, std::string(static_cast<size_t>(1000 + 37 * n), 'a' + who % 26));
}

// Stages `body` as lmtpd does (the fsync left to the commit) and appends it.
AppendResult deliver(Instance& inst, const std::string& body) {
  auto msg = inst.stage_message();
  if (!msg.ok()) return {msg.status(), 0, 0};
  Status s = (*msg)->write(body);
  if (s) s = (*msg)->finish(StagedMessage::Durability::kDeferFsync);
  if (!s) return {s, 0, 0};
  AppendRequest req;
  req.mailbox = kBox;
  req.message = msg->get();
  return inst.append({req})[0];
}

std::string index_path(Instance& inst) {
  return (*inst.open_mailbox(kBox))->dir() + "/" + index::kIndexFile;
}

// guid → how many live records have it; each record's file checked.
std::map<std::string, int> records_by_guid(Instance& inst) {
  std::map<std::string, int> out;
  auto m = inst.open_mailbox(kBox);
  EXPECT_TRUE(m.ok());
  EXPECT_TRUE((*m)->for_each_record(0, [&](const IndexRecord& r) {
    if (r.expunged()) return true;
    out[r.guid]++;
    auto data = fs::read_file((*m)->message_path(r.uid));
    EXPECT_TRUE(data.ok()) << "uid " << r.uid;
    if (data.ok()) {
      EXPECT_EQ(sha1_hex(*data), r.guid) << "uid " << r.uid;
    }
    return true;
  }));
  return out;
}

size_t message_files(const std::string& dir) {
  size_t n = 0;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return 0;
  while (struct dirent* de = ::readdir(d)) {
    std::string name = de->d_name;
    if (!name.empty() && name.back() == '.' && name != "." && name != "..") n++;
  }
  ::closedir(d);
  return n;
}

// Waits until `n` deliveries to kBox are announced and unclaimed.
bool wait_pending(const std::string& index, int n) {
  auto q = DeliveryQueue::open(index);
  if (!q.ok()) return false;
  for (int i = 0; i < 3000; i++) {
    auto p = q->pending(kBox);
    if (p.ok() && *p == n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

// Four deliveries wait for the mailbox's lock, announced; the lock's holder
// lets go and the first of them leads the group. Its directory fsync (the
// first of the mailbox directory's) fails: all four get the I/O error, a
// temporary failure (451 4.3.0), and none is in the mailbox, half or whole.
// Retried, each goes in once.
TEST(GroupCommit, AFailedGroupCommitFailsEveryMemberAndLeavesNone) {
  constexpr int kMembers = 4;
  TempInstance t;
  ASSERT_TRUE(t.inst().create_mailbox(kBox).ok());
  ASSERT_TRUE(t.inst().set_quota(kBox, 100000, 1000).is_ok());
  const std::string index = index_path(t.inst());
  const std::string dir = (*t.inst().open_mailbox(kBox))->dir();
  os::FaultEnv f;
  os::ScopedEnv scope(&f);

  auto holder = t.inst().open_mailbox(kBox);
  ASSERT_TRUE(holder.ok());
  auto held = (*holder)->begin();
  ASSERT_TRUE(held.ok());
  std::vector<AppendResult> results(kMembers);
  std::vector<std::thread> members;
  for (int i = 0; i < kMembers; i++) {
    members.emplace_back([&, i] {
      auto inst = Instance::open(t.cfg());
      ASSERT_TRUE(inst.ok());
      results[i] = deliver(**inst, body_of(i, 0));
    });
  }
  // (Not an ASSERT: the members are let go and joined whatever happens.)
  EXPECT_TRUE(wait_pending(index, kMembers)) << "the deliveries were not announced";
  f.inject({os::Op::kFsyncDir, 1, false, dir, EIO});
  (*held)->rollback();
  for (auto& th : members) th.join();
  EXPECT_EQ(f.injected(), 1);
  f.clear();

  for (int i = 0; i < kMembers; i++) {
    EXPECT_EQ(results[i].status.code(), Code::kIoError)
        << "member " << i << ": " << results[i].status.to_string();
  }
  EXPECT_TRUE(records_by_guid(t.inst()).empty());
  EXPECT_EQ(message_files(dir), 0u);
  auto quota = t.inst().quota().get(kBox);
  ASSERT_TRUE(quota.ok());
  EXPECT_EQ(quota->message_used, 0u);
  EXPECT_EQ(quota->storage_used, 0u);
  auto report = check_mailbox(t.inst(), kBox, {});
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->problems[0].detail;
  auto q = DeliveryQueue::open(index);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(*q->pending(kBox), 0);

  for (int i = 0; i < kMembers; i++) {
    AppendResult again = deliver(t.inst(), body_of(i, 0));
    EXPECT_TRUE(again.status.is_ok()) << again.status.to_string();
  }
  auto by_guid = records_by_guid(t.inst());
  EXPECT_EQ(by_guid.size(), static_cast<size_t>(kMembers));
  for (const auto& [guid, n] : by_guid) EXPECT_EQ(n, 1) << guid;
}

// The same four, no fault: one leader commits all of them (one directory
// fsync, one transaction), and each gets its own UID.
TEST(GroupCommit, WaitingDeliveriesCommitTogether) {
  constexpr int kMembers = 4;
  TempInstance t;
  ASSERT_TRUE(t.inst().create_mailbox(kBox).ok());
  const std::string index = index_path(t.inst());
  const std::string dir = (*t.inst().open_mailbox(kBox))->dir();
  os::FaultEnv f;
  os::ScopedEnv scope(&f);
  auto holder = t.inst().open_mailbox(kBox);
  auto held = (*holder)->begin();
  ASSERT_TRUE(held.ok());
  std::vector<AppendResult> results(kMembers);
  std::vector<std::thread> members;
  for (int i = 0; i < kMembers; i++) {
    members.emplace_back([&, i] {
      auto inst = Instance::open(t.cfg());
      ASSERT_TRUE(inst.ok());
      results[i] = deliver(**inst, body_of(i, 1));
    });
  }
  EXPECT_TRUE(wait_pending(index, kMembers));
  f.reset_counts();
  (*held)->rollback();
  for (auto& th : members) th.join();
  EXPECT_EQ(f.calls(os::Op::kFsyncDir, dir), 1) << "one directory fsync for the group";
  std::set<uint32_t> uids;
  for (int i = 0; i < kMembers; i++) {
    ASSERT_TRUE(results[i].status.is_ok()) << results[i].status.to_string();
    uids.insert(results[i].uid);
  }
  EXPECT_EQ(uids, (std::set<uint32_t>{1, 2, 3, 4}));
  auto m = t.inst().open_mailbox(kBox);
  for (int i = 0; i < kMembers; i++) {
    auto rec = (*m)->record(results[i].uid);
    ASSERT_TRUE(rec.ok());
    EXPECT_EQ(rec->guid, sha1_hex(body_of(i, 1))) << "member " << i << " got another's UID";
  }
}

// Many processes deliver into one mailbox at once, each message with its
// own content: every acknowledged message is there exactly once, with its
// file, at the UID it was told; nothing else is.
TEST(GroupCommit, ManyConcurrentDeliveriesEachAcknowledgedOnceIsThereOnce) {
  constexpr int kProcs = 8;
  constexpr int kEach = 40;
  TempInstance t;
  ASSERT_TRUE(t.inst().create_mailbox(kBox).ok());
  ASSERT_TRUE(t.inst().set_quota(kBox, -1, 100000).is_ok());
  std::string acks = t.root() + "/acks";
  t.close();
  std::vector<pid_t> pids;
  for (int c = 0; c < kProcs; c++) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto inst = Instance::open(t.cfg());
      if (!inst.ok()) ::_exit(2);
      std::string out;
      for (int i = 0; i < kEach; i++) {
        AppendResult r = deliver(**inst, body_of(c, i));
        if (r.status.is_ok()) out += fmt::format("{} {} {}\n", c, i, r.uid);
      }
      if (!fs::write_file_atomic(fmt::format("{}.{}", acks, c), out).is_ok()) ::_exit(3);
      ::_exit(0);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int st = 0;
    ASSERT_EQ(::waitpid(pid, &st, 0), pid);
    ASSERT_TRUE(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0);
  }
  t.reopen();
  auto by_guid = records_by_guid(t.inst());
  auto m = t.inst().open_mailbox(kBox);
  size_t acked = 0;
  std::set<uint32_t> told;
  for (int c = 0; c < kProcs; c++) {
    auto data = fs::read_file(fmt::format("{}.{}", acks, c));
    ASSERT_TRUE(data.ok());
    std::istringstream in(*data);
    int who = 0, n = 0;
    uint32_t uid = 0;
    while (in >> who >> n >> uid) {
      acked++;
      std::string guid = sha1_hex(body_of(who, n));
      EXPECT_EQ(by_guid[guid], 1) << "message " << who << "." << n;
      auto rec = (*m)->record(uid);
      ASSERT_TRUE(rec.ok()) << "uid " << uid;
      EXPECT_EQ(rec->guid, guid) << "message " << who << "." << n << " told uid " << uid;
      EXPECT_TRUE(told.insert(uid).second) << "uid " << uid << " told twice";
    }
  }
  EXPECT_EQ(acked, static_cast<size_t>(kProcs * kEach));
  EXPECT_EQ(by_guid.size(), acked);
  auto c = (*m)->counters();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->exists, acked);
  auto q = t.inst().quota().get(kBox);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->message_used, acked);
  auto report = check_mailbox(t.inst(), kBox, {});
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->problems[0].detail;
}

// A leader that claimed a delivery and died (no settling) after its commit
// (`commits`) or before it: the member, once it has the lock, tells which
// from the UID the leader noted, and answers 250 with that UID, or delivers
// its message itself. Either way the message is there exactly once.
void dead_leader(bool commits) {
  TempInstance t;
  ASSERT_TRUE(t.inst().create_mailbox(kBox).ok());
  const std::string index = index_path(t.inst());
  auto holder = t.inst().open_mailbox(kBox);
  auto held = (*holder)->begin();
  ASSERT_TRUE(held.ok());
  AppendResult result;
  std::thread member([&] {
    auto inst = Instance::open(t.cfg());
    ASSERT_TRUE(inst.ok());
    result = deliver(**inst, body_of(7, 7));
  });
  // Whatever fails below, the member is let go and joined.
  struct Joiner {
    std::function<void()> f;
    ~Joiner() { f(); }
  } joiner{[&] {
    (*held)->rollback();  // nothing if committed
    if (member.joinable()) member.join();
  }};
  ASSERT_TRUE(wait_pending(index, 1)) << "the delivery was not announced";
  // The lock's holder leads as a leader would, up to its commit, and then
  // "dies": it never settles.
  auto q = DeliveryQueue::open(index);
  ASSERT_TRUE(q.ok());
  uint64_t leader = DeliveryQueue::new_ticket();
  auto claimed = q->claim(kBox, leader, (*held)->counters().uidvalidity,
                          [](uint32_t, const std::string&, uint64_t) { return false; });
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(claimed->size(), 1u);
  auto msg =
      StagedMessage::adopt((*claimed)[0].path, "default", (*claimed)[0].size, (*claimed)[0].guid);
  auto rec = (*held)->append_new(*msg, 0, {}, 0);
  ASSERT_TRUE(rec.ok());
  (*claimed)[0].uid = rec->uid;
  ASSERT_TRUE(q->note_uids(*claimed, leader).is_ok());
  ASSERT_TRUE(fs::fsync_dir((*holder)->dir()).is_ok());
  if (commits) {
    ASSERT_TRUE((*held)->commit_deferred_log().is_ok());
  } else {
    (*held)->rollback();
  }
  member.join();
  ASSERT_TRUE(result.status.is_ok()) << result.status.to_string();
  auto by_guid = records_by_guid(t.inst());
  EXPECT_EQ(by_guid.size(), 1u);
  EXPECT_EQ(by_guid[sha1_hex(body_of(7, 7))], 1);
  auto m = t.inst().open_mailbox(kBox);
  auto r = (*m)->record(result.uid);
  ASSERT_TRUE(r.ok()) << "uid " << result.uid;
  EXPECT_EQ(r->guid, sha1_hex(body_of(7, 7)));
  if (commits) {
    EXPECT_EQ(result.uid, rec->uid) << "delivered again";
  }
  EXPECT_EQ(*q->pending(kBox), 0);
}

TEST(GroupCommit, AMemberOfALeaderThatDiedAfterItsCommitIsAnsweredFromIt) { dead_leader(true); }
TEST(GroupCommit, AMemberOfALeaderThatDiedBeforeItsCommitDeliversItself) { dead_leader(false); }

}  // namespace
}  // namespace replimail::store
