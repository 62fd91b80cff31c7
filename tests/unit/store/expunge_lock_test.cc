// The files of expunged records are unlinked while the mailbox's write lock
// is still held, so check_mailbox (reconstruct -n), which reads under that
// lock, never sees an expunged record whose file is still there (the
// torture test's "orphan-file: file of an expunged record" false alarm).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include "os/env.h"
#include "store/mailbox_index.h"
#include "store/sqlite_db.h"
#include "store_test_util.h"

namespace replimail::store {
namespace {

// Probes, at every unlink of a message file, whether some descriptor holds
// the writer flock of `index`: a second open file description's LOCK_NB
// fails then.
class LockProbeEnv : public os::PosixEnv {
 public:
  std::string lock_path;
  int unlinked_locked = 0;
  int unlinked_unlocked = 0;

 protected:
  int sys_unlink(const std::string& path) override {
    if (!lock_path.empty() && path.size() > 1 && path.back() == '.') {
      int fd = ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) {
        if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
          unlinked_unlocked++;
          ::flock(fd, LOCK_UN);
        } else {
          unlinked_locked++;
        }
        ::close(fd);
      }
    }
    return os::PosixEnv::sys_unlink(path);
  }
};

TEST(ExpungeLock, FilesOfExpungedRecordsGoBeforeTheWriteLockIsReleased) {
  testing::TempInstance t;
  ASSERT_TRUE(t.inst().create_mailbox("user.alice").ok());
  for (int i = 0; i < 3; i++) t.deliver("user.alice", "Subject: x\r\n\r\nbody\r\n");
  auto mbox = t.inst().open_mailbox("user.alice");
  ASSERT_TRUE(mbox.ok());
  LockProbeEnv probe;
  probe.lock_path = (*mbox)->dir() + "/" + index::kIndexFile + kWriterLockSuffix;
  mbox->reset();
  os::ScopedEnv scope(&probe);
  ASSERT_TRUE(t.inst().expunge("user.alice", {1, 2}).is_ok());
  EXPECT_EQ(probe.unlinked_unlocked, 0) << "a message file was unlinked after the lock went";
  EXPECT_EQ(probe.unlinked_locked, 2);
}

}  // namespace
}  // namespace replimail::store
