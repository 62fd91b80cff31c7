#include "store/duplicate.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/ascii.h"
#include "store/sqlite_db.h"

namespace replimail::store {
namespace {

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS delivered (id TEXT NOT NULL, mailbox TEXT NOT NULL,"
    " mark INTEGER NOT NULL, PRIMARY KEY (id, mailbox));"
    "CREATE INDEX IF NOT EXISTS delivered_mark ON delivered(mark);";

// One header field of `header` starting at `pos`: its name and raw value
// (folds kept); `pos` moves past it. False at the end of the header.
bool next_field(std::string_view header, size_t& pos, std::string_view& name,
                std::string_view& value) {
  while (pos < header.size()) {
    size_t eol = header.find('\n', pos);
    size_t end = eol == std::string_view::npos ? header.size() : eol + 1;
    // A field continues while the next line starts with a blank.
    while (end < header.size() && (header[end] == ' ' || header[end] == '\t')) {
      size_t more = header.find('\n', end);
      end = more == std::string_view::npos ? header.size() : more + 1;
    }
    std::string_view field = header.substr(pos, end - pos);
    pos = end;
    if (field == "\r\n" || field == "\n") return false;  // the blank line
    size_t colon = field.find(':');
    if (colon == std::string_view::npos) continue;  // not a field: skipped
    name = field.substr(0, colon);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    value = field.substr(colon + 1);
    return true;
  }
  return false;
}

// `raw` unfolded (CR and LF dropped) and trimmed of blanks.
std::string clean_value(std::string_view raw) {
  std::string v;
  for (char c : raw)
    if (c != '\r' && c != '\n') v += c;
  size_t b = v.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = v.find_last_not_of(" \t");
  return v.substr(b, e - b + 1);
}

}  // namespace

std::optional<std::string> delivery_message_id(std::string_view header) {
  std::optional<std::string> message_id, resent;
  size_t pos = 0;
  std::string_view name, value;
  while (next_field(header, pos, name, value)) {
    if (!resent && iequals(name, "Resent-Message-ID")) {
      std::string v = clean_value(value);
      if (!v.empty()) resent = std::move(v);
    } else if (!message_id && iequals(name, "Message-ID")) {
      std::string v = clean_value(value);
      if (!v.empty()) message_id = std::move(v);
    }
  }
  return resent ? resent : message_id;
}

Result<std::optional<std::string>> delivery_message_id_of_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status(Code::kIoError, "open " + path + ": " + std::strerror(errno));
  std::string head;
  char buf[16384];
  while (head.size() < kMaxHeaderScan) {
    ssize_t n = ::read(fd, buf, std::min(sizeof(buf), kMaxHeaderScan - head.size()));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return Status(Code::kIoError, "read " + path + ": " + std::strerror(err));
    }
    if (n == 0) break;
    head.append(buf, static_cast<size_t>(n));
    if (head.find("\n\r\n") != std::string::npos || head.find("\n\n") != std::string::npos) break;
  }
  ::close(fd);
  return delivery_message_id(head);
}

std::string DuplicateDb::path_for(const Config& cfg) {
  std::string p = cfg.get("duplicate_db_path");
  return p.empty() ? cfg.configdirectory() + "/deliver.db" : p;
}

DuplicateDb::DuplicateDb(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}
DuplicateDb::~DuplicateDb() = default;

Result<std::unique_ptr<DuplicateDb>> DuplicateDb::open(const std::string& path) {
  auto db = SqliteDb::open(path);
  if (!db.ok()) return db.status();
  if (Status s = (*db)->exec(kSchema); !s) return s;
  // See the header: the rows ride the WAL without an fsync of their own.
  if (Status s = (*db)->exec("PRAGMA synchronous=NORMAL;"); !s) return s;
  return std::unique_ptr<DuplicateDb>(new DuplicateDb(std::move(*db)));
}

Result<std::optional<int64_t>> DuplicateDb::check(const DuplicateKey& key) {
  auto st = db_->prepare("SELECT mark FROM delivered WHERE id = ? AND mailbox = ?");
  if (!st.ok()) return st.status();
  st->bind(1, key.id).bind(2, key.mailbox);
  auto row = st->step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<int64_t>();
  return std::optional<int64_t>(st->int64(0));
}

Status DuplicateDb::mark(const std::vector<DuplicateKey>& keys, int64_t now) {
  if (keys.empty()) return Status::success();
  if (Status s = db_->begin_immediate(); !s) return s;
  for (const auto& k : keys) {
    auto st = db_->prepare("INSERT OR REPLACE INTO delivered (id, mailbox, mark) VALUES (?, ?, ?)");
    if (!st.ok()) {
      db_->rollback();
      return st.status();
    }
    if (Status s = st->bind(1, k.id).bind(2, k.mailbox).bind(3, now).run(); !s) {
      db_->rollback();
      return s;
    }
  }
  return db_->commit();
}

Result<int64_t> DuplicateDb::expire(int64_t before) {
  if (Status s = db_->begin_immediate(); !s) return s;
  auto st = db_->prepare("DELETE FROM delivered WHERE mark < ?");
  if (!st.ok()) {
    db_->rollback();
    return st.status();
  }
  if (Status s = st->bind(1, before).run(); !s) {
    db_->rollback();
    return s;
  }
  int64_t n = db_->changes();
  if (Status s = db_->commit(); !s) return s;
  return n;
}

Result<int64_t> DuplicateDb::count() {
  auto st = db_->prepare("SELECT count(*) FROM delivered");
  if (!st.ok()) return st.status();
  auto row = st->step();
  if (!row.ok()) return row.status();
  return *row ? st->int64(0) : 0;
}

}  // namespace replimail::store
