#include "net/stream.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

namespace replimail::net {
namespace {

class StreamTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds_), 0); }
  void TearDown() override {
    ::close(fds_[0]);
    if (fds_[1] >= 0) ::close(fds_[1]);
  }
  void peer_write(std::string_view data) {
    ASSERT_EQ(::write(fds_[1], data.data(), data.size()), static_cast<ssize_t>(data.size()));
  }
  void peer_close() {
    ::close(fds_[1]);
    fds_[1] = -1;
  }
  std::string peer_read_all() {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fds_[1], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    return out;
  }
  int fds_[2] = {-1, -1};
};

TEST_F(StreamTest, ReadsCrlfAndBareLfLines) {
  Stream s(fds_[0]);
  peer_write("LHLO a\r\nMAIL FROM:<>\nlast\rline\r\nno-newline");
  peer_close();
  EXPECT_EQ(*s.read_line(100), "LHLO a");
  EXPECT_EQ(*s.read_line(100), "MAIL FROM:<>");
  EXPECT_EQ(*s.read_line(100), "last\rline");
  EXPECT_EQ(*s.read_line(100), "no-newline");
  auto eof = s.read_line(100);
  ASSERT_FALSE(eof.ok());
  EXPECT_TRUE(s.eof());
  EXPECT_FALSE(s.timed_out());
}

TEST_F(StreamTest, LineAtTheLimitPassesOneOverIsDiscarded) {
  Stream s(fds_[0]);
  peer_write(std::string(10, 'a') + "\r\n" + std::string(11, 'b') + "\r\n" +
             std::string(50000, 'c') + "\nnext\r\n");
  EXPECT_EQ(*s.read_line(10), std::string(10, 'a'));
  auto too_long = s.read_line(10);
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.status().code(), Code::kProtocolError);
  auto huge = s.read_line(10);
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), Code::kProtocolError);
  // The session carries on with the line after the long ones.
  EXPECT_EQ(*s.read_line(10), "next");
}

TEST_F(StreamTest, ReadExactSpansBufferAndSocket) {
  Stream s(fds_[0]);
  std::thread writer([&] {
    peer_write("{5}\r\nhel");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    peer_write("lo rest\r\n");
  });
  EXPECT_EQ(*s.read_line(100), "{5}");
  std::string lit = "x";
  ASSERT_TRUE(s.read_exact(5, &lit).is_ok());
  EXPECT_EQ(lit, "xhello");
  EXPECT_EQ(*s.read_line(100), " rest");
  writer.join();
  EXPECT_EQ(s.bytes_in(), 17u);
}

TEST_F(StreamTest, ReadExactFailsAtEof) {
  Stream s(fds_[0]);
  peer_write("abc");
  peer_close();
  std::string out;
  EXPECT_FALSE(s.read_exact(4, &out).is_ok());
  EXPECT_TRUE(s.eof());
  EXPECT_EQ(out, "abc");
}

TEST_F(StreamTest, ReadSomeReturnsBufferedBytesFirst) {
  Stream s(fds_[0]);
  peer_write("line\r\nbody bytes");
  EXPECT_EQ(*s.read_line(100), "line");
  EXPECT_TRUE(s.input_pending());
  auto chunk = s.read_some(4);
  ASSERT_TRUE(chunk.ok());
  EXPECT_EQ(*chunk, "body");
  EXPECT_EQ(*s.read_some(100), " bytes");
  EXPECT_FALSE(s.input_pending());
}

TEST_F(StreamTest, TimesOutWaitingForAnIdlePeer) {
  Stream s(fds_[0]);
  s.set_timeout(std::chrono::milliseconds(50));
  auto line = s.read_line(100);
  ASSERT_FALSE(line.ok());
  EXPECT_TRUE(s.timed_out());
  EXPECT_FALSE(s.eof());
}

TEST_F(StreamTest, WritesAreBufferedUntilFlush) {
  Stream s(fds_[0]);
  ASSERT_TRUE(s.write("250-first\r\n").is_ok());
  ASSERT_TRUE(s.write("250 second\r\n").is_ok());
  EXPECT_EQ(s.bytes_out(), 0u);
  ASSERT_TRUE(s.flush().is_ok());
  EXPECT_EQ(s.bytes_out(), 23u);
  ::shutdown(fds_[0], SHUT_WR);
  EXPECT_EQ(peer_read_all(), "250-first\r\n250 second\r\n");
}

TEST_F(StreamTest, LargeWritesGoThroughWithoutExplicitFlush) {
  Stream s(fds_[0]);
  std::string big(200000, 'x');
  std::string got;
  std::thread reader([&] { got = peer_read_all(); });
  ASSERT_TRUE(s.write(big).is_ok());
  EXPECT_GE(s.bytes_out(), 65536u);
  ASSERT_TRUE(s.flush().is_ok());
  ::shutdown(fds_[0], SHUT_WR);
  reader.join();
  EXPECT_EQ(got.size(), big.size());
}

TEST_F(StreamTest, WriteToClosedPeerFails) {
  ::signal(SIGPIPE, SIG_IGN);
  Stream s(fds_[0]);
  peer_close();
  EXPECT_FALSE(s.write_flush("hello\r\n").is_ok());
}

TEST(StreamPipeTest, SeparateInAndOutDescriptors) {
  int in[2], out[2];
  ASSERT_EQ(::pipe(in), 0);
  ASSERT_EQ(::pipe(out), 0);
  Stream s(in[0], out[1]);
  ASSERT_EQ(::write(in[1], "QUIT\r\n", 6), 6);
  EXPECT_EQ(*s.read_line(10), "QUIT");
  ASSERT_TRUE(s.write_flush("221 bye\r\n").is_ok());
  char buf[32];
  ASSERT_EQ(::read(out[0], buf, sizeof buf), 9);
  EXPECT_EQ(std::string(buf, 9), "221 bye\r\n");
  for (int fd : {in[0], in[1], out[0], out[1]}) ::close(fd);
}

}  // namespace
}  // namespace replimail::net
