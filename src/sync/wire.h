// dlist over the one transport stack: a csync connection's lines read from a
// net::Stream (plain, TLS, COMPRESS DEFLATE: net/stream.h) into a
// dlist::Parser, and printed dlist written to it. Used by sync_server and
// sync_client alike.
//
// Not thread-safe. Does not own the stream.
#pragma once

#include <chrono>
#include <string_view>

#include "common/status.h"
#include "dlist/parser.h"
#include "dlist/printer.h"
#include "net/stream.h"

namespace replimail::sync {

class Wire : public dlist::Output {
 public:
  explicit Wire(net::Stream& stream) : stream_(stream) {}

  // Buffered in the stream: flush it to send.
  Status write(std::string_view bytes) override { return stream_.write(bytes); }

  // Reads until `parser` reports a complete (or bad) line; the bytes after
  // it stay in the stream. kIoError when the peer closed or timed out (the
  // stream's eof()/timed_out() tell which).
  Result<dlist::Parser::Event> read_line(dlist::Parser& parser);

 private:
  net::Stream& stream_;
};

// The longest a csync TLS handshake waits for the peer at each step: the
// connection's own timeout, or 3 minutes (as Cyrus's sync_server) when it
// has none.
std::chrono::milliseconds tls_handshake_timeout(const net::Stream& stream);

}  // namespace replimail::sync
