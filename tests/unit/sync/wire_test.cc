// dlist lines over net::Stream on a socketpair: plain lines, then COMPRESS
// DEFLATE switched on at both ends, large payloads both ways.
#include "sync/wire.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace replimail::sync {
namespace {

class WireTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds_), 0); }
  void TearDown() override {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  // Reads one line from `t` and returns its values' text, space separated.
  static std::string line(net::Stream& t, dlist::Parser& p) {
    auto ev = Wire(t).read_line(p);
    if (!ev.ok()) return "error: " + ev.status().to_string();
    if (*ev != dlist::Parser::Event::kLine) return "bad line";
    std::string out;
    for (const auto& v : p.take_line()) {
      if (!out.empty()) out += ' ';
      out += std::string(v.str().value_or("?"));
    }
    return out;
  }
  int fds_[2];
};

TEST_F(WireTest, PlainThenCompressedBothWays) {
  net::Stream a(fds_[0], fds_[0]), b(fds_[1], fds_[1]);
  dlist::Parser pa, pb;
  ASSERT_TRUE(a.write_flush("COMPRESS DEFLATE\r\n"));
  EXPECT_EQ(line(b, pb), "COMPRESS DEFLATE");
  ASSERT_TRUE(b.write_flush("OK DEFLATE\r\n"));
  ASSERT_TRUE(b.start_compression());
  EXPECT_EQ(line(a, pa), "OK DEFLATE");
  ASSERT_TRUE(a.start_compression());
  EXPECT_TRUE(a.compressed());
  // 300 kB in 50 lines, more than one deflate chunk, read while written.
  std::string big(6000, 'x');
  std::thread writer([&] {
    ASSERT_TRUE(a.write("NOOP\r\n"));
    for (int i = 0; i < 50; i++) ASSERT_TRUE(a.write("APPLY " + big + "\r\n"));
    ASSERT_TRUE(a.flush());
  });
  EXPECT_EQ(line(b, pb), "NOOP");
  int same = 0;
  for (int i = 0; i < 50; i++) same += line(b, pb) == "APPLY " + big ? 1 : 0;
  EXPECT_EQ(same, 50);
  writer.join();
  ASSERT_TRUE(b.write_flush("OK success\r\n"));
  EXPECT_EQ(line(a, pa), "OK success");
  EXPECT_LT(a.bytes_out(), 10000u);  // 300 kB of 'x' compress well
}

TEST_F(WireTest, PeerCloseIsAnError) {
  net::Stream a(fds_[0], fds_[0]);
  dlist::Parser p;
  ::shutdown(fds_[1], SHUT_WR);
  auto ev = Wire(a).read_line(p);
  EXPECT_FALSE(ev.ok());
  EXPECT_TRUE(a.eof());
}

}  // namespace
}  // namespace replimail::sync
