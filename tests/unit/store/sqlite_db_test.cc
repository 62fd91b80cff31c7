#include "store/sqlite_db.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <thread>

#include "store/memory.h"
#include "store_test_util.h"

namespace replimail::store {
namespace {

using testing::TempInstance;

class SqliteDbTest : public ::testing::Test {
 protected:
  SqliteDbTest() : path_(t_.root() + "/queue.db") {
    auto db = SqliteDb::open(path_);
    EXPECT_TRUE(db.ok());
    EXPECT_TRUE((*db)->exec("CREATE TABLE t (x INTEGER)").is_ok());
  }
  // True if another open file description can take the writer flock now.
  bool writer_lock_free() {
    // Made by the first writer; until then nobody holds it.
    int fd = ::open((path_ + kWriterLockSuffix).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) return true;
    EXPECT_GE(fd, 0);
    bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
    ::close(fd);
    return free;
  }
  TempInstance t_;
  std::string path_;
};

TEST_F(SqliteDbTest, WriterHoldsTheQueueUntilCommitOrRollback) {
  auto db = SqliteDb::open(path_);
  ASSERT_TRUE(db.ok());
  EXPECT_TRUE(writer_lock_free());
  ASSERT_TRUE((*db)->begin_immediate().is_ok());
  EXPECT_FALSE(writer_lock_free());
  ASSERT_TRUE((*db)->exec("INSERT INTO t VALUES (1)").is_ok());
  ASSERT_TRUE((*db)->commit().is_ok());
  EXPECT_TRUE(writer_lock_free());

  ASSERT_TRUE((*db)->begin_immediate().is_ok());
  EXPECT_FALSE(writer_lock_free());
  (*db)->rollback();
  EXPECT_TRUE(writer_lock_free());
  // A reader does not queue.
  ASSERT_TRUE((*db)->begin_read().is_ok());
  EXPECT_TRUE(writer_lock_free());
  (*db)->rollback();
}

TEST_F(SqliteDbTest, ClosingAnOpenTransactionReleasesTheQueue) {
  {
    auto db = SqliteDb::open(path_);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->begin_immediate().is_ok());
    EXPECT_FALSE(writer_lock_free());
  }
  EXPECT_TRUE(writer_lock_free());
}

TEST_F(SqliteDbTest, AnotherProcessWaitsForTheWriterAndSeesItsRow) {
  // The child is forked before the parent opens a connection (SQLite
  // connections must not cross fork()); it starts writing once told to.
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    char c;
    ::close(go[1]);
    if (::read(go[0], &c, 1) != 1) ::_exit(5);
    // Queues behind the parent's transaction, then adds row 2 after 1.
    auto other = SqliteDb::open(path_);
    if (!other.ok() || !(*other)->begin_immediate().is_ok()) ::_exit(1);
    {
      auto st = (*other)->prepare("SELECT count(*) FROM t");
      if (!st.ok() || !*st->step() || st->int64(0) != 1) ::_exit(2);
    }
    if (!(*other)->exec("INSERT INTO t VALUES (2)").is_ok()) ::_exit(3);
    ::_exit((*other)->commit().is_ok() ? 0 : 4);
  }
  ::close(go[0]);
  auto db = SqliteDb::open(path_);
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)->begin_immediate().is_ok());
  ASSERT_TRUE((*db)->exec("INSERT INTO t VALUES (1)").is_ok());
  ASSERT_EQ(::write(go[1], "x", 1), 1);
  ::close(go[1]);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE((*db)->commit().is_ok());
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  auto st = (*db)->prepare("SELECT count(*) FROM t");
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE(*st->step());
  EXPECT_EQ(st->int64(0), 2);
}

// A connection that wrote and is then closed must leave the POSIX locks of
// the process's other connections to the same file alone: while one is open,
// no other process may checkpoint and delete the WAL (closing a second
// descriptor of the database file used to drop them all).
TEST_F(SqliteDbTest, ClosingAWriterKeepsTheOtherConnectionsLocks) {
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  pid_t child = ::fork();  // before any connection of this test exists
  ASSERT_GE(child, 0);
  if (child == 0) {
    char c;
    ::close(go[1]);
    if (::read(go[0], &c, 1) != 1) ::_exit(5);
    // The last connection of this process: on close SQLite checkpoints and
    // deletes the WAL if no other process holds the database.
    auto other = SqliteDb::open(path_);
    if (!other.ok()) ::_exit(1);
    {
      auto st = (*other)->prepare("SELECT count(*) FROM t");
      if (!st.ok() || !*st->step() || st->int64(0) != 1) ::_exit(2);
    }
    other->reset();
    ::_exit(0);
  }
  ::close(go[0]);
  auto reader = SqliteDb::open(path_);
  ASSERT_TRUE(reader.ok());
  {
    auto st = (*reader)->prepare("SELECT count(*) FROM t");
    ASSERT_TRUE(st.ok());
    ASSERT_TRUE(*st->step());
  }
  {
    auto writer = SqliteDb::open(path_);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->begin_immediate().is_ok());
    ASSERT_TRUE((*writer)->exec("INSERT INTO t VALUES (1)").is_ok());
    ASSERT_TRUE((*writer)->commit().is_ok());
  }
  ASSERT_TRUE(fs::exists(path_ + "-wal"));
  ASSERT_EQ(::write(go[1], "x", 1), 1);
  ::close(go[1]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  // The frame written above is still in the WAL: no checkpoint reset it.
  std::error_code ec;
  auto wal_size = std::filesystem::file_size(path_ + "-wal", ec);
  EXPECT_TRUE(!ec && wal_size > 0)
      << "another process checkpointed and removed the WAL under a reader";
}

TEST_F(SqliteDbTest, SecondWriterOfTheSameProcessFallsBackToTheBusyTimeout) {
  auto first = SqliteDb::open(path_);
  auto second = SqliteDb::open(path_);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE((*first)->begin_immediate().is_ok());
  // The second connection must not wait on the first one's flock() (that
  // would hang this thread forever): it waits in SQLite, which gives up
  // only after its busy timeout, so let the first writer finish meanwhile.
  std::thread finisher([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_TRUE((*first)->commit().is_ok());
  });
  EXPECT_TRUE((*second)->begin_immediate().is_ok());
  finisher.join();
  EXPECT_TRUE((*second)->exec("INSERT INTO t VALUES (3)").is_ok());
  EXPECT_TRUE((*second)->commit().is_ok());
  EXPECT_TRUE(writer_lock_free());
}

// Connections read through a mapping of the file, but not in a process
// whose memory is bounded (sync_client, sync_server): its resident set
// would grow with every page of the mailboxes it reads.
TEST_F(SqliteDbTest, BoundedProcessesReadWithoutMapping) {
  auto mapped_bytes = [&] {
    auto rows = testing::query_texts(path_, "PRAGMA mmap_size");
    return rows.empty() ? std::string() : rows.front();
  };
  EXPECT_EQ(mapped_bytes(), std::to_string(int64_t{1} << 30));
  limit_database_memory(1 << 20);
  EXPECT_EQ(mapped_bytes(), "0");
  limit_database_memory(0);
  EXPECT_EQ(mapped_bytes(), std::to_string(int64_t{1} << 30));
}

}  // namespace
}  // namespace replimail::store
