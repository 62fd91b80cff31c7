// read_checked(): sync_client's one read of a message file that checks it
// against its record (size and SHA-1) before the bytes are sent.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "../../support/temp_dir.h"
#include "store/staged_message.h"

namespace replimail::store {
namespace {

// Writes `bytes` at `path`; returns their GUID as digest_file() reads it.
std::string write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
  auto d = digest_file(path);
  EXPECT_TRUE(d.ok());
  return d.ok() ? d->guid : std::string();
}

class ReadChecked : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = replimail::testing::make_temp_dir("replimail-readcheck-"); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(ReadChecked, ReturnsTheBytesOfAFileThatMatchesItsRecord) {
  const std::string msg = "Subject: hi\r\n\r\nbody\r\n";
  std::string path = dir_ + "/1.";
  std::string guid = write_file(path, msg);
  std::string bytes = "left over";
  ASSERT_TRUE(read_checked(path, guid, msg.size(), 1 << 20, &bytes));
  EXPECT_EQ(bytes, msg);
  // The same answer for an empty file.
  std::string empty_guid = write_file(dir_ + "/2.", "");
  ASSERT_TRUE(read_checked(dir_ + "/2.", empty_guid, 0, 1 << 20, &bytes));
  EXPECT_EQ(bytes, "");
}

TEST_F(ReadChecked, RefusesAFileThatDiffersFromItsRecord) {
  const std::string msg = "Subject: hi\r\n\r\nbody\r\n";
  std::string path = dir_ + "/1.";
  std::string guid = write_file(path, msg);
  std::string bytes;
  // Longer, shorter than the record says; the same size, other bytes.
  EXPECT_EQ(read_checked(path, guid, msg.size() - 1, 1 << 20, &bytes).code(), Code::kSyncChecksum);
  EXPECT_EQ(read_checked(path, guid, msg.size() + 1, 1 << 20, &bytes).code(), Code::kSyncChecksum);
  std::string other = msg;
  other[9] = 'H';
  std::ofstream(path, std::ios::binary | std::ios::trunc) << other;
  Status s = read_checked(path, guid, msg.size(), 1 << 20, &bytes);
  EXPECT_EQ(s.code(), Code::kSyncChecksum);
  EXPECT_NE(s.message().find(guid), std::string::npos);
}

TEST_F(ReadChecked, LeavesALargeFileToBeStreamedAndReportsAMissingOne) {
  std::string path = dir_ + "/1.";
  std::string big(3000, 'x');
  std::string guid = write_file(path, big);
  std::string bytes = "left over";
  EXPECT_EQ(read_checked(path, guid, big.size(), 2999, &bytes).code(), Code::kMessageTooLarge);
  EXPECT_TRUE(bytes.empty());
  ASSERT_TRUE(read_checked(path, guid, big.size(), 3000, &bytes));
  EXPECT_EQ(bytes, big);
  EXPECT_EQ(read_checked(dir_ + "/gone.", guid, big.size(), 1 << 20, &bytes).code(),
            Code::kIoError);
}

}  // namespace
}  // namespace replimail::store
