// The replica's staging directories: one per reserve list (never shared by
// two sessions of one process), removed by clear(), and swept when their
// session died without clearing.
#include "sync/reserve.h"

#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <malloc.h>
#include <openssl/sha.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "os/env.h"
#include "sync/guid_set.h"

namespace replimail::sync {
namespace {

namespace stdfs = std::filesystem;

// The heap in use (malloc's arena and its own mappings), and its largest
// value seen at an unlink, measured against `base`.
class HeapAtUnlinkEnv : public os::PosixEnv {
 public:
  static size_t heap() {
    struct mallinfo2 m = ::mallinfo2();
    return m.uordblks + m.hblkhd;
  }
  size_t base = 0;
  size_t max_above = 0;
  size_t unlinks = 0;
  bool fail = false;

 protected:
  int sys_unlink(const std::string& path) override {
    unlinks++;
    size_t h = heap();
    if (h > base) max_above = std::max(max_above, h - base);
    if (fail) {
      errno = EIO;
      return -1;
    }
    return os::PosixEnv::sys_unlink(path);
  }
};

class ReserveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (stdfs::temp_directory_path() / "reserve-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto cfg = Config::parse("configdirectory: " + dir_ + "/conf\npartition-default: " + dir_ +
                                 "/spool\ndefaultpartition: default\n",
                             "t.conf");
    ASSERT_TRUE(cfg.ok());
    auto inst = store::Instance::open(*cfg);
    ASSERT_TRUE(inst.ok()) << inst.status().to_string();
    inst_ = std::move(*inst);
  }
  void TearDown() override {
    inst_.reset();
    stdfs::remove_all(dir_);
  }

  std::string staging() const { return dir_ + "/spool/sync."; }

  // Uploads `text` into `list` as APPLY MESSAGE does; returns its GUID.
  static std::string upload(ReserveList& list, const std::string& text) {
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), md);
    Guid g;
    std::copy(md, md + SHA_DIGEST_LENGTH, g.bytes.begin());
    auto msg = list.begin_upload("default", g.hex());
    EXPECT_TRUE(msg.ok()) << msg.status().to_string();
    if (!msg.ok()) return "";
    EXPECT_TRUE((*msg)->write(text));
    EXPECT_TRUE((*msg)->finish());
    EXPECT_TRUE(list.finish_upload(g.hex(), std::move(*msg)));
    return g.hex();
  }

  // Stages one file in `list`, then runs `op` on it with every unlink
  // failing; returns the staged file's path and how many unlinks were tried.
  template <typename Op>
  static std::pair<stdfs::path, size_t> stage_then_fail_unlinks(ReserveList& list, Op op) {
    std::string g = upload(list, "Subject: stuck\r\n\r\nbody\r\n");
    stdfs::path path = list.find(g);
    HeapAtUnlinkEnv env;
    env.fail = true;
    {
      os::ScopedEnv scoped(&env);
      op(list);
    }
    return {path, env.unlinks};
  }

  // A directory under sync./ as a killed session leaves it.
  void leave(const std::string& name, bool with_file) {
    ASSERT_TRUE(stdfs::create_directories(staging() + "/" + name));
    if (with_file) std::ofstream(staging() + "/" + name + "/0123") << "left";
  }

  size_t entries() const {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e : stdfs::directory_iterator(staging())) n++;
    return n;
  }

  std::string dir_;
  std::unique_ptr<store::Instance> inst_;
};

// The inode flags of `path`, or -1 where the filesystem has none.
int inode_flags(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int flags = 0;
  int rc = ::ioctl(fd, FS_IOC_GETFLAGS, &flags);
  ::close(fd);
  return rc == 0 ? flags : -1;
}

// The staging root carries ext4's top-directory flag, so that each session's
// staging directory (where every uploaded message file is created) is placed
// in a block group of its own rather than next to the partition's mailboxes.
TEST_F(ReserveTest, StagingDirectoriesArePlacedAsTopLevelDirectories) {
  std::string probe = dir_ + "/probe";
  ASSERT_TRUE(stdfs::create_directory(probe));
  if (!spread_subdirectories(probe) || !(inode_flags(probe) & FS_TOPDIR_FL))
    GTEST_SKIP() << "no FS_TOPDIR_FL on " << dir_ << "'s filesystem";
  ReserveList list(*inst_);
  ASSERT_FALSE(upload(list, "Subject: spread\r\n\r\nbody\r\n").empty());
  int flags = inode_flags(staging());
  ASSERT_NE(flags, -1);
  EXPECT_TRUE(flags & FS_TOPDIR_FL) << std::hex << flags;
}

