#include "sync/upload.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/fs.h"
#include "os/env.h"

namespace replimail::sync {

struct UploadFile::Hasher {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Hasher() { EVP_MD_CTX_free(ctx); }
};

Result<std::unique_ptr<UploadFile>> UploadFile::create(const std::string& path) {
  return open_file(path, O_TRUNC);
}

Result<std::unique_ptr<UploadFile>> UploadFile::create_new(const std::string& path) {
  return open_file(path, O_EXCL);
}

Result<std::unique_ptr<UploadFile>> UploadFile::open_file(const std::string& path, int flags) {
  int fd = os::env().open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0640);
  if (fd < 0) {
    if (errno == EEXIST && (flags & O_EXCL) != 0) return std::unique_ptr<UploadFile>();
    return errno_status(path);
  }
  std::unique_ptr<UploadFile> f(new UploadFile(fd, path));
  if (f->hasher_->ctx == nullptr || EVP_DigestInit_ex(f->hasher_->ctx, EVP_sha1(), nullptr) != 1)
    return Status(Code::kInternal, "SHA-1 init failed");
  return f;
}

UploadFile::UploadFile(int fd, std::string path)
    : fd_(fd), path_(std::move(path)), hasher_(std::make_unique<Hasher>()) {}

UploadFile::~UploadFile() {
  if (fd_ >= 0) os::env().close(fd_);
  if (!kept_) os::env().unlink(path_);
}

Status UploadFile::write(std::string_view bytes) {
  if (finished_ || fd_ < 0) return Status(Code::kInternal, "write to a finished upload");
  Status s = fs::write_all(fd_, bytes, path_);
  if (!s) return s;
  EVP_DigestUpdate(hasher_->ctx, bytes.data(), bytes.size());
  size_ += bytes.size();
  return Status::success();
}

Status UploadFile::finish() {
  if (finished_ || fd_ < 0) return Status(Code::kInternal, "upload finished twice");
  int fd = fd_;
  fd_ = -1;
  // No writeback is started here: the syncfs() of the whole command (group
  // commit) leaves it to the kernel's flusher threads, on another core. A
  // sync_file_range() per file ran on this one, the initial sync's
  // bottleneck: ~8 % of its time (docs/PERFORMANCE.md, "Initial sync: the
  // replica's CPU").
  if (os::env().close(fd) != 0) return errno_status(path_);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  bool done = EVP_DigestFinal_ex(hasher_->ctx, md, &n) == 1;
  hasher_.reset();
  if (!done) return Status(Code::kInternal, "SHA-1 final failed");
  static const char* hex = "0123456789abcdef";
  guid_.clear();
  for (unsigned int i = 0; i < n; i++) {
    guid_ += hex[md[i] >> 4];
    guid_ += hex[md[i] & 15];
  }
  finished_ = true;
  return Status::success();
}

Status sync_filesystem(const std::string& dir) {
  int fd = os::env().open_dir(dir);
  if (fd < 0) return errno_status(dir);
  int rc = os::env().syncfs(fd);
  int err = errno;
  os::env().close(fd);
  if (rc != 0) {
    errno = err;
    return errno_status("syncfs " + dir);
  }
  return Status::success();
}

}  // namespace replimail::sync
