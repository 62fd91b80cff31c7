#include "mime/search_body.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "mime/body_text.h"
#include "mime/message_rep.h"

namespace replimail::mime {

namespace {

// Ranges up to this size are read(); larger ones mapped (Message::open's
// reasons).
constexpr size_t kReadLimit = 256 * 1024;

std::optional<size_t> parse_size(std::string_view s) {
  size_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// The next field of `line` up to a blank (or the rest, with `last`).
std::string_view take(std::string_view& line, bool last = false) {
  size_t sp = last ? std::string_view::npos : line.find(' ');
  std::string_view field = line.substr(0, sp);
  line = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
  return field;
}

// One text_segments() line as the Part fields the decoding reads; nullopt
// if malformed.
std::optional<std::pair<Part, bool>> parse_segment(std::string_view line) {
  std::string_view kind = take(line);
  auto offset = parse_size(take(line));
  auto size = parse_size(take(line, kind == "H"));
  if (!offset || !size || *offset > SIZE_MAX - *size) return std::nullopt;
  Part p;
  if (kind == "H") {
    p.header_offset = *offset;
    p.header_size = *size;
    return std::pair{std::move(p), true};
  }
  if (kind != "T") return std::nullopt;
  std::string_view encoding = take(line);
  std::string_view subtype = take(line);
  std::string_view charset = take(line, true);
  if (!is_segment_token(encoding) || !is_segment_token(subtype) || charset.empty())
    return std::nullopt;
  p.type = "TEXT";
  p.subtype = std::string(subtype);
  if (encoding != "-") p.encoding = std::string(encoding);
  p.params.emplace_back("CHARSET", std::string(charset));
  p.content_offset = *offset;
  p.content_size = *size;
  return std::pair{std::move(p), false};
}

}  // namespace

// The bytes read (or mapped), the segments' parts with offsets into them,
// and the matcher over both; or a parsed message and its matcher.
struct SearchBody::Rep {
  std::string owned;
  void* map = nullptr;
  size_t map_size = 0;
  std::vector<Part> parts;
  std::optional<Message> message;
  std::optional<SegmentMatcher> matcher;

  ~Rep() {
    if (map) munmap(map, map_size);
  }
};

SearchBody::SearchBody(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
SearchBody::SearchBody(SearchBody&&) noexcept = default;
SearchBody& SearchBody::operator=(SearchBody&&) noexcept = default;
SearchBody::~SearchBody() = default;

Result<SearchBody> SearchBody::open(const std::string& path, std::string_view segments) {
  if (segments.substr(0, 2) != "S\n") {
    return Status(Code::kInvalidArgument, "no text segments for " + path);
  }
  auto rep = std::make_unique<Rep>();
  std::vector<bool> header;
  size_t lo = SIZE_MAX, hi = 0;
  for (size_t at = 2; at < segments.size();) {
    size_t nl = segments.find('\n', at);
    if (nl == std::string_view::npos) {
      return Status(Code::kInvalidArgument, "text segments of " + path + " not ended");
    }
    auto seg = parse_segment(segments.substr(at, nl - at));
    if (!seg) return Status(Code::kInvalidArgument, "bad text segment for " + path);
    const Part& p = seg->first;
    size_t begin = seg->second ? p.header_offset : p.content_offset;
    size_t end = begin + (seg->second ? p.header_size : p.content_size);
    lo = std::min(lo, begin);
    hi = std::max(hi, end);
    rep->parts.push_back(std::move(seg->first));
    header.push_back(seg->second);
    at = nl + 1;
  }
  std::string_view bytes;
  if (hi > lo) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno_status("open", path);
    auto shorter = [&] {
      ::close(fd);
      return Status(Code::kIoError, path + " is shorter than its text segments");
    };
    if (hi - lo <= kReadLimit) {
      // Only the segments' range is read; offsets are then from `lo`. A
      // file that ends before `hi` shows as a read that returns nothing.
      rep->owned.resize(hi - lo);
      size_t got = 0;
      while (got < rep->owned.size()) {
        ssize_t n = ::pread(fd, rep->owned.data() + got, rep->owned.size() - got,
                            static_cast<off_t>(lo + got));
        if (n < 0 && errno == EINTR) continue;
        if (n == 0) return shorter();
        if (n < 0) {
          int err = errno;
          ::close(fd);
          return Status(Code::kIoError, "read " + path + ": " + std::strerror(err));
        }
        got += static_cast<size_t>(n);
      }
      bytes = rep->owned;
    } else {
      // A mapping past the end of the file would fault when read.
      struct stat st;
      if (fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) < hi) return shorter();
      void* m = mmap(nullptr, hi, PROT_READ, MAP_PRIVATE, fd, 0);
      if (m == MAP_FAILED) {
        int err = errno;
        ::close(fd);
        return Status(Code::kIoError, "mmap " + path + ": " + std::strerror(err));
      }
      rep->map = m;
      rep->map_size = hi;
      bytes = std::string_view(static_cast<const char*>(m), hi);
    }
    ::close(fd);
  }
  std::vector<BodySegment> list;
  for (size_t i = 0; i < rep->parts.size(); ++i) {
    // Offsets into what was read (or, all segments empty, nothing) are from `lo`.
    if (!rep->map) (header[i] ? rep->parts[i].header_offset : rep->parts[i].content_offset) -= lo;
    list.push_back({&rep->parts[i], header[i]});
  }
  rep->matcher.emplace(bytes, std::move(list));
  return SearchBody(std::move(rep));
}

SearchBody SearchBody::of(Message msg) {
  auto rep = std::make_unique<Rep>();
  rep->message.emplace(std::move(msg));
  std::vector<BodySegment> list;
  list_body_segments(rep->message->root(), list);
  rep->matcher.emplace(rep->message->bytes(), std::move(list));
  return SearchBody(std::move(rep));
}

bool SearchBody::matches(std::string_view needle) const { return rep_->matcher->matches(needle); }

// Here rather than in message.cc, so that parsing a message does not link
// the body search and GMime with it (mime/message_rep.h).
bool Message::body_matches(std::string_view needle) const {
  std::call_once(rep_->matcher_once, [this] {
    std::vector<BodySegment> segments;
    list_body_segments(rep_->root, segments);
    rep_->matcher.emplace(rep_->bytes, std::move(segments));
  });
  return rep_->matcher->matches(needle);
}

}  // namespace replimail::mime
