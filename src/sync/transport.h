// One end of a csync connection: buffered bytes over net::Stream, optionally
// compressed with COMPRESS DEFLATE (raw RFC 1951 deflate, one stream per
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

  uint64_t bytes_in() const { return stream_.bytes_in(); }
  uint64_t bytes_out() const { return stream_.bytes_out(); }

 private:
  Status fill();
  Status deflate_pending(bool sync_flush);

  net::Stream stream_;
  std::string rbuf_;
  size_t rpos_ = 0;
  std::string wbuf_;
  std::unique_ptr<net::Inflater> inflater_;
  std::unique_ptr<net::Deflater> deflater_;
};

}  // namespace replimail::sync
