#include "store/staged_message.h"

#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "common/fs.h"
#include "os/env.h"
#include "store/mboxlist.h"

namespace replimail::store {

struct StagedMessage::Hasher {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Hasher() { EVP_MD_CTX_free(ctx); }
};

StagedMessage::StagedMessage(int fd, std::string path, std::string partition)
    : fd_(fd), path_(std::move(path)), partition_(std::move(partition)) {}

StagedMessage::~StagedMessage() {
  if (fd_ >= 0) os::env().close(fd_);
  os::env().unlink(path_);
}

Result<std::unique_ptr<StagedMessage>> StagedMessage::create(const std::string& stage_dir,
                                                             const std::string& partition) {
  static std::atomic<uint64_t> counter{0};
  // Drawn once per process: a file a crashed process with the same PID left
  // behind cannot collide with ours.
  static const std::string tag = make_uniqueid().substr(0, 8);
  // "<pid>-<n>-<tag>": the PID lets check_staging() tell stale files.
  std::string path = fmt::format("{}/{}-{}-{}", stage_dir, ::getpid(), counter++, tag);
  constexpr int kFlags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
  int fd = os::env().open(path, kFlags, 0640);
  if (fd < 0 && errno == ENOENT) {
    // The staging directory is made on first use.
    Status s = fs::make_dirs(stage_dir, 0750);
    if (!s) return s;
    fd = os::env().open(path, kFlags, 0640);
  }
  if (fd < 0) return errno_status("create staging file", path);
  std::unique_ptr<StagedMessage> msg(new StagedMessage(fd, path, partition));
  msg->hasher_ = std::make_unique<Hasher>();
  if (msg->hasher_->ctx == nullptr ||
      EVP_DigestInit_ex(msg->hasher_->ctx, EVP_sha1(), nullptr) != 1)
    return Status(Code::kInternal, "SHA-1 initialisation failed");
  return msg;
}

Status StagedMessage::write(std::string_view bytes) {
  if (finished_ || fd_ < 0) return Status(Code::kInternal, "write to a finished staged message");
  Status s = fs::write_all(fd_, bytes, path_);
  if (!s) return s;
  EVP_DigestUpdate(hasher_->ctx, bytes.data(), bytes.size());
  size_ += bytes.size();
  return Status::success();
}

Status StagedMessage::truncate() {
  if (finished_ || fd_ < 0) return Status(Code::kInternal, "truncate a finished staged message");
  if (os::env().ftruncate(fd_, 0) != 0 || ::lseek(fd_, 0, SEEK_SET) != 0)
    return errno_status("truncate", path_);
  EVP_DigestInit_ex(hasher_->ctx, EVP_sha1(), nullptr);
  size_ = 0;
  return Status::success();
}

Status StagedMessage::finish(Durability durability) {
  if (finished_ || fd_ < 0) return Status(Code::kInternal, "staged message finished twice");
  if (durability == Durability::kFsyncNow) {
    Status s = fs::fsync_fd(fd_, path_);
    int fd = fd_;
    fd_ = -1;
    if (os::env().close(fd) != 0 && s) s = errno_status("close", path_);
    if (!s) return s;
    durable_ = true;
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(hasher_->ctx, md, &len);
  guid_.clear();
  for (unsigned int i = 0; i < len; i++) guid_ += fmt::format("{:02x}", md[i]);
  finished_ = true;
  return Status::success();
}

Status StagedMessage::make_durable() const {
  if (!finished_) return Status(Code::kInternal, "make_durable of an unfinished staged message");
  if (durable_) return Status::success();
  if (synced_once_) return sync_status_;
  synced_once_ = true;
  sync_status_ = fd_ >= 0 ? fs::fsync_fd(fd_, path_)
                          : Status(Code::kInternal, "staged message has no descriptor");
  if (sync_status_) durable_ = true;
  return sync_status_;
}

namespace {

std::string hex_digest(const unsigned char* md, unsigned int len) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(2 * len);
  for (unsigned int i = 0; i < len; i++) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

}  // namespace

Status read_checked(const std::string& path, const std::string& guid, uint64_t size,
                    uint64_t max_in_memory, std::string* bytes) {
  bytes->clear();
  if (size > max_in_memory)
    return Status(Code::kMessageTooLarge, path + ": " + std::to_string(size) + " bytes");
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_status("open", path);
  // One byte more than the record says, to see a file that grew.
  bytes->resize(static_cast<size_t>(size) + 1);
  size_t got = 0;
  Status s;
  while (got < bytes->size()) {
    ssize_t n = ::read(fd, bytes->data() + got, bytes->size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) s = errno_status("read", path);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  bytes->resize(got);
  if (!s) return s;
  if (got != size)
    return Status(Code::kSyncChecksum,
                  fmt::format("{}: {} bytes, its record says {}", path, got, size));
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes->data(), bytes->size(), md, &len, EVP_sha1(), nullptr) != 1)
    return Status(Code::kInternal, "SHA-1 failed");
  if (hex_digest(md, len) != guid)
    return Status(Code::kSyncChecksum, path + ": its SHA-1 is not the record's GUID " + guid);
  return Status::success();
}

Result<FileDigest> digest_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_status("open", path);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha1(), nullptr);
  FileDigest out;
  char buf[65536];
  Status s;
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) s = errno_status("read", path);
    if (n <= 0) break;
    EVP_DigestUpdate(ctx, buf, static_cast<size_t>(n));
    out.size += static_cast<uint64_t>(n);
  }
  ::close(fd);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  if (!s) return s;
  out.guid = hex_digest(md, len);
  return out;
}

Status stage_copy_from_fd(StagedMessage& msg, int src_fd) {
  char buf[65536];
  while (true) {
    ssize_t n = ::read(src_fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_status("read", msg.path());
    }
    if (n == 0) return Status::success();
    Status s = msg.write(std::string_view(buf, static_cast<size_t>(n)));
    if (!s) return s;
  }
}

}  // namespace replimail::store
