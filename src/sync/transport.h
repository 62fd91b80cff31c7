// One end of a csync connection: buffered bytes over net::Stream, optionally
// encrypted with TLS (STARTTLS, or at once for sync_host's /tls: the
// net::TlsSession of net/tls.h, the one TLS layer of every service),
// optionally compressed with COMPRESS DEFLATE above it (raw RFC 1951 deflate, one stream per
// direction, a sync flush after each flush() — what Cyrus does), read line by
// line through a dlist::Parser. Used by sync_server and sync_client alike.
//
// Not thread-safe. Does not own the descriptors.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "dlist/parser.h"
#include "dlist/printer.h"
#include "net/deflate.h"
#include "net/stream.h"
#include "net/tls.h"

namespace replimail::sync {

class Transport : public dlist::Output {
 public:
  Transport(int in_fd, int out_fd);
  ~Transport() override;
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  void set_timeout(std::chrono::milliseconds t) { stream_.set_timeout(t); }

  // Output: buffered; compressed once compression is on.
  Status write(std::string_view bytes) override;
  Status flush();
  Status write_flush(std::string_view bytes);

  // Reads until `parser` reports a complete (or bad) line. kIoError when the
  // peer closed or timed out (eof()/timed_out() tell which).
  Result<dlist::Parser::Event> read_line(dlist::Parser& parser);
  bool eof() const { return stream_.eof(); }
  bool timed_out() const { return stream_.timed_out(); }

  // Switches both directions to DEFLATE. Call right after the OK of
  // COMPRESS DEFLATE has been flushed (server) or read (client).
  Status start_compression();
  bool compressed() const { return inflater_ != nullptr; }

  // Switches both directions to TLS: the server side after the OK of
  // STARTTLS has been flushed, the client side after it has been read (or
  // at once for /tls). Input buffered past the STARTTLS line is dropped (a
  // peer may not pipeline after STARTTLS; such bytes came in clear). A
  // client's handshake fails with kPermissionDenied when the server's
  // certificate does not verify for `host` (net::TlsSession::connect).
  // The handshake waits for the peer as long as any exchange does.
  // REQUIRES: !tls() && !compressed().
  Status start_tls(const net::TlsContext& ctx);
  Status start_tls_client(const net::TlsContext& ctx, const std::string& host);
  bool tls() const { return tls_ != nullptr; }
  std::string tls_description() const { return tls_ ? tls_->description() : std::string(); }

  uint64_t bytes_in() const { return stream_.bytes_in(); }
  uint64_t bytes_out() const { return stream_.bytes_out(); }

 private:
  Status fill();
  Status deflate_pending(bool sync_flush);
  Status started_tls(Result<std::unique_ptr<net::TlsSession>> tls);

  int in_fd_;
  int out_fd_;
  std::unique_ptr<net::TlsSession> tls_;  // declared before stream_, which uses it
  net::Stream stream_;
  std::string rbuf_;
  size_t rpos_ = 0;
  std::string wbuf_;
  std::unique_ptr<net::Inflater> inflater_;
  std::unique_ptr<net::Deflater> deflater_;
};

}  // namespace replimail::sync
