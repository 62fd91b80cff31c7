#include "mime/message.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "mime/imap_format.h"
#include "mime/message_rep.h"
#include "mime/structure.h"

namespace replimail::mime {

Message::Message(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
Message::Message(Message&&) noexcept = default;
Message& Message::operator=(Message&&) noexcept = default;
Message::~Message() = default;

namespace {
constexpr size_t kReadLimit = 256 * 1024;
}  // namespace

Result<Message> Message::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_status("open", path);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return Status(Code::kIoError, "fstat " + path + ": " + std::strerror(err));
  }
  auto rep = std::make_unique<Rep>();
  const auto size = static_cast<size_t>(st.st_size);
  if (size > 0 && size <= kReadLimit) {
    // Small files are read: a mapping costs more (mmap, page faults,
    // munmap with its TLB flush) than copying a few pages.
    rep->owned.resize(size);
    size_t got = 0;
    while (got < size) {
      ssize_t n = ::read(fd, rep->owned.data() + got, size - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        ::close(fd);
        return Status(Code::kIoError, "read " + path + ": " + std::strerror(err));
      }
      if (n == 0) break;  // shrank meanwhile: what is there
      got += static_cast<size_t>(n);
    }
    rep->owned.resize(got);
    rep->bytes = rep->owned;
  } else if (size > 0) {
    void* m = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      return Status(Code::kIoError, "mmap " + path + ": " + std::strerror(err));
    }
    rep->map = m;
    rep->map_size = size;
    rep->bytes = std::string_view(static_cast<const char*>(m), rep->map_size);
  }
  ::close(fd);
  if (!rep->map) {
    rep->root = parse_structure(rep->bytes);
    return Message(std::move(rep));
  }
  // The pages the parser has gone past are dropped from this process (the
  // file's page cache keeps them; what is read again later, a text part,
  // faults back in): a 4 MiB attachment no longer adds 4 MiB to squatter's,
  // sync_server's or imapd's resident set (issue 17).
  const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  size_t released = 0;
  rep->root = parse_structure(rep->bytes, [&](size_t consumed) {
    size_t upto = consumed / page * page;
    if (upto <= released) return;
    ::madvise(static_cast<char*>(rep->map) + released, upto - released, MADV_DONTNEED);
    released = upto;
  });
  return Message(std::move(rep));
}

Message Message::from_bytes(std::string bytes) {
  auto rep = std::make_unique<Rep>();
  rep->owned = std::move(bytes);
  rep->bytes = rep->owned;
  rep->root = parse_structure(rep->bytes);
  return Message(std::move(rep));
}

std::string_view Message::bytes() const { return rep_->bytes; }
const Part& Message::root() const { return rep_->root; }

std::string Message::envelope() const { return format_envelope(rep_->root); }
std::string Message::bodystructure() const { return format_body(rep_->root, true); }
std::string Message::body() const { return format_body(rep_->root, false); }

}  // namespace replimail::mime
