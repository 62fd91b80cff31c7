#include "sync/sieve.h"

#include <fcntl.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "common/fs.h"
#include "os/env.h"

namespace replimail::sync {
namespace {

namespace stdfs = std::filesystem;

constexpr std::string_view kScript = ".script";
constexpr std::string_view kBytecode = ".bc";
constexpr std::string_view kDefault = "defaultbc";

// Cyrus's dir_hash_c without fulldirhash: the first letter, lower case.
char hash_char(std::string_view name) {
  unsigned char c = name.empty() ? 'q' : static_cast<unsigned char>(name[0]);
  return std::isalpha(c) ? static_cast<char>(std::tolower(c)) : 'q';
}

bool valid_component(std::string_view s) {
  return !s.empty() && s.front() != '.' && s.find('/') == std::string_view::npos &&
         s.find('\0') == std::string_view::npos;
}

Status bad_name(std::string_view what, std::string_view name) {
  return Status(Code::kProtocolBadParameters,
                std::string(what) + " is not a valid name: " + std::string(name));
}

std::string sha1_hex(std::string_view data) {
  unsigned char md[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : md) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() > tail.size() && s.substr(s.size() - tail.size()) == tail;
}

// The script an active "defaultbc" link names ("" if none).
std::string active_script(const std::string& dir) {
  std::error_code ec;
  stdfs::path target = stdfs::read_symlink(dir + "/" + std::string(kDefault), ec);
  if (ec) return "";
  std::string t = target.filename().string();
  if (!ends_with(t, kBytecode)) return "";
  return t.substr(0, t.size() - kBytecode.size());
}

}  // namespace

SieveStore::SieveStore(const Config& config) {
  root_ = config.get("sievedir");
  if (root_.empty()) root_ = config.configdirectory() + "/sieve";
}

Result<std::string> SieveStore::user_dir(std::string_view userid) const {
  size_t at = userid.find('@');
  std::string_view local = userid.substr(0, at);
  if (!valid_component(local)) return bad_name("userid", userid);
  std::string dir = root_;
  if (at != std::string_view::npos) {
    std::string_view domain = userid.substr(at + 1);
    if (!valid_component(domain)) return bad_name("userid", userid);
    dir += "/domain/" + std::string(1, hash_char(domain)) + "/" + std::string(domain);
  }
  return dir + "/" + std::string(1, hash_char(local)) + "/" + std::string(local);
}

Result<std::vector<SieveItem>> SieveStore::list(std::string_view userid) const {
  auto dir = user_dir(userid);
  if (!dir.ok()) return dir.status();
  std::vector<SieveItem> out;
  std::error_code ec;
  if (!stdfs::is_directory(*dir, ec)) return out;
  std::string active = active_script(*dir);
  for (const auto& e : stdfs::directory_iterator(*dir, ec)) {
    std::string name = e.path().filename().string();
    if (!ends_with(name, kScript) || !e.is_regular_file()) continue;
    auto content = fs::read_file(e.path().string());
    if (!content.ok()) return content.status();
    struct stat st {};
    if (::stat(e.path().c_str(), &st) != 0) return errno_status(e.path().string());
    SieveItem item{name, static_cast<int64_t>(st.st_mtime), sha1_hex(*content), false};
    out.push_back(item);
    std::string base = name.substr(0, name.size() - kScript.size());
    if (base == active) {
      item.filename = base + std::string(kBytecode);
      item.guid = std::string(40, '0');
      item.active = true;
      out.push_back(item);
    }
  }
  if (ec) return Status(Code::kIoError, *dir + ": " + ec.message());
  std::sort(out.begin(), out.end(),
            [](const SieveItem& a, const SieveItem& b) { return a.filename < b.filename; });
  return out;
}

Status SieveStore::put(std::string_view userid, std::string_view filename, int64_t last_update,
                       std::string_view content) {
  if (!valid_component(filename)) return bad_name("sieve script", filename);
  if (!ends_with(filename, kScript)) return Status::success();
  auto dir = user_dir(userid);
  if (!dir.ok()) return dir.status();
  Status s = fs::make_dirs(*dir, 0700);
  if (!s) return s;
  std::string path = *dir + "/" + std::string(filename);
  s = fs::write_file_atomic(path, content, 0600);
  if (!s) return s;
  struct timespec times[2];
  times[0].tv_sec = times[1].tv_sec = static_cast<time_t>(last_update);
  times[0].tv_nsec = times[1].tv_nsec = 0;
  if (::utimensat(AT_FDCWD, path.c_str(), times, 0) != 0) return errno_status(path);
  return Status::success();
}

Status SieveStore::remove(std::string_view userid, std::string_view filename) {
  if (!valid_component(filename)) return bad_name("sieve script", filename);
  auto dir = user_dir(userid);
  if (!dir.ok()) return dir.status();
  if (ends_with(filename, kScript)) {
    std::string base(filename.substr(0, filename.size() - kScript.size()));
    if (active_script(*dir) == base) {
      Status s = deactivate(userid);
      if (!s) return s;
    }
  }
  Status s = fs::remove_file(*dir + "/" + std::string(filename));
  if (!s) return s;
  return fs::exists(*dir) ? fs::fsync_dir(*dir) : Status::success();
}

Status SieveStore::activate(std::string_view userid, std::string_view bcname) {
  if (!valid_component(bcname) || !ends_with(bcname, kBytecode))
    return bad_name("sieve bytecode", bcname);
  auto dir = user_dir(userid);
  if (!dir.ok()) return dir.status();
  std::string base(bcname.substr(0, bcname.size() - kBytecode.size()));
  if (!fs::exists(*dir + "/" + base + std::string(kScript)))
    return Status(Code::kMailboxNonexistent, "no sieve script " + base);
  // A new link renamed over the old one: the switch is atomic.
  std::string tmp = *dir + "/" + std::string(kDefault) + ".NEW";
  os::env().unlink(tmp);
  if (os::env().symlink(std::string(bcname), tmp) != 0) return errno_status(tmp);
  std::string link = *dir + "/" + std::string(kDefault);
  if (os::env().rename(tmp, link) != 0) return errno_status(link);
  return fs::fsync_dir(*dir);
}

Status SieveStore::deactivate(std::string_view userid) {
  auto dir = user_dir(userid);
  if (!dir.ok()) return dir.status();
  std::string link = *dir + "/" + std::string(kDefault);
  if (os::env().unlink(link) != 0) {
    if (errno == ENOENT) return Status::success();
    return errno_status(link);
  }
  return fs::fsync_dir(*dir);
}

Status SieveStore::remove_user(std::string_view userid) {
  auto dir = user_dir(userid);
  if (!dir.ok()) return dir.status();
  std::error_code ec;
  stdfs::remove_all(*dir, ec);
  if (ec) return Status(Code::kIoError, *dir + ": " + ec.message());
  return Status::success();
}

}  // namespace replimail::sync
