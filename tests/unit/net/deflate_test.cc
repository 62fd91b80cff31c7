#include "net/deflate.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <random>
#include <string>

#include "net/stream.h"

namespace replimail::net {
namespace {

// What a peer's zlib (as Python's zlib.compressobj(wbits=-15)) sends.
std::string zlib_raw_deflate(std::string_view in) {
  z_stream s{};
  EXPECT_EQ(deflateInit2(&s, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&s, in.size()) + 64, '\0');
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  s.avail_in = static_cast<uInt>(in.size());
  s.next_out = reinterpret_cast<Bytef*>(out.data());
  s.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&s, Z_SYNC_FLUSH), Z_OK);
  out.resize(out.size() - s.avail_out);
  deflateEnd(&s);
  return out;
}

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

TEST(DeflateTest, RoundTripsEveryFlushedBatchWhole) {
  auto d = Deflater::create(1);
  auto i = Inflater::create();
  ASSERT_TRUE(d.ok() && i.ok());
  // Text, incompressible bytes, an empty batch, and more than one output
  // chunk at once: each batch comes out whole, with no more input.
  std::vector<std::string> batches = {"a1 OK Completed\r\n", random_bytes(300000, 1), "",
                                      std::string(1 << 20, 'x') + "\r\n"};
  for (const std::string& b : batches) {
    std::string wire;
    ASSERT_TRUE(d->compress(b, true, &wire).is_ok());
    if (b.size() > 100000 && b[0] == 'x') {
      EXPECT_LT(wire.size(), b.size() / 50);
    }
    std::string back;
    ASSERT_TRUE(i->decompress(wire, &back).is_ok());
    EXPECT_EQ(back, b);
  }
}

TEST(DeflateTest, InflatesAByteSplitStreamFromAnotherDeflater) {
  std::string text;
  for (int n = 0; n < 2000; ++n) text += "* " + std::to_string(n) + " FETCH (FLAGS (\\Seen))\r\n";
  std::string wire = zlib_raw_deflate(text);
  auto i = Inflater::create();
  ASSERT_TRUE(i.ok());
  std::string back;
  for (char c : wire) ASSERT_TRUE(i->decompress(std::string_view(&c, 1), &back).is_ok());
  EXPECT_EQ(back, text);
}

TEST(DeflateTest, WithoutFlushBytesWaitForTheNextFlush) {
  auto d = Deflater::create(6);
  auto i = Inflater::create();
  ASSERT_TRUE(d.ok() && i.ok());
  std::string wire, back;
  ASSERT_TRUE(d->compress("first part, ", false, &wire).is_ok());
  ASSERT_TRUE(d->compress("second part", true, &wire).is_ok());
  ASSERT_TRUE(i->decompress(wire, &back).is_ok());
  EXPECT_EQ(back, "first part, second part");
}

TEST(DeflateTest, GarbageIsAnErrorNotACrash) {
  auto i = Inflater::create();
  ASSERT_TRUE(i.ok());
  std::string back;
  // 0xff: a block of the reserved type 3.
  Status s = i->decompress(std::string("\xff\xff\xff\xff", 4), &back);
  EXPECT_EQ(s.code(), Code::kIoError);
  // A zlib-wrapped stream (RFC 1950) is not raw deflate either.
  auto j = Inflater::create();
  ASSERT_TRUE(j.ok());
  std::string wrapped(64, '\0');
  uLongf len = wrapped.size();
  ASSERT_EQ(compress(reinterpret_cast<Bytef*>(wrapped.data()), &len,
                     reinterpret_cast<const Bytef*>("hello hello hello"), 17),
            Z_OK);
  wrapped.resize(len);
  EXPECT_FALSE(j->decompress(wrapped, &back).is_ok());
}

