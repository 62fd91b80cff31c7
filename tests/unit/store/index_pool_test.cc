#include "store/index_pool.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "store_test_util.h"

namespace replimail::store {
namespace {

using testing::TempInstance;

class IndexPoolTest : public ::testing::Test {
 protected:
  std::string db_path(const std::string& name) {
    std::filesystem::create_directories(t.root() + "/pool");
    std::string p = t.root() + "/pool/" + name;
    auto db = SqliteDb::open(p);
    EXPECT_TRUE(db.ok());
    EXPECT_TRUE((*db)->exec("CREATE TABLE IF NOT EXISTS t (x INTEGER)").is_ok());
    return p;
  }
  TempInstance t;
};

TEST_F(IndexPoolTest, ReleasedConnectionIsReusedForTheSameFile) {
  IndexPool pool(4);
  std::string p = db_path("a.db");
  bool fresh = false;
  auto db = pool.acquire(p, &fresh);
  ASSERT_TRUE(db.ok());
  EXPECT_TRUE(fresh);
  SqliteDb* first = db->get();
  pool.release(std::move(*db));
  EXPECT_EQ(pool.idle(), 1u);
  auto again = pool.acquire(p, &fresh);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(fresh);
  EXPECT_EQ(again->get(), first);
  EXPECT_EQ(pool.idle(), 0u);
}

TEST_F(IndexPoolTest, ReplacedFileGetsANewConnection) {
  IndexPool pool(4);
  std::string p = db_path("a.db");
  bool fresh = false;
  auto db = pool.acquire(p, &fresh);
  ASSERT_TRUE(db.ok());
  pool.release(std::move(*db));
  // Another process deletes the index and creates a new one at the same path.
  for (const char* suffix : {"", "-wal", "-shm"}) ::unlink((p + suffix).c_str());
  db_path("a.db");
  auto again = pool.acquire(p, &fresh);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(fresh);
  EXPECT_EQ(pool.idle(), 0u);
}

TEST_F(IndexPoolTest, CapacityForgetAndOpenTransactions) {
  IndexPool pool(2);
  bool fresh = false;
  std::vector<std::string> paths = {db_path("a.db"), db_path("b.db"), db_path("c.db")};
  for (const auto& p : paths) {
    auto db = pool.acquire(p, &fresh);
    ASSERT_TRUE(db.ok());
    pool.release(std::move(*db));
  }
  EXPECT_EQ(pool.idle(), 2u);  // a.db, the least recently released, was closed
  pool.forget(paths[1]);
  EXPECT_EQ(pool.idle(), 1u);
  auto db = pool.acquire(paths[2], &fresh);
  ASSERT_TRUE(db.ok());
  EXPECT_FALSE(fresh);
  ASSERT_TRUE((*db)->begin_immediate().is_ok());
  ASSERT_TRUE((*db)->exec("INSERT INTO t VALUES (1)").is_ok());
  pool.release(std::move(*db));  // rolled back and closed, not pooled
  EXPECT_EQ(pool.idle(), 0u);
  auto check = SqliteDb::open(paths[2]);
  ASSERT_TRUE(check.ok());
  auto st = (*check)->prepare("SELECT COUNT(*) FROM t");
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE(*st->step());
  EXPECT_EQ(st->int64(0), 0);
}

TEST_F(IndexPoolTest, MailboxesShareThePoolAndSeeOtherWriters) {
  ASSERT_TRUE(t.inst().create_mailbox("user.pool").ok());
  for (int i = 0; i < 3; i++) {
    auto m = t.inst().open_mailbox("user.pool");
    ASSERT_TRUE(m.ok());
    auto c = (*m)->counters();
    ASSERT_TRUE(c.ok());
  }
  // A second Instance (another process, in effect) appends meanwhile.
  auto other = Instance::open(t.cfg());
  ASSERT_TRUE(other.ok());
  auto staged = (*other)->stage_message();
  ASSERT_TRUE(staged.ok());
  ASSERT_TRUE((*staged)->write("Subject: x\r\n\r\nbody\r\n").is_ok());
  ASSERT_TRUE((*staged)->finish().is_ok());
  AppendRequest req;
  req.mailbox = "user.pool";
  req.message = staged->get();
  auto res = (*other)->append({req});
  ASSERT_TRUE(res[0].status.is_ok()) << res[0].status.to_string();
  auto m = t.inst().open_mailbox("user.pool");
  ASSERT_TRUE(m.ok());
  auto c = (*m)->counters();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->exists, 1u);
  EXPECT_EQ(c->last_uid, 1u);
}

}  // namespace
}  // namespace replimail::store