// Two sessions of one process (in-process servers, or threads) staging the
// same message: each has its own file, and one's clean-up or re-staging
// never touches the other's.
TEST_F(ReserveTest, SessionsOfOneProcessNeverShareStagingFiles) {
  ReserveList a(*inst_);
  ReserveList b(*inst_);
  std::string ga = upload(a, "Subject: same\r\n\r\nbody\r\n");
  std::string gb = upload(b, "Subject: same\r\n\r\nbody\r\n");
  ASSERT_EQ(ga, gb);
  ASSERT_FALSE(a.find(ga).empty());
  ASSERT_FALSE(b.find(gb).empty());
  EXPECT_NE(a.find(ga), b.find(gb));
  EXPECT_NE(stdfs::path(a.find(ga)).parent_path(), stdfs::path(b.find(gb)).parent_path());
  std::string kept = b.find(gb);
  a.clear();
  EXPECT_TRUE(stdfs::exists(kept));
  EXPECT_EQ(b.find(gb), kept);
  // Staging again in a (a new directory) leaves b's file alone too.
  upload(a, "Subject: same\r\n\r\nbody\r\n");
  EXPECT_TRUE(stdfs::exists(kept));
  a.clear();
  b.clear();
  EXPECT_FALSE(stdfs::exists(kept));
  EXPECT_EQ(entries(), 0u);
}

// The list is its staging directory (no GUID set in memory): what is held
// is what is on disk, an upload of a held GUID keeps the first file, and a
// file gone from the directory is reported MISSING again.
TEST_F(ReserveTest, HeldMeansOnDiskInTheStagingDirectory) {
  ReserveList list(*inst_);
  const std::string text = "Subject: disk\r\n\r\nbody\r\n";
  std::string g = upload(list, text);
  ASSERT_TRUE(list.sync_uploads());
  std::string path = list.find(g);
  ASSERT_FALSE(path.empty());
  EXPECT_EQ(stdfs::path(path).filename().string(), g);
  EXPECT_EQ(upload(list, text), g);  // again: the file staged first stays
  EXPECT_EQ(list.find(g), path);
  auto none = list.reserve("default", {}, {g});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  ASSERT_TRUE(stdfs::remove(path));
  EXPECT_TRUE(list.find(g).empty());
  auto missing = list.reserve("default", {}, {g});
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(*missing, std::vector<std::string>{g});
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : stdfs::directory_iterator(stdfs::path(path).parent_path()))
    files++;
  EXPECT_EQ(files, 0u);  // the second upload's scratch file went too
}


// clear() removes the staged files as it reads the directory: the heap
// does not grow with their number (it held every name, ~80 bytes each,
// before: 9 MiB of sync_server's peak after a 100,000-message initial
// sync, issue 17), and every file goes.
TEST_F(ReserveTest, ClearRemovesStagedFilesWithoutListingThem) {
  ReserveList list(*inst_);
  std::string g = upload(list, "Subject: many\r\n\r\nbody\r\n");
  stdfs::path dir = stdfs::path(list.find(g)).parent_path();
  const int kFiles = 10000;  // names of 40 characters, as GUIDs
  for (int i = 0; i < kFiles; i++) {
    std::string name = std::string(32, 'a') + std::to_string(10000000 + i);
    std::ofstream(dir / name) << "x";
  }
  HeapAtUnlinkEnv env;
  {
    os::ScopedEnv scoped(&env);
    env.base = HeapAtUnlinkEnv::heap();
    list.clear();
  }
  EXPECT_FALSE(stdfs::exists(dir));
  EXPECT_EQ(entries(), 0u);
  EXPECT_GE(env.unlinks, static_cast<size_t>(kFiles + 1));
  // The names alone would take ~1 MB; one directory read buffer is 32 KiB.
  EXPECT_LT(env.max_above, 256u * 1024) << env.max_above << " bytes above the start";
}

