#include "net/deflate.h"

#include <zlib.h>

#include <algorithm>

namespace replimail::net {
namespace {

constexpr size_t kChunk = 64 * 1024;

// zlib counts in uInt: feed a large input in pieces it can count.
constexpr size_t kMaxIn = 1u << 30;

}  // namespace

struct Deflater::Z {
  z_stream s{};
  ~Z() { deflateEnd(&s); }
};

struct Inflater::Z {
  z_stream s{};
  bool ended = false;
  ~Z() { inflateEnd(&s); }
};

Deflater::Deflater(std::unique_ptr<Z> z) : z_(std::move(z)) {}
Deflater::~Deflater() = default;
Deflater::Deflater(Deflater&&) noexcept = default;
Deflater& Deflater::operator=(Deflater&&) noexcept = default;

Result<Deflater> Deflater::create(int level) {
  auto z = std::make_unique<Z>();
  // Negative window bits: raw deflate, as RFC 4978 requires.
  if (deflateInit2(&z->s, level, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return Status(Code::kInternal, "deflateInit2 failed");
  }
  return Deflater(std::move(z));
}

Status Deflater::compress(std::string_view in, bool sync_flush, std::string* out) {
  z_stream& s = z_->s;
  do {
    size_t piece = std::min(in.size(), kMaxIn);
    bool last = piece == in.size();
    s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    s.avail_in = static_cast<uInt>(piece);
    int flush = sync_flush && last ? Z_SYNC_FLUSH : Z_NO_FLUSH;
    // Run until zlib has taken all input and, for a flush, has room to spare
    // after emitting (so nothing of the flush is still inside).
    do {
      size_t old = out->size();
      out->resize(old + kChunk);
      s.next_out = reinterpret_cast<Bytef*>(out->data() + old);
      s.avail_out = static_cast<uInt>(kChunk);
      int rc = deflate(&s, flush);
      out->resize(old + kChunk - s.avail_out);
      if (rc != Z_OK && rc != Z_BUF_ERROR) return Status(Code::kIoError, "deflate failed");
    } while (s.avail_in > 0 || s.avail_out == 0);
    in.remove_prefix(piece);
  } while (!in.empty());
  return Status::success();
}

Inflater::Inflater(std::unique_ptr<Z> z) : z_(std::move(z)) {}
Inflater::~Inflater() = default;
Inflater::Inflater(Inflater&&) noexcept = default;
Inflater& Inflater::operator=(Inflater&&) noexcept = default;

Result<Inflater> Inflater::create() {
  auto z = std::make_unique<Z>();
  if (inflateInit2(&z->s, -MAX_WBITS) != Z_OK)
    return Status(Code::kInternal, "inflateInit2 failed");
  return Inflater(std::move(z));
}

Status Inflater::decompress(std::string_view in, std::string* out) {
  z_stream& s = z_->s;
  while (!in.empty()) {
    if (z_->ended) return Status(Code::kIoError, "inflate: data after the end of the stream");
    size_t piece = std::min(in.size(), kMaxIn);
    s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    s.avail_in = static_cast<uInt>(piece);
    do {
      size_t old = out->size();
      out->resize(old + kChunk);
      s.next_out = reinterpret_cast<Bytef*>(out->data() + old);
      s.avail_out = static_cast<uInt>(kChunk);
      int rc = inflate(&s, Z_SYNC_FLUSH);
      out->resize(old + kChunk - s.avail_out);
      if (rc == Z_STREAM_END) {
        z_->ended = true;
        break;
      }
      if (rc != Z_OK && rc != Z_BUF_ERROR) {
        return Status(Code::kIoError, "inflate: corrupt compressed stream");
      }
      if (rc == Z_BUF_ERROR && s.avail_out != 0) break;  // all input taken
    } while (s.avail_in > 0 || s.avail_out == 0);
    in.remove_prefix(piece - s.avail_in);
  }
  return Status::success();
}

}  // namespace replimail::net
