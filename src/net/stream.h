// A buffered byte stream over file descriptors: the line/byte reader and
// writer every protocol session (lmtpd, imapd, pop3d, sync_server and
// sync_client) reads its peer through.
//
// Errors are Status values. Reads and writes wait at most the configured
// timeout for the descriptor to become ready. After a failed read, eof() or
// timed_out() tells a clean close or an idle peer apart from other errors.
//
// Not thread-safe. A Stream does not own its descriptors.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace replimail::net {

class TlsSession;

class Stream {
 public:
  // Reads from `in_fd` and writes to `out_fd` (the same descriptor for a
  // socket; 0 and 1 for a session served on stdin/stdout).
  Stream(int in_fd, int out_fd);
  explicit Stream(int fd) : Stream(fd, fd) {}
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Longest wait for the peer in any single read or write; zero (the
  // default) waits forever.
  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }
  std::chrono::milliseconds timeout() const { return timeout_; }

  // From now on every byte read and written goes through `tls` (not owned;
  // it must outlive the Stream's use). Call with no input buffered and the
  // output flushed: see discard_input().
  void set_tls(TlsSession* tls) { tls_ = tls; }
  // Drops the input buffered but not yet read and returns its size: bytes
  // a peer pipelined after STARTTLS were sent in clear, so they are not to
  // be taken for part of the encrypted stream.
  size_t discard_input();

  // Reads one line and returns it without its terminator (CRLF, or a bare
  // LF; a CR not followed by LF stays in the line). A final line without a
  // terminator at end of stream is returned as a line.
  // A line longer than `max_len` bytes (terminator excluded) is read to its
  // end and discarded, and kProtocolError "line too long" is returned, so the
  // session can answer with an error and carry on with the next line.
  Result<std::string> read_line(size_t max_len);

  // Reads exactly `n` bytes and appends them to `*out` (IMAP/dlist literals).
  Status read_exact(size_t n, std::string* out);

  // Returns between 1 and `max` bytes: those already buffered, else what one
  // read() delivers. The view is valid until the next call on this Stream.
  // For streaming a message body without holding it twice.
  Result<std::string_view> read_some(size_t max);

  // True when input is already buffered, i.e. the peer has pipelined more
  // commands: a session may defer flush() while this holds.
  bool input_pending() const { return rpos_ < rbuf_.size(); }

  // Appends to the output buffer; writes through when it grows past 64 KiB.
  Status write(std::string_view data);
  // Writes all buffered output to the peer.
  Status flush();
  // write() then flush().
  Status write_flush(std::string_view data);

  // Why the last failed read failed.
  bool eof() const { return eof_; }
  bool timed_out() const { return timed_out_; }

  // Bytes read from / written to the peer so far (for logging and limits).
  uint64_t bytes_in() const { return bytes_in_; }
  uint64_t bytes_out() const { return bytes_out_; }

 private:
  // Reads once into the buffer. kIoError on EOF, timeout or error.
  Status fill();
  Status fill_tls();
  // Waits until `fd` is ready for `events` (POLLIN/POLLOUT) or the timeout.
  Status wait_ready(int fd, short events);

  int in_fd_;
  int out_fd_;
  TlsSession* tls_ = nullptr;
  std::chrono::milliseconds timeout_{0};
  std::string rbuf_;
  size_t rpos_ = 0;
  std::string wbuf_;
  bool eof_ = false;
  bool timed_out_ = false;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
};

}  // namespace replimail::net
