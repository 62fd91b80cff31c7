// Raw DEFLATE (RFC 1951, no zlib or gzip wrapper) as a byte layer, the one
// compression of every protocol that negotiates COMPRESS DEFLATE: IMAP
// (RFC 4978) and Cyrus's csync. One Deflater per direction sent, one
// Inflater per direction received, each a single stream for the life of the
// connection; a sync flush ends every batch of output, so the peer can
// inflate all of it at once without waiting for more.
//
// Pure: bytes in, bytes out, no descriptors. Not thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace replimail::net {

class Deflater {
 public:
  // `level` as zlib's (1 fastest … 9 smallest; Z_DEFAULT_COMPRESSION = -1).
  // kInternal if zlib cannot be set up.
  static Result<Deflater> create(int level);
  ~Deflater();
  Deflater(Deflater&&) noexcept;
  Deflater& operator=(Deflater&&) noexcept;

  // Compresses `in`, appending what is ready to `*out`. With `sync_flush`
  // everything given so far is in `*out` afterwards, ending on a byte
  // boundary (an empty stored block); without it zlib may keep some back.
  Status compress(std::string_view in, bool sync_flush, std::string* out);

 private:
  struct Z;
  explicit Deflater(std::unique_ptr<Z> z);
  std::unique_ptr<Z> z_;
};

class Inflater {
 public:
  static Result<Inflater> create();
  ~Inflater();
  Inflater(Inflater&&) noexcept;
  Inflater& operator=(Inflater&&) noexcept;

  // Decompresses `in`, appending every byte it yields to `*out` (a partial
  // block's bytes come with the rest of it). kIoError for data that is not
  // a raw deflate stream, or that follows its final block.
  Status decompress(std::string_view in, std::string* out);

 private:
  struct Z;
  explicit Inflater(std::unique_ptr<Z> z);
  std::unique_ptr<Z> z_;
};

}  // namespace replimail::net
