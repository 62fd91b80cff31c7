#include "store/mboxlist.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>

#include "store/mboxname.h"
#include "store/sqlite_db.h"

namespace replimail::store {
namespace {

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS mailboxes(
  name TEXT PRIMARY KEY, uniqueid TEXT NOT NULL, mbtype TEXT NOT NULL,
  partition TEXT NOT NULL, acl TEXT NOT NULL, uidvalidity INTEGER NOT NULL,
  createdmodseq INTEGER NOT NULL, foldermodseq INTEGER NOT NULL, mtime INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS mailboxes_uniqueid ON mailboxes(uniqueid);
CREATE TABLE IF NOT EXISTS history(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, uniqueid TEXT NOT NULL, name TEXT NOT NULL,
  mtime INTEGER NOT NULL, uidvalidity INTEGER NOT NULL, createdmodseq INTEGER NOT NULL,
  foldermodseq INTEGER NOT NULL, mbtype TEXT NOT NULL, partition TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS history_uniqueid ON history(uniqueid);
CREATE TABLE IF NOT EXISTS counters(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS channels(
  name TEXT PRIMARY KEY, state TEXT NOT NULL, since INTEGER NOT NULL, reason TEXT NOT NULL);
)";

constexpr const char* kColumns =
    "name, uniqueid, mbtype, partition, acl, uidvalidity, createdmodseq, foldermodseq, mtime";

MailboxEntry read_entry(const SqliteStmt& st) {
  MailboxEntry e;
  e.name = st.text(0);
  e.uniqueid = st.text(1);
  e.mbtype = st.text(2);
  e.partition = st.text(3);
  e.acl = st.text(4);
  e.uidvalidity = static_cast<uint32_t>(st.int64(5));
  e.createdmodseq = static_cast<uint64_t>(st.int64(6));
  e.foldermodseq = static_cast<uint64_t>(st.int64(7));
  e.mtime = st.int64(8);
  return e;
}

// Rolls back on scope exit unless committed.
class WriteTxn {
 public:
  explicit WriteTxn(SqliteDb* db) : db_(db) {}
  ~WriteTxn() {
    if (!done_) db_->rollback();
  }
  Status begin() { return db_->begin_immediate(); }
  Status commit() {
    done_ = true;
    return db_->commit();
  }

 private:
  SqliteDb* db_;
  bool done_ = false;
};

constexpr size_t kMaxReason = 300;

// A reason as one line: control characters become spaces, cut at kMaxReason.
std::string one_line(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (out.size() >= kMaxReason) break;
    out += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

Result<ChannelState> read_channel(const SqliteStmt& st) {
  auto phase = channel_phase_from_name(st.text(1));
  if (!phase)
    return Status(Code::kInternal, fmt::format("mailboxes.db: channel {}: unknown state '{}'",
                                               st.text(0), st.text(1)));
  return ChannelState{st.text(0), *phase, st.int64(2), st.text(3)};
}

}  // namespace

std::string_view channel_phase_name(ChannelPhase p) {
  switch (p) {
    case ChannelPhase::kBootstrapping:
      return "bootstrapping";
    case ChannelPhase::kRolling:
      return "rolling";
    case ChannelPhase::kFailed:
      return "failed";
  }
  return "?";
}

std::optional<ChannelPhase> channel_phase_from_name(std::string_view name) {
  for (ChannelPhase p :
       {ChannelPhase::kBootstrapping, ChannelPhase::kRolling, ChannelPhase::kFailed})
    if (channel_phase_name(p) == name) return p;
  return std::nullopt;
}

std::string make_uniqueid() {
  unsigned char b[16];
  int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  size_t got = 0;
  if (fd >= 0) {
    while (got < sizeof(b)) {
      ssize_t n = ::read(fd, b + got, sizeof(b) - got);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    ::close(fd);
  }
  if (got < sizeof(b)) {
    // /dev/urandom unavailable: fall back to time, pid and address entropy.
    uint64_t seed = static_cast<uint64_t>(::time(nullptr)) ^ (uint64_t(::getpid()) << 32) ^
                    reinterpret_cast<uintptr_t>(&got);
    for (auto& c : b) {
      seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
      c = static_cast<unsigned char>(seed >> 56);
    }
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  std::string out;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += fmt::format("{:02x}", b[i]);
  }
  return out;
}

MailboxList::MailboxList(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}
MailboxList::~MailboxList() = default;

Result<std::unique_ptr<MailboxList>> MailboxList::open(const std::string& path) {
  auto db = SqliteDb::open(path);
  if (!db.ok()) return db.status();
  Status s = (*db)->exec(kSchema);
  if (!s) return s;
  return std::unique_ptr<MailboxList>(new MailboxList(std::move(*db)));
}

Result<MailboxEntry> MailboxList::lookup(std::string_view name) {
  auto st = db_->prepare(fmt::format("SELECT {} FROM mailboxes WHERE name = ?", kColumns));
  if (!st.ok()) return st.status();
  st->bind(1, name);
  auto row = st->step();
  if (!row.ok()) return row.status();
  if (!*row) return Status(Code::kMailboxNonexistent, std::string(name));
  return read_entry(*st);
}

Result<MailboxEntry> MailboxList::lookup_uniqueid(std::string_view uniqueid) {
  // A live entry wins over tombstones; among tombstones the latest change.
  auto st = db_->prepare(
      fmt::format("SELECT {} FROM mailboxes WHERE uniqueid = ? ORDER BY instr(mbtype, 'd') = 0 "
                  "DESC, foldermodseq DESC, mtime DESC LIMIT 1",
                  kColumns));
  if (!st.ok()) return st.status();
  st->bind(1, uniqueid);
  auto row = st->step();
  if (!row.ok()) return row.status();
  if (!*row) return Status(Code::kMailboxNonexistent, std::string(uniqueid));
  return read_entry(*st);
}

Status MailboxList::list(std::string_view prefix, bool include_tombstones,
                         const std::function<bool(const MailboxEntry&)>& fn) {
  // A range scan instead of LIKE, whose '_' and '%' would be wildcards.
  std::string lo(prefix);
  std::string hi = lo;
  bool unbounded = hi.empty();
  if (!unbounded) {
    while (!hi.empty() && static_cast<unsigned char>(hi.back()) == 0x7f) hi.pop_back();
    if (hi.empty())
      unbounded = true;
    else
      hi.back() = static_cast<char>(hi.back() + 1);
  }
  auto st = db_->prepare(fmt::format(
      "SELECT {} FROM mailboxes WHERE name >= ?1 AND (?3 OR name < ?2) ORDER BY name", kColumns));
  if (!st.ok()) return st.status();
  st->bind(1, lo).bind(2, hi).bind(3, int64_t{unbounded});
  while (true) {
    auto row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::success();
    MailboxEntry e = read_entry(*st);
    if (!include_tombstones && e.is_tombstone()) continue;
    if (!fn(e)) return Status::success();
  }
}

Result<std::vector<MailboxEntry>> MailboxList::list_tree(std::string_view name) {
  std::vector<MailboxEntry> out;
  auto self = lookup(name);
  if (self.ok() && !self->is_tombstone()) out.push_back(*self);
  Status s = list(std::string(name) + ".", false, [&](const MailboxEntry& e) {
    out.push_back(e);
    return true;
  });
  if (!s) return s;
  return out;
}

Result<std::vector<std::string>> MailboxList::users() {
  std::vector<std::string> out;
  Status s = list("user.", false, [&](const MailboxEntry& e) {
    if (e.is_real()) {
      std::string owner = mboxname_owner(e.name);
      if (out.empty() || out.back() != owner) out.push_back(owner);
    }
    return true;
  });
  if (!s) return s;
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<std::vector<NameHistory>> MailboxList::history(std::string_view uniqueid) {
  auto st = db_->prepare(
      "SELECT name, mtime, uidvalidity, createdmodseq, foldermodseq, mbtype, partition "
      "FROM history WHERE uniqueid = ? ORDER BY seq");
  if (!st.ok()) return st.status();
  st->bind(1, uniqueid);
  std::vector<NameHistory> out;
  while (true) {
    auto row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    NameHistory h;
    h.name = st->text(0);
    h.mtime = st->int64(1);
    h.uidvalidity = static_cast<uint32_t>(st->int64(2));
    h.createdmodseq = static_cast<uint64_t>(st->int64(3));
    h.foldermodseq = static_cast<uint64_t>(st->int64(4));
    h.mbtype = st->text(5);
    h.partition = st->text(6);
    out.push_back(std::move(h));
  }
  return out;
}

Status MailboxList::put_locked(const MailboxEntry& e) {
  // What reaches a path later (uniqueid, partition) is checked before it
  // is stored, whoever the caller.
  Status valid = validate_mboxname(e.name);
  if (valid && (e.is_real() || !e.uniqueid.empty())) valid = validate_uniqueid(e.uniqueid);
  if (valid && (e.is_real() || !e.partition.empty())) valid = validate_partition(e.partition);
  if (!valid) return valid;
  if (!e.is_tombstone()) {
    // The uniqueid's other names become history (a rename).
    auto old = db_->prepare(
        fmt::format("SELECT {} FROM mailboxes WHERE uniqueid = ? AND name <> ?", kColumns));
    if (!old.ok()) return old.status();
    old->bind(1, e.uniqueid).bind(2, e.name);
    std::vector<MailboxEntry> former;
    while (true) {
      auto row = old->step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      former.push_back(read_entry(*old));
    }
    for (const auto& f : former) {
      auto seen = db_->prepare("SELECT 1 FROM history WHERE uniqueid = ? AND name = ?");
      if (!seen.ok()) return seen.status();
      seen->bind(1, e.uniqueid).bind(2, f.name);
      auto row = seen->step();
      if (!row.ok()) return row.status();
      if (*row) continue;
      auto ins = db_->prepare(
          "INSERT INTO history(uniqueid, name, mtime, uidvalidity, createdmodseq, foldermodseq, "
          "mbtype, partition) VALUES(?,?,?,?,?,?,?,?)");
      if (!ins.ok()) return ins.status();
      ins->bind(1, e.uniqueid)
          .bind(2, f.name)
          .bind(3, f.mtime)
          .bind(4, int64_t{f.uidvalidity})
          .bind(5, static_cast<int64_t>(f.createdmodseq))
          .bind(6, static_cast<int64_t>(f.foldermodseq))
          .bind(7, f.mbtype)
          .bind(8, f.partition);
      Status s = ins->run();
      if (!s) return s;
    }
  }
  auto st = db_->prepare(
      fmt::format("INSERT OR REPLACE INTO mailboxes({}) VALUES(?,?,?,?,?,?,?,?,?)", kColumns));
  if (!st.ok()) return st.status();
  st->bind(1, e.name)
      .bind(2, e.uniqueid)
      .bind(3, e.mbtype)
      .bind(4, e.partition)
      .bind(5, e.acl)
      .bind(6, int64_t{e.uidvalidity})
      .bind(7, static_cast<int64_t>(e.createdmodseq))
      .bind(8, static_cast<int64_t>(e.foldermodseq))
      .bind(9, e.mtime);
  return st->run();
}

Status MailboxList::put(const MailboxEntry& entry) { return put_all({entry}); }

Status MailboxList::put_all(const std::vector<MailboxEntry>& entries) {
  WriteTxn txn(db_.get());
  Status s = txn.begin();
  if (!s) return s;
  for (const auto& e : entries) {
    s = put_locked(e);
    if (!s) return s;
  }
  return txn.commit();
}

Status MailboxList::insert_new(const MailboxEntry& entry) {
  WriteTxn txn(db_.get());
  Status s = txn.begin();
  if (!s) return s;
  auto cur = lookup(entry.name);
  if (cur.ok() && cur->is_real()) return Status(Code::kMailboxExists, entry.name);
  if (!cur.ok() && cur.status().code() != Code::kMailboxNonexistent) return cur.status();
  s = put_locked(entry);
  if (!s) return s;
  return txn.commit();
}

Result<uint64_t> MailboxList::next_modseq() {
  auto st = db_->prepare(
      "INSERT INTO counters(key, value) VALUES('modseq', 1) "
      "ON CONFLICT(key) DO UPDATE SET value = value + 1 RETURNING value");
  if (!st.ok()) return st.status();
  auto row = st->step();
  if (!row.ok()) return row.status();
  if (!*row) return Status(Code::kInternal, "modseq counter: no row");
  uint64_t v = static_cast<uint64_t>(st->int64(0));
  Status s = st->run();
  if (!s) return s;
  return v;
}

Status MailboxList::raise_modseq(uint64_t modseq) {
  auto st = db_->prepare(
      "INSERT INTO counters(key, value) VALUES('modseq', ?1) "
      "ON CONFLICT(key) DO UPDATE SET value = max(value, ?1)");
  if (!st.ok()) return st.status();
  st->bind(1, static_cast<int64_t>(modseq));
  return st->run();
}

Result<uint32_t> MailboxList::next_uidvalidity(uint32_t floor) {
  WriteTxn txn(db_.get());
  Status s = txn.begin();
  if (!s) return s;
  int64_t last = 0;
  {
    auto st = db_->prepare("SELECT value FROM counters WHERE key = 'uidvalidity'");
    if (!st.ok()) return st.status();
    auto row = st->step();
    if (!row.ok()) return row.status();
    if (*row) last = st->int64(0);
  }
  int64_t v = std::max<int64_t>({::time(nullptr), last + 1, int64_t{floor} + 1});
  {
    auto st = db_->prepare("INSERT OR REPLACE INTO counters(key, value) VALUES('uidvalidity', ?)");
    if (!st.ok()) return st.status();
    st->bind(1, v);
    s = st->run();
    if (!s) return s;
  }
  s = txn.commit();
  if (!s) return s;
  return static_cast<uint32_t>(v);
}

Result<std::vector<std::string>> MailboxList::note_new_channels(
    const std::vector<std::string>& channels, int64_t now_ms) {
  WriteTxn txn(db_.get());
  Status s = txn.begin();
  if (!s) return s;
  auto known = db_->prepare("SELECT name FROM channels ORDER BY name");
  if (!known.ok()) return known.status();
  auto names = known->texts();
  if (!names.ok()) return names.status();
  for (const auto& name : *names) {
    if (std::find(channels.begin(), channels.end(), name) != channels.end()) continue;
    auto del = db_->prepare("DELETE FROM channels WHERE name = ?");
    if (!del.ok()) return del.status();
    del->bind(1, name);
    if (s = del->run(); !s) return s;
  }
  std::vector<std::string> added;
  for (const auto& c : channels) {
    auto ins = db_->prepare(
        "INSERT INTO channels(name, state, since, reason) VALUES(?, ?, ?, '') "
        "ON CONFLICT(name) DO NOTHING");
    if (!ins.ok()) return ins.status();
    ins->bind(1, c).bind(2, channel_phase_name(ChannelPhase::kBootstrapping)).bind(3, now_ms);
    if (s = ins->run(); !s) return s;
    if (db_->changes() > 0) added.push_back(c);
  }
  if (s = txn.commit(); !s) return s;
  return added;
}

Result<std::optional<ChannelState>> MailboxList::channel_state(std::string_view channel) {
  auto st = db_->prepare("SELECT name, state, since, reason FROM channels WHERE name = ?");
  if (!st.ok()) return st.status();
  st->bind(1, channel);
  auto row = st->step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<ChannelState>();
  auto c = read_channel(*st);
  if (!c.ok()) return c.status();
  return std::optional<ChannelState>(std::move(*c));
}

Result<std::vector<ChannelState>> MailboxList::channel_states() {
  auto st = db_->prepare("SELECT name, state, since, reason FROM channels ORDER BY name");
  if (!st.ok()) return st.status();
  std::vector<ChannelState> out;
  while (true) {
    auto row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    auto c = read_channel(*st);
    if (!c.ok()) return c.status();
    out.push_back(std::move(*c));
  }
}

Status MailboxList::set_channel_state(std::string_view channel, ChannelPhase phase,
                                      std::string_view reason, int64_t now_ms) {
  auto st = db_->prepare(
      "UPDATE channels SET since = CASE WHEN state = ?2 THEN since ELSE ?3 END, "
      "state = ?2, reason = ?4 WHERE name = ?1");
  if (!st.ok()) return st.status();
  st->bind(1, channel).bind(2, channel_phase_name(phase)).bind(3, now_ms).bind(4, one_line(reason));
  return st->run();
}

}  // namespace replimail::store
