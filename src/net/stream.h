// The one transport stack of every connection, server and client alike
// (lmtpd, imapd, pop3d, sync_server, sync_client): buffered bytes over a
// pair of descriptors (TCP, unix socket or stdin/stdout), with two layers a
// protocol may switch on as it negotiates them:
//
//   session bytes ─ DEFLATE (COMPRESS) ─ TLS (STARTTLS, STLS, imaps) ─ fd
//
// Compression sits above TLS when both are on: bytes are deflated, then
// encrypted. Deflate is raw RFC 1951, one stream per direction, a sync
// flush at each flush() (what RFC 4978 and Cyrus's csync do).
//
// Errors are Status values. Reads and writes wait at most the configured
// timeout for the peer at each step; a read may be given its own wait
// (read_some's `wait`, for a session that polls while idle). After a failed
// read, eof() or timed_out() tells a clean close or an idle peer apart from
// other errors; a timed-out read leaves the stream usable.
//
// Not thread-safe. A Stream does not own its descriptors.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace replimail::net {

class Deflater;
class Inflater;
class TlsContext;
class TlsSession;

class Stream {
 public:
  // Reads from `in_fd` and writes to `out_fd` (the same descriptor for a
  // socket; 0 and 1 for a session served on stdin/stdout).
  Stream(int in_fd, int out_fd);
  explicit Stream(int fd) : Stream(fd, fd) {}
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Longest wait for the peer in any single read or write; zero (the
  // default) waits forever.
  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }
  std::chrono::milliseconds timeout() const { return timeout_; }

  // ---- the TLS layer ----
  // The server side of a handshake (after STARTTLS's OK has been flushed, or
  // at once on an implicit-TLS listener), waiting at most `timeout` for the
  // peer at each step; afterwards every byte read and written is encrypted.
  // Input buffered but not yet read is dropped first (bytes a peer
  // pipelined after STARTTLS came in clear): call discard_input() before to
  // learn how many. kIoError if the handshake fails (the stream stays
  // plain, but the connection should be dropped: the peer's state is
  // unknown). REQUIRES: !tls() && !compressed().
  Status start_tls_server(const TlsContext& ctx, std::chrono::milliseconds timeout);
  // The client side, towards `host` (net::TlsSession::connect): buffered
  // output is flushed first. kPermissionDenied when the server's
  // certificate does not verify for `host`. REQUIRES: as start_tls_server.
  Status start_tls_client(const TlsContext& ctx, const std::string& host,
                          std::chrono::milliseconds timeout);
  bool tls() const { return tls_ != nullptr; }
  // "TLSv1.3 TLS_AES_256_GCM_SHA384 (...)" for logs; "" without TLS.
  std::string tls_description() const;

  // ---- the DEFLATE layer ----
  // From now on every write is deflated and every read inflated.
  // `already_read`: bytes the caller took past the command that started it,
  // which the peer sent compressed; they and any input still buffered here
  // come back, inflated, from the next reads. kIoError if they are not a
  // deflate stream. Call right after the OK of COMPRESS has been flushed
  // (server) or read (client). REQUIRES: !compressed().
  Status start_compression(std::string_view already_read = {});
  bool compressed() const { return deflater_ != nullptr; }

  // Drops the input buffered but not yet read and returns its size.
  size_t discard_input();

  // ---- reading (the bytes of the top layer) ----
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
  // The same, waiting at most `wait` (instead of the timeout) for the peer;
  // on kIoError timed_out() says whether the wait ran out.
  Result<std::string_view> read_some(size_t max, std::chrono::milliseconds wait);

  // Everything buffered, reading once first when nothing is: for a parser
  // fed in place, which then consume()s what it took. The view is valid
  // until the next call on this Stream.
  Result<std::string_view> peek();
  // REQUIRES: n <= the size of the last peek().
  void consume(size_t n) { rpos_ += n; }
  // How much one read() may take (16 KiB unless set; never more than 16
  // KiB under COMPRESS, whose inflated bytes the buffer holds): sync_server
  // takes more, so that a message of an APPLY MESSAGE arrives in one piece
  // and reaches its file in one write().
  void set_read_chunk(size_t bytes) { read_chunk_ = bytes; }

  // True when input is already buffered, i.e. the peer has pipelined more
  // commands: a session may defer flush() while this holds.
  bool input_pending() const { return rpos_ < rbuf_.size(); }

  // ---- writing ----
  // Appends to the output buffer; writes through when it grows past 64 KiB.
  Status write(std::string_view data);
  // Writes all buffered output to the peer (with a sync flush of DEFLATE).
  Status flush();
  // write() then flush().
  Status write_flush(std::string_view data);

  // Why the last failed read failed.
  bool eof() const { return eof_; }
  bool timed_out() const { return timed_out_; }

  // Bytes read from / written to the wire so far (for logging and limits).
  uint64_t bytes_in() const { return bytes_in_; }
  uint64_t bytes_out() const { return bytes_out_; }

 private:
  // Bytes one read of the wire may take: read_chunk_, at most
  // kCompressedReadChunk (stream.cc) under COMPRESS.
  size_t wire_chunk() const;
  // Reads at least one byte of the top layer into the buffer, waiting at
  // most `wait` at each step. kIoError on EOF, timeout or error.
  Status fill(std::chrono::milliseconds wait);
  // Reads once from the TLS layer or the descriptor, appending to `*buf`.
  Status read_wire(std::chrono::milliseconds wait, std::string* buf);
  Status read_tls(std::chrono::milliseconds wait, std::string* buf);
  // Sends the output buffer down the layers; `sync_flush`: all of it.
  Status drain(bool sync_flush);
  Status write_wire(std::string_view rest);
  // Waits until `fd` is ready for `events` (POLLIN/POLLOUT) or `wait`.
  Status wait_ready(int fd, short events, std::chrono::milliseconds wait);
  Status started_tls(Result<std::unique_ptr<TlsSession>> tls);

  int in_fd_;
  int out_fd_;
  std::chrono::milliseconds timeout_{0};
  std::unique_ptr<TlsSession> tls_;
  std::unique_ptr<Deflater> deflater_;
  std::unique_ptr<Inflater> inflater_;
  std::string rbuf_;  // top-layer bytes (inflated when compressed)
  size_t rpos_ = 0;
  size_t read_chunk_ = 16384;
  std::string wbuf_;  // top-layer bytes not yet sent down
  bool eof_ = false;
  bool timed_out_ = false;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
};

}  // namespace replimail::net
