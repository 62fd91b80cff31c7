#include "synclog/journal.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "common/fs.h"
#include "os/env.h"

namespace replimail::synclog {

namespace {

constexpr std::string_view kMagic = "RJ1\n";
constexpr size_t kHeader = 4 + 4 + 4;
// No entry is near this: a request is refused above kMaxRequest (logd.h),
// so a larger length can only be garbage.
constexpr uint32_t kMaxPayload = 64u << 20;

std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0x82F63B78u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t get_u32(std::string_view in) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

// The payload: the channel count, each channel on its own line, the lines.
bool decode_payload(std::string_view p, JournalEntry& out) {
  size_t nl = p.find('\n');
  if (nl == std::string_view::npos || nl == 0 || nl > 6) return false;
  size_t n = 0;
  for (char c : p.substr(0, nl)) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<size_t>(c - '0');
  }
  p.remove_prefix(nl + 1);
  for (size_t i = 0; i < n; ++i) {
    nl = p.find('\n');
    if (nl == std::string_view::npos) return false;
    out.channels.emplace_back(p.substr(0, nl));
    p.remove_prefix(nl + 1);
  }
  out.lines = std::string(p);
  return true;
}

}  // namespace

uint32_t crc32c(std::string_view data) {
  static const std::array<uint32_t, 256> table = make_table();
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : data) c = table[(c ^ b) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::string encode_record(const JournalEntry& entry) {
  std::string payload = std::to_string(entry.channels.size()) + "\n";
  for (const auto& c : entry.channels) payload += c + "\n";
  payload += entry.lines;
  std::string out(kMagic);
  put_u32(out, static_cast<uint32_t>(payload.size()));
  put_u32(out, crc32c(payload));
  out += payload;
  return out;
}

ParsedJournal parse_journal(std::string_view data) {
  ParsedJournal out;
  size_t pos = 0;
  while (pos < data.size()) {
    std::string_view rest = data.substr(pos);
    if (rest.size() < kHeader || rest.substr(0, kMagic.size()) != kMagic) break;
    uint32_t len = get_u32(rest.substr(4));
    uint32_t crc = get_u32(rest.substr(8));
    if (len > kMaxPayload || rest.size() - kHeader < len) break;
    std::string_view payload = rest.substr(kHeader, len);
    if (crc32c(payload) != crc) break;
    JournalEntry e;
    if (!decode_payload(payload, e)) break;
    out.entries.push_back(std::move(e));
    pos += kHeader + len;
  }
  out.valid_bytes = pos;
  out.torn = pos < data.size();
  return out;
}

Journal::~Journal() {
  if (fd_ >= 0) os::env().close(fd_);
}

Result<std::vector<JournalEntry>> Journal::open(const std::string& path) {
  path_ = path;
  std::string dir = fs::dirname(path);
  bool made = !fs::exists(dir);
  if (Status s = fs::make_dirs(dir, 0755); !s) return s;
  if (made) {
    if (Status s = fs::fsync_dir(fs::dirname(dir)); !s) return s;
  }
  bool existed = fs::exists(path);
  fd_ = os::env().open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) return errno_status("open " + path);
  if (!existed) {
    if (Status s = fs::fsync_dir(dir); !s) return s;
  }
  auto data = fs::read_file(path);
  if (!data.ok()) return data.status();
  ParsedJournal parsed = parse_journal(*data);
  if (parsed.torn) {
    spdlog::warn("sync_logd: {}: dropping a torn tail of {} bytes after {} intact entries", path,
                 data->size() - parsed.valid_bytes, parsed.entries.size());
    if (os::env().ftruncate(fd_, static_cast<off_t>(parsed.valid_bytes)) < 0)
      return errno_status("truncate " + path);
    if (Status s = fs::fsync_fd(fd_, path); !s) return s;
  }
  size_ = parsed.valid_bytes;
  return std::move(parsed.entries);
}

Status Journal::append(std::string_view records) {
  if (failed_) return Status(Code::kIoError, "journal " + path_ + " failed earlier");
  Status s = fs::write_all(fd_, records, path_);
  if (s) {
    if (os::env().fdatasync(fd_) < 0) s = errno_status("fdatasync " + path_);
  }
  if (!s) {
    failed_ = true;
    return s;
  }
  size_ += records.size();
  return Status::success();
}

Status Journal::clear() {
  if (failed_) return Status(Code::kIoError, "journal " + path_ + " failed earlier");
  // Not flushed here: the next append's fdatasync makes the new length
  // durable, and a crash before it only brings back entries that are in
  // their channel logs already (replay is idempotent).
  if (os::env().ftruncate(fd_, 0) < 0) {
    failed_ = true;
    return errno_status("truncate " + path_);
  }
  size_ = 0;
  return Status::success();
}

Status Journal::rewrite(std::string_view records) {
  if (failed_) return Status(Code::kIoError, "journal " + path_ + " failed earlier");
  if (Status s = fs::write_file_atomic(path_, records, 0600); !s) return s;
  int fd = os::env().open(path_, O_RDWR | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    failed_ = true;
    return errno_status("open " + path_);
  }
  os::env().close(fd_);
  fd_ = fd;
  size_ = records.size();
  return Status::success();
}

}  // namespace replimail::synclog
