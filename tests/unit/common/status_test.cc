#include "common/status.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace replimail {
namespace {

TEST(ErrnoStatus, NamesTheCallAndTheError) {
  errno = ENOENT;
  Status s = errno_status("open", "/x/y");
  EXPECT_EQ(s.code(), Code::kIoError);
  EXPECT_EQ(s.message(), std::string("open /x/y: ") + std::strerror(ENOENT));
  errno = EBADF;
  s = errno_status("fsync journal");
  EXPECT_EQ(s.code(), Code::kIoError);
  EXPECT_EQ(s.message(), std::string("fsync journal: ") + std::strerror(EBADF));
}

TEST(ErrnoStatus, FullDiskIsNoSpaceEverywhere) {
  // Some copies said kIoError for ENOSPC; a full disk is temporary (kNoSpace).
  errno = ENOSPC;
  EXPECT_EQ(errno_status("write", "f").code(), Code::kNoSpace);
  errno = EDQUOT;
  EXPECT_EQ(errno_status("write").code(), Code::kNoSpace);
}

}  // namespace
}  // namespace replimail
