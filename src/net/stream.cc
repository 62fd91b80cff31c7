#include "net/stream.h"

#include <errno.h>
#include <fmt/format.h>
#include <poll.h>
#include <unistd.h>

#include <cstring>

#include "net/tls.h"

namespace replimail::net {
namespace {

constexpr size_t kReadChunk = 16384;
constexpr size_t kWriteThreshold = 65536;

// For a non-blocking descriptor with no timeout set: wait without limit.
void block_until(int fd, short events) {
  struct pollfd p {
    fd, events, 0
  };
  ::poll(&p, 1, -1);
}

}  // namespace

Stream::Stream(int in_fd, int out_fd) : in_fd_(in_fd), out_fd_(out_fd) {}

Status Stream::wait_ready(int fd, short events) {
  if (timeout_.count() <= 0) return Status::ok();
  struct pollfd p {
    fd, events, 0
  };
  for (;;) {
    int n = ::poll(&p, 1, static_cast<int>(timeout_.count()));
    if (n > 0) return Status::ok();
    if (n == 0) {
      timed_out_ = true;
      return Status(Code::kIoError, "timed out waiting for peer");
    }
    if (errno != EINTR) return errno_status("poll");
  }
}

Status Stream::fill() {
  if (rpos_ == rbuf_.size()) {
    rbuf_.clear();
    rpos_ = 0;
  } else if (rpos_ > kReadChunk) {
    // Keep the buffer from growing without bound under a long line.
    rbuf_.erase(0, rpos_);
    rpos_ = 0;
  }
  if (eof_) return Status(Code::kIoError, "connection closed");
  if (tls_) return fill_tls();
  if (Status s = wait_ready(in_fd_, POLLIN); !s) return s;
  size_t old = rbuf_.size();
  rbuf_.resize(old + kReadChunk);
  for (;;) {
    ssize_t n = ::read(in_fd_, rbuf_.data() + old, kReadChunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      block_until(in_fd_, POLLIN);
      continue;
    }
    if (n < 0) {
      rbuf_.resize(old);
      return errno_status("read");
    }
    rbuf_.resize(old + static_cast<size_t>(n));
    bytes_in_ += static_cast<uint64_t>(n);
    if (n == 0) {
      eof_ = true;
      return Status(Code::kIoError, "connection closed");
    }
    return Status::ok();
  }
}

Status Stream::fill_tls() {
  size_t old = rbuf_.size();
  rbuf_.resize(old + kReadChunk);
  for (;;) {
    bool timed_out = false;
    auto n = tls_->read(rbuf_.data() + old, kReadChunk, timeout_, &timed_out);
    if (!n.ok() || *n > 0) {
      rbuf_.resize(old + (n.ok() ? *n : 0));
      if (n.ok()) {
        bytes_in_ += *n;
        return Status::ok();
      }
      // A close_notify or a closed socket is the peer's clean end.
      eof_ = n.status().message() == "end of stream";
      return n.status();
    }
    if (timed_out) {
      rbuf_.resize(old);
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
    const char* start = rbuf_.data() + rpos_;
    size_t avail = rbuf_.size() - rpos_;
    const void* nl = std::memchr(start, '\n', avail);
    size_t take = nl ? static_cast<size_t>(static_cast<const char*>(nl) - start) : avail;
    if (!too_long) {
      line.append(start, take);
      // One byte of slack for a CR that precedes the LF.
      if (line.size() > max_len + 1) {
        too_long = true;
        line.clear();
      }
    }
    rpos_ += take;
    if (nl) {
      ++rpos_;
      break;
    }
    if (Status s = fill(); !s) {
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
      if (Status s = fill(); !s) return s;
    }
    size_t take = std::min(n, rbuf_.size() - rpos_);
    out->append(rbuf_, rpos_, take);
    rpos_ += take;
    n -= take;
  }
  return Status::ok();
}

Result<std::string_view> Stream::read_some(size_t max) {
  if (rpos_ == rbuf_.size()) {
    if (Status s = fill(); !s) return s;
  }
  size_t take = std::min(max, rbuf_.size() - rpos_);
  std::string_view v(rbuf_.data() + rpos_, take);
  rpos_ += take;
  return v;
}

Status Stream::write(std::string_view data) {
  wbuf_.append(data);
  if (wbuf_.size() >= kWriteThreshold) return flush();
  return Status::ok();
}

Status Stream::flush() {
  if (tls_) {
    Status s = tls_->write(wbuf_, timeout_);
    if (s) bytes_out_ += wbuf_.size();
    wbuf_.clear();
    return s;
  }
  std::string_view rest = wbuf_;
  Status result;
  while (!rest.empty()) {
    if (Status s = wait_ready(out_fd_, POLLOUT); !s) {
      result = s;
      break;
    }
    ssize_t n = ::write(out_fd_, rest.data(), rest.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        block_until(out_fd_, POLLOUT);
        continue;
      }
      result = errno_status("write");
      break;
    }
    bytes_out_ += static_cast<uint64_t>(n);
    rest.remove_prefix(static_cast<size_t>(n));
  }
  wbuf_.erase(0, wbuf_.size() - rest.size());
  return result;
}

Status Stream::write_flush(std::string_view data) {
  if (Status s = write(data); !s) return s;
  return flush();
}

}  // namespace replimail::net