TEST(DeflateTest, DataAfterTheFinalBlockIsRefused) {
  z_stream s{};
  ASSERT_EQ(deflateInit2(&s, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(256, '\0');
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>("bye"));
  s.avail_in = 3;
  s.next_out = reinterpret_cast<Bytef*>(out.data());
  s.avail_out = static_cast<uInt>(out.size());
  ASSERT_EQ(deflate(&s, Z_FINISH), Z_STREAM_END);
  out.resize(out.size() - s.avail_out);
  deflateEnd(&s);
  auto i = Inflater::create();
  ASSERT_TRUE(i.ok());
  std::string back;
  EXPECT_FALSE(i->decompress(out + "more", &back).is_ok());
  EXPECT_EQ(back, "bye");
}

// The stream's DEFLATE layer over a socket pair: bytes read past the
// command that turned compression on are inflated, writes arrive deflated
// and flushed.
TEST(DeflateTest, StreamCompressesBothDirections) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  {
    Stream t(fds[0], fds[0]);
    t.set_timeout(std::chrono::milliseconds(1000));
    std::string early = zlib_raw_deflate("b NOOP\r\n");
    ASSERT_TRUE(t.start_compression(early).is_ok());
    EXPECT_TRUE(t.compressed());
    auto got = t.read_some(1 << 16, std::chrono::milliseconds(100));
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(*got, "b NOOP\r\n");

    std::string more = zlib_raw_deflate("c LOGOUT\r\n");
    ASSERT_EQ(::write(fds[1], more.data(), more.size()), static_cast<ssize_t>(more.size()));
    got = t.read_some(1 << 16, std::chrono::milliseconds(1000));
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(*got, "c LOGOUT\r\n");

    ASSERT_TRUE(t.write_flush("* BYE\r\n").is_ok());
    char buf[256];
    ssize_t n = ::read(fds[1], buf, sizeof buf);
    ASSERT_GT(n, 0);
    auto i = Inflater::create();
    ASSERT_TRUE(i.ok());
    std::string back;
    ASSERT_TRUE(i->decompress(std::string_view(buf, static_cast<size_t>(n)), &back).is_ok());
    EXPECT_EQ(back, "* BYE\r\n");

    // A block of the reserved type: the connection cannot go on.
    ASSERT_EQ(::write(fds[1], "\xff\xff\xff\xff", 4), 4);
    got = t.read_some(1 << 16, std::chrono::milliseconds(1000));
    EXPECT_FALSE(got.ok());
  }
  ::close(fds[0]);
  ::close(fds[1]);
}

// Under COMPRESS one read takes at most 16 KiB whatever set_read_chunk()
// asked: deflate's ~1,000:1 would otherwise let one read of 256 KiB put
// some 256 MiB in the input buffer at once.
TEST(DeflateTest, AReadUnderCompressStaysSmallWhateverTheChunk) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  {
    Stream t(fds[0], fds[0]);
    t.set_timeout(std::chrono::milliseconds(1000));
    t.set_read_chunk(256 * 1024);
    ASSERT_TRUE(t.start_compression().is_ok());
    std::string bomb = zlib_raw_deflate(std::string(64u << 20, 'a'));
    ASSERT_LT(bomb.size(), 200u * 1024);  // fits the socket buffer in one write
    ASSERT_EQ(::write(fds[1], bomb.data(), bomb.size()), static_cast<ssize_t>(bomb.size()));
    auto got = t.peek();
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    EXPECT_GT(got->size(), 0u);
    EXPECT_LE(got->size(), 20u << 20) << "one read inflated to " << got->size() << " bytes";
  }
  ::close(fds[0]);
  ::close(fds[1]);
}

// Bytes the stream buffered past the COMPRESS line were sent compressed:
// they come back inflated once compression is on.
TEST(DeflateTest, InputBufferedPastTheCommandIsInflated) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  {
    Stream t(fds[0], fds[0]);
    t.set_timeout(std::chrono::milliseconds(1000));
    std::string wire = "a COMPRESS DEFLATE\r\n" + zlib_raw_deflate("b NOOP\r\n");
    ASSERT_EQ(::write(fds[1], wire.data(), wire.size()), static_cast<ssize_t>(wire.size()));
    auto line = t.read_line(100);
    ASSERT_TRUE(line.ok());
    EXPECT_EQ(*line, "a COMPRESS DEFLATE");
    ASSERT_TRUE(t.start_compression().is_ok());
    line = t.read_line(100);
    ASSERT_TRUE(line.ok()) << line.status().to_string();
    EXPECT_EQ(*line, "b NOOP");
    // An idle peer: the wait runs out, the stream stays usable.
    auto idle = t.read_some(1 << 16, std::chrono::milliseconds(30));
    EXPECT_FALSE(idle.ok());
    EXPECT_TRUE(t.timed_out());
    std::string more = zlib_raw_deflate("c LOGOUT\r\n");
    ASSERT_EQ(::write(fds[1], more.data(), more.size()), static_cast<ssize_t>(more.size()));
    line = t.read_line(100);
    ASSERT_TRUE(line.ok());
    EXPECT_EQ(*line, "c LOGOUT");
    EXPECT_FALSE(t.timed_out());
  }
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace
}  // namespace replimail::net
