#include "net/stream.h"

#include <errno.h>
#include <fmt/format.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <string_view>

#include "net/deflate.h"
#include "net/tls.h"

namespace replimail::net {
namespace {

constexpr size_t kWriteThreshold = 65536;
// What one read() takes under COMPRESS, whatever set_read_chunk() says:
// inflating it may give up to ~1,000 times as much (deflate's bound), all
// of it held in the input buffer at once.
constexpr size_t kCompressedReadChunk = 16384;

// For a non-blocking descriptor with no timeout set: wait without limit.
void block_until(int fd, short events) {
  struct pollfd p {
    fd, events, 0
  };
  ::poll(&p, 1, -1);
}

}  // namespace

Stream::Stream(int in_fd, int out_fd) : in_fd_(in_fd), out_fd_(out_fd) {}
Stream::~Stream() = default;

Status Stream::wait_ready(int fd, short events, std::chrono::milliseconds wait) {
  if (wait.count() <= 0) return Status::success();
  struct pollfd p {
    fd, events, 0
  };
  for (;;) {
    int n = ::poll(&p, 1, static_cast<int>(wait.count()));
    if (n > 0) return Status::success();
    if (n == 0) {
      timed_out_ = true;
      return Status(Code::kIoError, "timed out waiting for peer");
    }
    if (errno != EINTR) return errno_status("poll");
  }
}

Status Stream::started_tls(Result<std::unique_ptr<TlsSession>> tls) {
  if (!tls.ok()) return tls.status();
  tls_ = std::move(tls).value();
  return Status::success();
}

Status Stream::start_tls_server(const TlsContext& ctx, std::chrono::milliseconds timeout) {
  discard_input();
  return started_tls(TlsSession::accept(ctx, in_fd_, out_fd_, timeout));
}

Status Stream::start_tls_client(const TlsContext& ctx, const std::string& host,
                                std::chrono::milliseconds timeout) {
  discard_input();
  if (Status s = flush(); !s) return s;
  return started_tls(TlsSession::connect(ctx, in_fd_, out_fd_, host, timeout));
}

std::string Stream::tls_description() const { return tls_ ? tls_->description() : std::string(); }

Status Stream::start_compression(std::string_view already_read) {
  if (compressed()) return Status(Code::kProtocolError, "compression already active");
  // Level 1: deflate at the default level was 70% of sync_client's CPU in
  // an initial sync of 10,000 messages, and a server's CPU pays for every
  // byte it sends; any level inflates the same way.
  auto d = Deflater::create(1);
  if (!d.ok()) return d.status();
  auto i = Inflater::create();
  if (!i.ok()) return i.status();
  deflater_ = std::make_unique<Deflater>(std::move(d).value());
  inflater_ = std::make_unique<Inflater>(std::move(i).value());
  // What was read past the command, by the caller and into this buffer,
  // was sent compressed.
  std::string raw(already_read);
  raw.append(rbuf_, rpos_);
  rbuf_.clear();
  rpos_ = 0;
  return inflater_->decompress(raw, &rbuf_);
}

Status Stream::fill(std::chrono::milliseconds wait) {
  if (rpos_ == rbuf_.size()) {
    rbuf_.clear();
    rpos_ = 0;
  } else if (rpos_ > read_chunk_) {
    // Keep the buffer from growing without bound under a long line.
    rbuf_.erase(0, rpos_);
    rpos_ = 0;
  }
  if (eof_) return Status(Code::kIoError, "connection closed");
  timed_out_ = false;
  const size_t before = rbuf_.size();
  // A TLS record or a deflate block may carry no byte of the top layer.
  while (rbuf_.size() == before) {
    if (!inflater_) {
      if (Status s = read_wire(wait, &rbuf_); !s) return s;
      continue;
    }
    std::string raw;
    if (Status s = read_wire(wait, &raw); !s) return s;
    if (Status s = inflater_->decompress(raw, &rbuf_); !s) return s;
  }
  return Status::success();
}

size_t Stream::wire_chunk() const {
  return inflater_ ? std::min(read_chunk_, kCompressedReadChunk) : read_chunk_;
}

Status Stream::read_wire(std::chrono::milliseconds wait, std::string* buf) {
  if (tls_) return read_tls(wait, buf);
  if (Status s = wait_ready(in_fd_, POLLIN, wait); !s) return s;
  const size_t chunk = wire_chunk();
  size_t old = buf->size();
  buf->resize(old + chunk);
  for (;;) {
    ssize_t n = ::read(in_fd_, buf->data() + old, chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      block_until(in_fd_, POLLIN);
      continue;
    }
    if (n < 0) {
      buf->resize(old);
      return errno_status("read");
    }
    buf->resize(old + static_cast<size_t>(n));
    bytes_in_ += static_cast<uint64_t>(n);
    if (n == 0) {
      eof_ = true;
      return Status(Code::kIoError, "connection closed");
    }
    return Status::success();
  }
}

Status Stream::read_tls(std::chrono::milliseconds wait, std::string* buf) {
  const size_t chunk = wire_chunk();
  size_t old = buf->size();
  buf->resize(old + chunk);
  for (;;) {
    bool timed_out = false;
    auto n = tls_->read(buf->data() + old, chunk, wait, &timed_out);
    if (!n.ok() || *n > 0) {
      buf->resize(old + (n.ok() ? *n : 0));
      if (n.ok()) {
        bytes_in_ += *n;
        return Status::success();
      }
      // A close_notify or a closed socket is the peer's clean end.
      eof_ = n.status().message() == "end of stream";
      return n.status();
    }
    if (timed_out) {
      buf->resize(old);
      timed_out_ = true;
      return Status(Code::kIoError, "timed out waiting for peer");
    }
  }
}

size_t Stream::discard_input() {
  size_t n = rbuf_.size() - rpos_;
  rbuf_.clear();
  rpos_ = 0;
  return n;
}

Result<std::string> Stream::read_line(size_t max_len) {
  std::string line;
  bool too_long = false;
  for (;;) {
    std::string_view avail = std::string_view(rbuf_).substr(rpos_);
    const size_t nl = avail.find('\n');
    const bool found = nl != std::string_view::npos;
    const size_t take = found ? nl : avail.size();
    if (!too_long) {
      line.append(avail.substr(0, take));
      // One byte of slack for a CR that precedes the LF.
      if (line.size() > max_len + 1) {
        too_long = true;
        line.clear();
      }
    }
    rpos_ += take;
    if (found) {
      ++rpos_;
      break;
    }
    if (Status s = fill(timeout_); !s) {
      if (eof_ && !too_long && !line.empty()) return line;
      return s;
    }
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (too_long || line.size() > max_len) {
    return Status(Code::kProtocolError, fmt::format("line too long (limit {} bytes)", max_len));
  }
  return line;
}

Status Stream::read_exact(size_t n, std::string* out) {
  while (n > 0) {
    if (rpos_ == rbuf_.size()) {
      if (Status s = fill(timeout_); !s) return s;
    }
    size_t take = std::min(n, rbuf_.size() - rpos_);
    out->append(rbuf_, rpos_, take);
    rpos_ += take;
    n -= take;
  }
  return Status::success();
}

Result<std::string_view> Stream::read_some(size_t max) { return read_some(max, timeout_); }

Result<std::string_view> Stream::read_some(size_t max, std::chrono::milliseconds wait) {
  if (rpos_ == rbuf_.size()) {
    if (Status s = fill(wait); !s) return s;
  }
  size_t take = std::min(max, rbuf_.size() - rpos_);
  std::string_view v(rbuf_.data() + rpos_, take);
  rpos_ += take;
  return v;
}

Result<std::string_view> Stream::peek() {
  if (rpos_ == rbuf_.size()) {
    if (Status s = fill(timeout_); !s) return s;
  }
  return std::string_view(rbuf_).substr(rpos_);
}

Status Stream::write(std::string_view data) {
  wbuf_.append(data);
  if (wbuf_.size() >= kWriteThreshold) return drain(false);
  return Status::success();
}

Status Stream::flush() { return drain(true); }

Status Stream::drain(bool sync_flush) {
  if (!deflater_) {
    Status s = write_wire(wbuf_);
    wbuf_.clear();
    return s;
  }
  // Compressed even when empty: a flush must push out what zlib kept back.
  std::string out;
  Status s = deflater_->compress(wbuf_, sync_flush, &out);
  wbuf_.clear();
  if (!s) return s;
  return write_wire(out);
}

Status Stream::write_wire(std::string_view rest) {
  if (rest.empty()) return Status::success();
  if (tls_) {
    Status s = tls_->write(rest, timeout_);
    if (s) bytes_out_ += rest.size();
    return s;
  }
  while (!rest.empty()) {
    if (Status s = wait_ready(out_fd_, POLLOUT, timeout_); !s) return s;
    ssize_t n = ::write(out_fd_, rest.data(), rest.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        block_until(out_fd_, POLLOUT);
        continue;
      }
      return errno_status("write");
    }
    bytes_out_ += static_cast<uint64_t>(n);
    rest.remove_prefix(static_cast<size_t>(n));
  }
  return Status::success();
}

Status Stream::write_flush(std::string_view data) {
  if (Status s = write(data); !s) return s;
  return flush();
}

}  // namespace replimail::net
