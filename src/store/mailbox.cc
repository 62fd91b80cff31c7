#include "store/mailbox.h"

#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <ctime>

#include "common/fs.h"
#include "store/sqlite_db.h"
#include "store/staged_message.h"
#include "store/sync_crc.h"
#include "synclog/synclog.h"

namespace replimail::store {
namespace {

constexpr const char* kIndexFile = "cyrus.index.db";

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS header(
  id INTEGER PRIMARY KEY CHECK (id = 1), last_uid INTEGER NOT NULL, highestmodseq INTEGER NOT NULL,
  recentuid INTEGER NOT NULL, recenttime INTEGER NOT NULL, last_appenddate INTEGER NOT NULL,
  pop3_last_login INTEGER NOT NULL, pop3_show_after INTEGER NOT NULL,
  uidvalidity INTEGER NOT NULL, options TEXT NOT NULL, sync_crc INTEGER NOT NULL,
  sync_crc_annot INTEGER NOT NULL, exists_count INTEGER NOT NULL, quota_used INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS records(
  uid INTEGER PRIMARY KEY, modseq INTEGER NOT NULL, last_updated INTEGER NOT NULL,
  system_flags INTEGER NOT NULL, user_flags TEXT NOT NULL, internaldate INTEGER NOT NULL,
  size INTEGER NOT NULL, guid TEXT NOT NULL, savedate INTEGER NOT NULL,
  createdmodseq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS records_modseq ON records(modseq);
CREATE TABLE IF NOT EXISTS flag_slots(slot INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS annotations(
  uid INTEGER NOT NULL, entry TEXT NOT NULL, userid TEXT NOT NULL, value TEXT NOT NULL,
  modseq INTEGER NOT NULL, PRIMARY KEY (uid, entry, userid));
)";

constexpr const char* kRecordColumns =
    "uid, modseq, last_updated, system_flags, user_flags, internaldate, size, guid, savedate, "
    "createdmodseq";

Status io_error(std::string_view what, const std::string& path) {
  return Status(Code::kIoError, fmt::format("{} {}: {}", what, path, std::strerror(errno)));
}

std::vector<std::string> split_flags(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t sp = s.find(' ', pos);
    if (sp == std::string::npos) sp = s.size();
    if (sp > pos) out.push_back(s.substr(pos, sp - pos));
    pos = sp + 1;
  }
  return out;
}

std::string join_flags(const std::vector<std::string>& flags) {
  std::string out;
  for (const auto& f : flags) {
    if (!out.empty()) out += ' ';
    out += f;
  }
  return out;
}

IndexRecord read_record(const SqliteStmt& st) {
  IndexRecord r;
  r.uid = static_cast<uint32_t>(st.int64(0));
  r.modseq = static_cast<uint64_t>(st.int64(1));
  r.last_updated = st.int64(2);
  r.system_flags = static_cast<uint32_t>(st.int64(3));
  r.user_flags = split_flags(st.text(4));
  r.internaldate = st.int64(5);
  r.size = static_cast<uint64_t>(st.int64(6));
  r.guid = st.text(7);
  r.savedate = st.int64(8);
  r.createdmodseq = static_cast<uint64_t>(st.int64(9));
  return r;
}

Result<MailboxCounters> read_counters(SqliteDb& db) {
  auto st = db.prepare(
      "SELECT last_uid, highestmodseq, recentuid, recenttime, last_appenddate, pop3_last_login, "
      "pop3_show_after, uidvalidity, options, sync_crc, sync_crc_annot, exists_count, quota_used "
      "FROM header WHERE id = 1");
  if (!st.ok()) return st.status();
  auto row = st->step();
  if (!row.ok()) return row.status();
  if (!*row) return Status(Code::kIoError, fmt::format("{}: index header missing", db.path()));
  MailboxCounters c;
  c.last_uid = static_cast<uint32_t>(st->int64(0));
  c.highestmodseq = static_cast<uint64_t>(st->int64(1));
  c.recentuid = static_cast<uint32_t>(st->int64(2));
  c.recenttime = st->int64(3);
  c.last_appenddate = st->int64(4);
  c.pop3_last_login = st->int64(5);
  c.pop3_show_after = st->int64(6);
  c.uidvalidity = static_cast<uint32_t>(st->int64(7));
  c.options = st->text(8);
  c.sync_crc = static_cast<uint32_t>(st->int64(9));
  c.sync_crc_annot = static_cast<uint32_t>(st->int64(10));
  c.exists = static_cast<uint64_t>(st->int64(11));
  c.quota_used = static_cast<uint64_t>(st->int64(12));
  return c;
}

Status write_counters(SqliteDb& db, const MailboxCounters& c) {
  auto st = db.prepare(
      "INSERT OR REPLACE INTO header(id, last_uid, highestmodseq, recentuid, recenttime, "
      "last_appenddate, pop3_last_login, pop3_show_after, uidvalidity, options, sync_crc, "
      "sync_crc_annot, exists_count, quota_used) VALUES(1,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  if (!st.ok()) return st.status();
  st->bind(1, int64_t{c.last_uid})
      .bind(2, static_cast<int64_t>(c.highestmodseq))
      .bind(3, int64_t{c.recentuid})
      .bind(4, c.recenttime)
      .bind(5, c.last_appenddate)
      .bind(6, c.pop3_last_login)
      .bind(7, c.pop3_show_after)
      .bind(8, int64_t{c.uidvalidity})
      .bind(9, c.options)
      .bind(10, int64_t{c.sync_crc})
      .bind(11, int64_t{c.sync_crc_annot})
      .bind(12, static_cast<int64_t>(c.exists))
      .bind(13, static_cast<int64_t>(c.quota_used));
  return st->run();
}

Result<std::vector<MessageAnnotation>> read_annotations(SqliteDb& db, uint32_t uid) {
  auto st = db.prepare(
      "SELECT entry, userid, value, modseq FROM annotations WHERE uid = ? "
      "ORDER BY entry, userid");
  if (!st.ok()) return st.status();
  st->bind(1, int64_t{uid});
  std::vector<MessageAnnotation> out;
  while (true) {
    auto row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.push_back(
        {uid, st->text(0), st->text(1), st->text(2), static_cast<uint64_t>(st->int64(3))});
  }
}

Result<std::vector<std::string>> read_slots(SqliteDb& db) {
  auto st = db.prepare("SELECT name FROM flag_slots ORDER BY slot");
  if (!st.ok()) return st.status();
  std::vector<std::string> out;
  while (true) {
    auto row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.push_back(st->text(0));
  }
}

// Copies `src` to a new file `dst` and fsyncs it (cross-partition append).
Status copy_file(const std::string& src, const std::string& dst) {
  int in = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return io_error("open", src);
  int out = ::open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (out < 0) {
    ::close(in);
    return io_error("create", dst);
  }
  Status s;
  char buf[65536];
  while (s) {
    ssize_t n = ::read(in, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) s = io_error("read", src);
    if (n <= 0) break;
    s = fs::write_all(out, std::string_view(buf, static_cast<size_t>(n)), dst);
  }
  if (s) s = fs::fsync_fd(out, dst);
  ::close(in);
  ::close(out);
  if (!s) ::unlink(dst.c_str());
  return s;
}

}  // namespace

std::string mailbox_dir(const std::string& partition_path, const std::string& uniqueid) {
  std::string u0 = uniqueid.size() > 0 ? uniqueid.substr(0, 1) : "_";
  std::string u1 = uniqueid.size() > 1 ? uniqueid.substr(1, 1) : "_";
  return fmt::format("{}/uuid/{}/{}/{}", partition_path, u0, u1, uniqueid);
}

std::string message_file(const std::string& dir, uint32_t uid) {
  return fmt::format("{}/{}.", dir, uid);
}

Mailbox::Mailbox(MailboxEntry entry, std::string dir, std::unique_ptr<SqliteDb> db,
                 synclog::SyncLog* synclog)
    : entry_(std::move(entry)), dir_(std::move(dir)), db_(std::move(db)), synclog_(synclog) {}

Mailbox::~Mailbox() = default;

Status Mailbox::create(const MailboxEntry& entry, const std::string& dir,
                       const MailboxCounters& counters) {
  Status s = fs::make_dirs(dir, 0750);
  if (!s) return s;
  auto db = SqliteDb::open(dir + "/" + kIndexFile);
  if (!db.ok()) return db.status();
  s = (*db)->exec(kSchema);
  if (!s) return s;
  s = (*db)->begin_immediate();
  if (!s) return s;
  auto existing = read_counters(**db);
  if (existing.ok() &&
      (existing->last_uid != 0 || existing->highestmodseq > counters.highestmodseq)) {
    (*db)->rollback();
    return Status(Code::kMailboxExists, fmt::format("{}: index already exists", dir));
  }
  s = write_counters(**db, counters);
  if (s) s = (*db)->commit();
  if (!s) {
    (*db)->rollback();
    return s;
  }
  return fs::fsync_dir(fs::dirname(dir));
}

Result<std::unique_ptr<Mailbox>> Mailbox::open(const MailboxEntry& entry, const std::string& dir,
                                               synclog::SyncLog* synclog) {
  std::string path = dir + "/" + kIndexFile;
  if (!fs::exists(path))
    return Status(Code::kMailboxNonexistent, fmt::format("{}: index {} missing", entry.name, path));
  auto db = SqliteDb::open(path);
  if (!db.ok()) return db.status();
  Status s = (*db)->exec(kSchema);
  if (!s) return s;
  return std::unique_ptr<Mailbox>(new Mailbox(entry, dir, std::move(*db), synclog));
}

Result<MailboxCounters> Mailbox::counters() { return read_counters(*db_); }

Result<IndexRecord> Mailbox::record(uint32_t uid) {
  auto st = db_->prepare(fmt::format("SELECT {} FROM records WHERE uid = ?", kRecordColumns));
  if (!st.ok()) return st.status();
  st->bind(1, int64_t{uid});
  auto row = st->step();
  if (!row.ok()) return row.status();
  if (!*row) return Status(Code::kNotFound, fmt::format("{}: no record uid {}", name(), uid));
  return read_record(*st);
}

Status Mailbox::for_each_record(uint64_t since_modseq,
                                const std::function<bool(const IndexRecord&)>& fn) {
  auto st = db_->prepare(
      fmt::format("SELECT {} FROM records WHERE modseq > ? ORDER BY uid", kRecordColumns));
  if (!st.ok()) return st.status();
  st->bind(1, static_cast<int64_t>(since_modseq));
  while (true) {
    auto row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::ok();
    if (!fn(read_record(*st))) return Status::ok();
  }
}

Result<std::vector<MessageAnnotation>> Mailbox::annotations(uint32_t uid) {
  return read_annotations(*db_, uid);
}

Result<std::vector<std::string>> Mailbox::user_flag_slots() { return read_slots(*db_); }

Result<int> Mailbox::open_message(uint32_t uid) const {
  std::string path = message_path(uid);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("open message", path);
  return fd;
}

Result<std::unique_ptr<MailboxTxn>> Mailbox::begin() {
  std::unique_ptr<MailboxTxn> txn(new MailboxTxn(this));
  Status s = db_->begin_immediate();
  if (!s) return s;
  txn->open_ = true;
  s = txn->load();
  if (!s) return s;
  return txn;
}

// ---- MailboxTxn ----

MailboxTxn::MailboxTxn(Mailbox* mbox) : mbox_(mbox) {}

MailboxTxn::~MailboxTxn() {
  if (!open_) return;
  mbox_->db_->rollback();
  for (const auto& f : linked_files_) ::unlink(f.c_str());
}

Status MailboxTxn::load() {
  auto c = read_counters(*mbox_->db_);
  if (!c.ok()) return c.status();
  counters_ = *c;
  auto slots = read_slots(*mbox_->db_);
  if (!slots.ok()) return slots.status();
  flag_slots_ = std::move(*slots);
  return Status::ok();
}

void MailboxTxn::set_counters(const MailboxCounters& c) {
  MailboxCounters n = c;
  n.sync_crc = counters_.sync_crc;
  n.sync_crc_annot = counters_.sync_crc_annot;
  n.exists = counters_.exists;
  n.quota_used = counters_.quota_used;
  counters_ = n;
  changed_ = true;
}

uint64_t MailboxTxn::next_modseq() {
  changed_ = true;
  return ++counters_.highestmodseq;
}

Result<IndexRecord> MailboxTxn::record(uint32_t uid) { return mbox_->record(uid); }

Status MailboxTxn::link_file(const std::string& src, uint32_t uid) {
  std::string dst = message_file(mbox_->dir_, uid);
  // We hold the mailbox write lock and `uid` is not in the index, so a file
  // already at `dst` is an orphan of a crashed append: it was never
  // acknowledged and may go.
  for (int attempt = 0; attempt < 2; attempt++) {
    if (::link(src.c_str(), dst.c_str()) == 0) {
      linked_files_.push_back(dst);
      return Status::ok();
    }
    if (errno == EEXIST) {
      ::unlink(dst.c_str());
      continue;
    }
    if (errno == EXDEV || errno == EPERM || errno == EMLINK) {
      Status s = copy_file(src, dst);
      if (s) linked_files_.push_back(dst);
      return s;
    }
    return io_error("link " + src + " to", dst);
  }
  return io_error("link", dst);
}

// Canonicalises user flags to the mailbox's slot spelling and order,
// creating slots for new flags.
static Result<std::vector<std::string>> canonical_flags(SqliteDb& db,
                                                        std::vector<std::string>& slots,
                                                        const std::vector<std::string>& flags) {
  std::vector<bool> set(slots.size(), false);
  for (const auto& f : flags) {
    if (f.empty() || f.find(' ') != std::string::npos || f[0] == '\\')
      return Status(Code::kInvalidArgument, fmt::format("invalid user flag \"{}\"", f));
    size_t i = 0;
    for (; i < slots.size(); i++)
      if (slots[i].size() == f.size() && strncasecmp(slots[i].data(), f.data(), f.size()) == 0)
        break;
    if (i == slots.size()) {
      auto st = db.prepare("INSERT INTO flag_slots(slot, name) VALUES(?, ?)");
      if (!st.ok()) return st.status();
      st->bind(1, static_cast<int64_t>(i)).bind(2, f);
      Status s = st->run();
      if (!s) return s;
      slots.push_back(f);
      set.push_back(false);
    }
    set[i] = true;
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < slots.size(); i++)
    if (set[i]) out.push_back(slots[i]);
  return out;
}

Status MailboxTxn::write_record(const IndexRecord& r, bool insert) {
  auto st = mbox_->db_->prepare(
      insert ? fmt::format("INSERT INTO records({}) VALUES(?,?,?,?,?,?,?,?,?,?)", kRecordColumns)
             : std::string("UPDATE records SET modseq=?2, last_updated=?3, system_flags=?4, "
                           "user_flags=?5, internaldate=?6, size=?7, guid=?8, savedate=?9, "
                           "createdmodseq=?10 WHERE uid=?1"));
  if (!st.ok()) return st.status();
  st->bind(1, int64_t{r.uid})
      .bind(2, static_cast<int64_t>(r.modseq))
      .bind(3, r.last_updated)
      .bind(4, int64_t{r.system_flags})
      .bind(5, join_flags(r.user_flags))
      .bind(6, r.internaldate)
      .bind(7, static_cast<int64_t>(r.size))
      .bind(8, r.guid)
      .bind(9, r.savedate)
      .bind(10, static_cast<int64_t>(r.createdmodseq));
  changed_ = true;
  return st->run();
}

Result<IndexRecord> MailboxTxn::append_new(const StagedMessage& msg, uint32_t system_flags,
                                           const std::vector<std::string>& user_flags,
                                           int64_t internaldate) {
  if (!msg.finished()) return Status(Code::kInternal, "append of an unfinished staged message");
  auto flags = canonical_flags(*mbox_->db_, flag_slots_, user_flags);
  if (!flags.ok()) return flags.status();
  int64_t now = ::time(nullptr);
  IndexRecord r;
  r.uid = counters_.last_uid + 1;
  Status s = link_file(msg.path(), r.uid);
  if (!s) return s;
  r.modseq = next_modseq();
  r.last_updated = now;
  r.system_flags = system_flags & ~kFlagExpunged;
  r.user_flags = std::move(*flags);
  r.internaldate = internaldate != 0 ? internaldate : now;
  r.size = msg.size();
  r.guid = msg.guid();
  r.savedate = now;
  r.createdmodseq = r.modseq;
  s = write_record(r, true);
  if (!s) return s;
  counters_.last_uid = r.uid;
  counters_.last_appenddate = now;
  counters_.exists++;
  counters_.quota_used += r.size;
  counters_.sync_crc ^= record_crc(r);
  counters_.sync_crc_annot ^= record_annot_crc(r, {});
  delta_messages_++;
  delta_bytes_ += static_cast<int64_t>(r.size);
  appended_ = true;
  return r;
}

Status MailboxTxn::put_record(const IndexRecord& in, const std::string& file) {
  if (in.uid == 0) return Status(Code::kInvalidArgument, "record with UID 0");
  auto flags = canonical_flags(*mbox_->db_, flag_slots_, in.user_flags);
  if (!flags.ok()) return flags.status();
  IndexRecord r = in;
  r.user_flags = std::move(*flags);
  auto annots = read_annotations(*mbox_->db_, r.uid);
  if (!annots.ok()) return annots.status();
  auto old = mbox_->record(r.uid);
  bool exists = old.ok();
  if (!exists && old.status().code() != Code::kNotFound) return old.status();
  if (exists) {
    counters_.sync_crc ^= record_crc(*old);
    counters_.sync_crc_annot ^= record_annot_crc(*old, *annots);
    if (!old->expunged()) {
      counters_.exists--;
      counters_.quota_used -= old->size;
      delta_messages_--;
      delta_bytes_ -= static_cast<int64_t>(old->size);
      if (r.expunged()) expunged_files_.push_back(message_file(mbox_->dir_, r.uid));
    }
  } else if (!file.empty()) {
    Status s = link_file(file, r.uid);
    if (!s) return s;
    appended_ = true;
  } else if (!r.expunged()) {
    return Status(
        Code::kInvalidArgument,
        fmt::format("{}: new record uid {} without a message file", mbox_->name(), r.uid));
  }
  Status s = write_record(r, !exists);
  if (!s) return s;
  if (!r.expunged()) {
    counters_.exists++;
    counters_.quota_used += r.size;
    delta_messages_++;
    delta_bytes_ += static_cast<int64_t>(r.size);
  }
  counters_.sync_crc ^= record_crc(r);
  counters_.sync_crc_annot ^= record_annot_crc(r, *annots);
  if (r.uid > counters_.last_uid) counters_.last_uid = r.uid;
  if (r.modseq > counters_.highestmodseq) counters_.highestmodseq = r.modseq;
  return Status::ok();
}

Status MailboxTxn::set_flags(uint32_t uid, uint32_t system_flags,
                             const std::vector<std::string>& user_flags) {
  auto old = mbox_->record(uid);
  if (!old.ok()) return old.status();
  if (old->expunged())
    return Status(Code::kNotFound, fmt::format("{}: uid {} is expunged", mbox_->name(), uid));
  auto flags = canonical_flags(*mbox_->db_, flag_slots_, user_flags);
  if (!flags.ok()) return flags.status();
  IndexRecord r = *old;
  r.system_flags = system_flags & ~kFlagExpunged;
  r.user_flags = std::move(*flags);
  r.modseq = next_modseq();
  r.last_updated = ::time(nullptr);
  Status s = write_record(r, false);
  if (!s) return s;
  auto annots = read_annotations(*mbox_->db_, uid);
  if (!annots.ok()) return annots.status();
  counters_.sync_crc ^= record_crc(*old) ^ record_crc(r);
  counters_.sync_crc_annot ^= record_annot_crc(*old, *annots) ^ record_annot_crc(r, *annots);
  return Status::ok();
}

Status MailboxTxn::expunge(uint32_t uid) {
  auto old = mbox_->record(uid);
  if (!old.ok()) return old.status();
  if (old->expunged()) return Status::ok();
  auto annots = read_annotations(*mbox_->db_, uid);
  if (!annots.ok()) return annots.status();
  IndexRecord r = *old;
  r.system_flags |= kFlagExpunged;
  r.modseq = next_modseq();
  r.last_updated = ::time(nullptr);
  Status s = write_record(r, false);
  if (!s) return s;
  counters_.sync_crc ^= record_crc(*old);
  counters_.sync_crc_annot ^= record_annot_crc(*old, *annots);
  counters_.exists--;
  counters_.quota_used -= old->size;
  delta_messages_--;
  delta_bytes_ -= static_cast<int64_t>(old->size);
  expunged_files_.push_back(message_file(mbox_->dir_, uid));
  return Status::ok();
}

Status MailboxTxn::write_annotation(const MessageAnnotation& a) {
  if (a.value.empty()) {
    auto st = mbox_->db_->prepare("DELETE FROM annotations WHERE uid=? AND entry=? AND userid=?");
    if (!st.ok()) return st.status();
    st->bind(1, int64_t{a.uid}).bind(2, a.entry).bind(3, a.userid);
    return st->run();
  }
  auto st = mbox_->db_->prepare(
      "INSERT OR REPLACE INTO annotations(uid, entry, userid, value, modseq) VALUES(?,?,?,?,?)");
  if (!st.ok()) return st.status();
  st->bind(1, int64_t{a.uid})
      .bind(2, a.entry)
      .bind(3, a.userid)
      .bind(4, a.value)
      .bind(5, static_cast<int64_t>(a.modseq));
  return st->run();
}

Status MailboxTxn::set_annotation(uint32_t uid, const std::string& entry, const std::string& userid,
                                  const std::string& value) {
  auto old = mbox_->record(uid);
  if (!old.ok()) return old.status();
  auto before = read_annotations(*mbox_->db_, uid);
  if (!before.ok()) return before.status();
  IndexRecord r = *old;
  r.modseq = next_modseq();
  r.last_updated = ::time(nullptr);
  Status s = write_annotation({uid, entry, userid, value, r.modseq});
  if (!s) return s;
  s = write_record(r, false);
  if (!s) return s;
  auto after = read_annotations(*mbox_->db_, uid);
  if (!after.ok()) return after.status();
  counters_.sync_crc ^= record_crc(*old) ^ record_crc(r);
  counters_.sync_crc_annot ^= record_annot_crc(*old, *before) ^ record_annot_crc(r, *after);
  return Status::ok();
}

Status MailboxTxn::put_annotation(const MessageAnnotation& a) {
  auto rec = mbox_->record(a.uid);
  if (!rec.ok()) return rec.status();
  auto before = read_annotations(*mbox_->db_, a.uid);
  if (!before.ok()) return before.status();
  Status s = write_annotation(a);
  if (!s) return s;
  auto after = read_annotations(*mbox_->db_, a.uid);
  if (!after.ok()) return after.status();
  counters_.sync_crc_annot ^= record_annot_crc(*rec, *before) ^ record_annot_crc(*rec, *after);
  changed_ = true;
  return Status::ok();
}

Status MailboxTxn::recompute_derived() {
  MailboxCounters d = counters_;
  d.sync_crc = 0;
  d.sync_crc_annot = kAnnotCrcSeed;
  d.exists = 0;
  d.quota_used = 0;
  std::vector<IndexRecord> live;
  Status s = mbox_->for_each_record(0, [&](const IndexRecord& r) {
    if (!r.expunged()) live.push_back(r);
    return true;
  });
  if (!s) return s;
  for (const auto& r : live) {
    auto annots = read_annotations(*mbox_->db_, r.uid);
    if (!annots.ok()) return annots.status();
    d.sync_crc ^= record_crc(r);
    d.sync_crc_annot ^= record_annot_crc(r, *annots);
    d.exists++;
    d.quota_used += r.size;
  }
  delta_messages_ += static_cast<int64_t>(d.exists) - static_cast<int64_t>(counters_.exists);
  delta_bytes_ += static_cast<int64_t>(d.quota_used) - static_cast<int64_t>(counters_.quota_used);
  if (!(d == counters_)) changed_ = true;
  counters_ = d;
  return Status::ok();
}

std::vector<synclog::Line> MailboxTxn::log_lines() const {
  std::vector<synclog::Line> out;
  if (changed_) out.push_back({"MAILBOX", {mbox_->name()}});
  if (appended_) out.push_back({"APPEND", {mbox_->name()}});
  return out;
}

Status MailboxTxn::do_commit(bool write_log) {
  if (!open_) return Status(Code::kInternal, "commit of a finished transaction");
  Status s = write_counters(*mbox_->db_, counters_);
  // The links must be durable before the index row that points at them.
  if (s && !linked_files_.empty()) s = fs::fsync_dir(mbox_->dir_);
  if (s) s = mbox_->db_->commit();
  if (!s) {
    mbox_->db_->rollback();
    for (const auto& f : linked_files_) ::unlink(f.c_str());
    open_ = false;
    return s;
  }
  open_ = false;
  linked_files_.clear();
  for (const auto& f : expunged_files_) ::unlink(f.c_str());
  if (write_log && mbox_->synclog_ != nullptr) {
    auto lines = log_lines();
    if (!lines.empty()) mbox_->synclog_->log(lines);
  }
  return Status::ok();
}

Status MailboxTxn::commit() { return do_commit(true); }
Status MailboxTxn::commit_deferred_log() { return do_commit(false); }

}  // namespace replimail::store