// Files that cannot be removed end the clean-up (the directory stays for a
// later sweep) instead of reading it again and again.
TEST_F(ReserveTest, ClearGivesUpOnFilesThatCannotBeRemoved) {
  ReserveList list(*inst_);
  auto [file, unlinks] = stage_then_fail_unlinks(list, [](ReserveList& l) { l.clear(); });
  stdfs::path dir = file.parent_path();
  EXPECT_EQ(unlinks, 1u);
  EXPECT_TRUE(stdfs::exists(file));
  auto swept = sweep_staging(*inst_, true);
  ASSERT_TRUE(swept.ok()) << swept.status().to_string();
  EXPECT_FALSE(stdfs::exists(dir));
}

// RESTART (a rolling client's end of every pass) forgets the staged files
// but keeps the directory for the next pass: making it again cost ~1 ms of
// replication lag.
TEST_F(ReserveTest, RestartEmptiesTheStagingDirectoryAndKeepsIt) {
  ReserveList list(*inst_);
  std::string g1 = upload(list, "Subject: one\r\n\r\nbody\r\n");
  ASSERT_TRUE(list.sync_uploads());
  stdfs::path dir = stdfs::path(list.find(g1)).parent_path();
  list.restart();
  EXPECT_EQ(list.find(g1), "");
  ASSERT_TRUE(stdfs::exists(dir));
  EXPECT_TRUE(stdfs::is_empty(dir));
  auto missing = list.reserve("default", {}, {g1});
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(*missing, std::vector<std::string>{g1});
  std::string g2 = upload(list, "Subject: two\r\n\r\nbody\r\n");
  ASSERT_TRUE(list.sync_uploads());
  EXPECT_EQ(stdfs::path(list.find(g2)).parent_path(), dir);  // the same directory
  EXPECT_EQ(entries(), 1u);
  list.clear();
  EXPECT_FALSE(stdfs::exists(dir));
}

// A staged file that RESTART cannot remove must not be found by the next
// pass: the directory is given up (left to the sweep) and a new one made.
TEST_F(ReserveTest, RestartGivesUpADirectoryItCannotEmpty) {
  ReserveList list(*inst_);
  auto [file, unlinks] = stage_then_fail_unlinks(list, [](ReserveList& l) { l.restart(); });
  stdfs::path dir = file.parent_path();
  EXPECT_GE(unlinks, 1u);
  EXPECT_TRUE(stdfs::exists(file));
  EXPECT_EQ(list.find(file.filename().string()), "");
  std::string again = upload(list, "Subject: stuck\r\n\r\nbody\r\n");
  EXPECT_NE(stdfs::path(list.find(again)).parent_path(), dir);
  auto swept = sweep_staging(*inst_, true);
  ASSERT_TRUE(swept.ok()) << swept.status().to_string();
  EXPECT_FALSE(stdfs::exists(dir));
}

TEST_F(ReserveTest, SweepRemovesOnlyWhatNoLiveSessionHolds) {
  ReserveList live(*inst_);
  std::string g = upload(live, "Subject: live\r\n\r\nbody\r\n");
  std::string live_file = live.find(g);
  // Left by killed sessions: a dead PID's (old pid-named layout and new),
  // and a directory of this very process that no list holds any more.
  leave("999999999", true);
  leave("999999999.abcdef", true);
  leave("999999998.abcdef", false);
  leave(std::to_string(::getpid()) + ".zzzzzz", true);
  // An empty directory of a live process may be one being made: kept.
  leave(std::to_string(::getpid()) + ".yyyyyy", false);
  ASSERT_EQ(entries(), 6u);

  auto listed = sweep_staging(*inst_, false);
  ASSERT_TRUE(listed.ok()) << listed.status().to_string();
  EXPECT_EQ(listed->size(), 4u);
  EXPECT_EQ(entries(), 6u);  // only listed

  auto swept = sweep_staging(*inst_, true);
  ASSERT_TRUE(swept.ok()) << swept.status().to_string();
  EXPECT_EQ(swept->size(), 4u);
  EXPECT_EQ(entries(), 2u);
  EXPECT_TRUE(stdfs::exists(live_file));
  EXPECT_TRUE(stdfs::exists(staging() + "/" + std::to_string(::getpid()) + ".yyyyyy"));
  for (const auto& d : *swept) EXPECT_FALSE(stdfs::exists(d)) << d;

  // The live list goes on working after the sweep.
  std::string g2 = upload(live, "Subject: after\r\n\r\nbody\r\n");
  EXPECT_TRUE(stdfs::exists(live.find(g2)));
  live.clear();
  EXPECT_EQ(entries(), 1u);
}

}  // namespace
}  // namespace replimail::sync
