#include "mime/message.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "mime/imap_format.h"
#include "mime/structure.h"

namespace replimail::mime {

// The bytes (a read-only mapping or an owned string) and the parsed tree.
struct Message::Rep {
  std::string owned;
  void* map = nullptr;
  size_t map_size = 0;
  std::string_view bytes;
  Part root;
  std::once_flag folded_body_once;
  std::string folded_body;

  ~Rep() {
    if (map) munmap(map, map_size);
  }
};

Message::Message(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
Message::Message(Message&&) noexcept = default;
Message& Message::operator=(Message&&) noexcept = default;
Message::~Message() = default;

Result<Message> Message::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status(Code::kIoError, "open " + path + ": " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return Status(Code::kIoError, "fstat " + path + ": " + std::strerror(err));
  }
  auto rep = std::make_unique<Rep>();
  if (st.st_size > 0) {
    void* m = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      return Status(Code::kIoError, "mmap " + path + ": " + std::strerror(err));
    }
    rep->map = m;
    rep->map_size = static_cast<size_t>(st.st_size);
    rep->bytes = std::string_view(static_cast<const char*>(m), rep->map_size);
  }
  ::close(fd);
  rep->root = parse_structure(rep->bytes);
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

const std::string& Message::folded_body() const {
  std::call_once(rep_->folded_body_once, [this] { rep_->folded_body = search_fold(body_text()); });
  return rep_->folded_body;
}

}  // namespace replimail::mime
