// run_session over a socket pair with a line-echo session: output order,
// close, the idle limit with ticks and farewell, and COMPRESS with bytes the
// client sent compressed right behind the command.
#include "net/session_loop.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <thread>

#include "net/deflate.h"

namespace replimail::net {
namespace {

// Greets, echoes each line, closes on "quit", asks for compression on
// "compress" (handing back what followed it).
class EchoSession : public PushSession {
 public:
  void feed(std::string_view bytes) override {
    if (compress_pending_) {
      after_compress_.append(bytes);
      return;
    }
    buf_.append(bytes);
    size_t nl;
    while (!compress_pending_ && (nl = buf_.find('\n')) != std::string::npos) {
      std::string line = buf_.substr(0, nl + 1);
      buf_.erase(0, nl + 1);
      if (line == "quit\n") {
        closed_ = true;
        return;
      }
      if (line == "compress\n") {
        out_ += "OK\n";
        compress_pending_ = true;
        after_compress_ = std::exchange(buf_, {});
        return;
      }
      out_ += line;
    }
  }
  std::string take_output() override { return std::exchange(out_, {}); }
  bool closed() const override { return closed_; }
  Upgrade upgrade() const override {
    return compress_pending_ ? Upgrade::kCompress : Upgrade::kNone;
  }
  std::string compression_started() override {
    compress_pending_ = false;
    return std::exchange(after_compress_, {});
  }
  void tick() override { ++ticks; }
  void connection_lost() override { lost = true; }

  int ticks = 0;
  bool lost = false;

 private:
  std::string out_ = "hello\n";
  std::string buf_;
  std::string after_compress_;
  bool closed_ = false;
  bool compress_pending_ = false;
};

class SessionLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds_), 0);
    conn_.in_fd = conn_.out_fd = fds_[0];
    conn_.peer = "test";
  }
  void TearDown() override {
    // A test that failed half-way: the server sees the client go.
    ::shutdown(fds_[1], SHUT_RDWR);
    if (server_.joinable()) server_.join();
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  void start(const SessionLoopOptions& o) {
    server_ = std::thread([this, o] { run_session(conn_, session_, o); });
  }
  void send(std::string_view s) {
    ASSERT_EQ(::write(fds_[1], s.data(), s.size()), static_cast<ssize_t>(s.size()));
  }
  // What the server sent until `n` bytes arrived or 5 s passed.
  std::string receive(size_t n) {
    std::string got;
    while (got.size() < n) {
      pollfd p{fds_[1], POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) break;
      char buf[4096];
      ssize_t r = ::read(fds_[1], buf, sizeof buf);
      if (r <= 0) break;
      got.append(buf, static_cast<size_t>(r));
    }
    return got;
  }

  int fds_[2];
  Connection conn_;
  EchoSession session_;
  std::thread server_;
};

TEST_F(SessionLoopTest, GreetsEchoesInOrderAndEndsWhenTheSessionCloses) {
  start(SessionLoopOptions{});
  send("one\ntwo\nquit\nnever\n");
  EXPECT_EQ(receive(14), "hello\none\ntwo\n");
  server_.join();
  EXPECT_FALSE(session_.lost);
}

TEST_F(SessionLoopTest, IdleClientIsTickedThenGivenTheFarewell) {
  SessionLoopOptions o;
  o.tick = std::chrono::milliseconds(20);
  o.idle_limit = std::chrono::milliseconds(300);
  o.idle_farewell = "bye idle\n";
  start(o);
  EXPECT_EQ(receive(15), "hello\nbye idle\n");
  server_.join();
  EXPECT_GE(session_.ticks, 3);
  EXPECT_TRUE(session_.lost);
}

TEST_F(SessionLoopTest, CompressAnswersInClearThenBothDirectionsDeflate) {
  start(SessionLoopOptions{});
  // The client's deflater, as a peer's zlib would run it.
  z_stream z{};
  ASSERT_EQ(deflateInit2(&z, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  auto deflated = [&z](std::string_view in) {
    std::string out(1024, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(deflate(&z, Z_SYNC_FLUSH), Z_OK);
    out.resize(out.size() - z.avail_out);
    return out;
  };
  // The first compressed line rides behind the command.
  send("compress\n" + deflated("ping\n"));
  // The OK in clear; what follows it, deflated.
  std::string got = receive(9);
  ASSERT_GE(got.size(), 9u);
  EXPECT_EQ(got.substr(0, 9), "hello\nOK\n");
  auto inflater = Inflater::create();
  ASSERT_TRUE(inflater.ok());
  std::string back;
  ASSERT_TRUE(inflater->decompress(got.substr(9), &back).is_ok());
  for (int i = 0; i < 5 && back.size() < 5; ++i) {
    ASSERT_TRUE(inflater->decompress(receive(1), &back).is_ok());
  }
  EXPECT_EQ(back, "ping\n");
  send(deflated("quit\n"));
  server_.join();
  deflateEnd(&z);
}

}  // namespace
}  // namespace replimail::net
