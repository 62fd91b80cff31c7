#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <deque>
#include <future>
#include <optional>
#include <utility>

#include "common/fs.h"
#include "common/workers.h"
#include "os/env.h"
#include "store/mailbox.h"
#include "store/mailbox_index.h"
#include "store/mboxname.h"
#include "store/sqlite_db.h"
#include "store/staged_message.h"
#include "store/sync_crc.h"

namespace replimail::store {

using namespace index;

namespace {

// Copies `src` to a new file `dst` and fsyncs it (cross-partition append).
Status copy_file(const std::string& src, const std::string& dst) {
  int in = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return errno_status("open", src);
  int out = os::env().open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (out < 0) {
    ::close(in);
    return errno_status("create", dst);
  }
  Status s;
  char buf[65536];
  while (s) {
    ssize_t n = ::read(in, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) s = errno_status("read", src);
    if (n <= 0) break;
    s = fs::write_all(out, std::string_view(buf, static_cast<size_t>(n)), dst);
  }
  if (s) s = fs::fsync_fd(out, dst);
  ::close(in);
  os::env().close(out);
  if (!s) os::env().unlink(dst);
  return s;
}

}  // namespace

void UidRuns::add(uint32_t uid) {
  if (!runs_.empty()) {
    auto& [first, last] = runs_.back();
    if (uid >= first && uid <= last) return;
    if (last != UINT32_MAX && uid == last + 1) {
      last = uid;
      return;
    }
  }
  runs_.emplace_back(uid, uid);
}

namespace {

// Links (or, across filesystems, copies) the message file `src` to `dst`.
// The caller holds the mailbox write lock and the UID of `dst` is not in
// the index, so a file already at `dst` is an orphan of a crashed append:
// it was never acknowledged and may go.
Status link_message(const std::string& src, const std::string& dst) {
  for (int attempt = 0; attempt < 2; attempt++) {
    if (os::env().link(src, dst) == 0) return Status::success();
    if (errno == EEXIST) {
      os::env().unlink(dst);
      continue;
    }
    if (errno == EXDEV || errno == EPERM || errno == EMLINK) return copy_file(src, dst);
    return errno_status("link " + src + " to", dst);
  }
  return errno_status("link", dst);
}

// Links handed to a Workers thread this many at a time, with at most
// kLinkBatchesAhead batches queued before put_record() waits for the
// oldest (memory stays flat whatever the number of records).
constexpr size_t kLinkBatch = 256;
constexpr size_t kLinkBatchesAhead = 4;

}  // namespace

struct MailboxTxn::DeferredLinks {
  Workers* workers;
  std::vector<std::pair<std::string, uint32_t>> batch;  // (source, uid), not yet handed over
  std::deque<std::future<Status>> pending;
  Status failed;  // the first failure of a batch already waited for

  void take_oldest() {
    Status s = pending.front().get();
    pending.pop_front();
    if (failed) failed = s;
  }
  void hand_over(const std::string& dir) {
    if (batch.empty()) return;
    if (pending.size() >= kLinkBatchesAhead) take_oldest();
    pending.push_back(workers->run([dir, links = std::move(batch)]() -> Status {
      for (const auto& [src, uid] : links) {
        Status s = link_message(src, message_file(dir, uid));
        if (!s) return s;
      }
      return Status::success();
    }));
    batch.clear();
  }
};

MailboxTxn::MailboxTxn(Mailbox* mbox) : mbox_(mbox) {}

MailboxTxn::~MailboxTxn() { rollback(); }

void MailboxTxn::rollback() {
  if (!open_) return;
  // No link may land after its file was removed below; those not handed
  // over yet are never made.
  if (deferred_) {
    deferred_->batch.clear();
    static_cast<void>(wait_links());
  }
  mbox_->db_->rollback();
  linked_uids_.for_each([this](uint32_t uid) { os::env().unlink(message_file(mbox_->dir_, uid)); });
  linked_uids_.clear();
  unflushed_.clear();
  open_ = false;
}

Status MailboxTxn::flush_staged() {
  for (const StagedMessage* msg : unflushed_) {
    Status s = msg->make_durable();
    if (!s) return s;
  }
  unflushed_.clear();
  return Status::success();
}

bool MailboxTxn::has_unflushed_staged() const { return !unflushed_.empty(); }

Status MailboxTxn::load() {
  auto c = read_counters(*mbox_->db_);
  if (!c.ok()) return c.status();
  counters_ = *c;
  auto slots = read_slots(*mbox_->db_);
  if (!slots.ok()) return slots.status();
  flag_slots_ = std::move(*slots);
  return Status::success();
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

void MailboxTxn::defer_links(Workers& workers) {
  deferred_ = std::make_unique<DeferredLinks>();
  deferred_->workers = &workers;
  deferred_->batch.reserve(kLinkBatch);
}

Status MailboxTxn::wait_links() {
  if (!deferred_) return Status::success();
  deferred_->hand_over(mbox_->dir_);
  while (!deferred_->pending.empty()) deferred_->take_oldest();
  return deferred_->failed;
}

Status MailboxTxn::link_file(const std::string& src, uint32_t uid) {
  if (deferred_) {
    // Counted as linked at once: a rollback waits for the batches, then
    // removes every file of linked_uids_ (one a failed batch never made is
    // absent, or an orphan of a crashed append that may go).
    linked_uids_.add(uid);
    deferred_->batch.emplace_back(src, uid);
    if (deferred_->batch.size() >= kLinkBatch) deferred_->hand_over(mbox_->dir_);
    return Status::success();
  }
  Status s = link_message(src, message_file(mbox_->dir_, uid));
  if (s) linked_uids_.add(uid);
  return s;
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
      if (same_keyword(slots[i], f)) break;
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
  std::optional<MessageCache> cache;
  if (cache_at_append(msg.size())) {
    auto computed = compute_message_cache(msg.path());
    if (!computed.ok()) return computed.status();
    cache = std::move(computed).value();
  }
  int64_t now = ::time(nullptr);
  IndexRecord r;
  r.uid = counters_.last_uid + 1;
  Status s = link_file(msg.path(), r.uid);
  if (!s) return s;
  if (!msg.durable()) unflushed_.push_back(&msg);
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
  if (cache) {
    s = write_cache(*mbox_->db_, r.uid, r.guid, *cache, false);
    if (!s) return s;
  }
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

Status MailboxTxn::put_record(const IndexRecord& record, const std::string& file,
                              const MessageCache* given) {
  if (record.uid == 0) return Status(Code::kInvalidArgument, "record with UID 0");
  Status valid = validate_guid(record.guid);
  if (!valid) return valid;
  auto flags = canonical_flags(*mbox_->db_, flag_slots_, record.user_flags);
  if (!flags.ok()) return flags.status();
  IndexRecord r = record;
  r.user_flags = std::move(*flags);
  auto annots = read_annotations(*mbox_->db_, r.uid);
  if (!annots.ok()) return annots.status();
  auto old = mbox_->record(r.uid);
  bool exists = old.ok();
  if (!exists && old.status().code() != Code::kNotFound) return old.status();
  std::optional<MessageCache> computed_cache;
  const MessageCache* cache = nullptr;  // `given`, or computed_cache
  if (exists) {
    counters_.sync_crc ^= record_crc(*old);
    counters_.sync_crc_annot ^= record_annot_crc(*old, *annots);
    if (!old->expunged()) {
      counters_.exists--;
      counters_.quota_used -= old->size;
      delta_messages_--;
      delta_bytes_ -= static_cast<int64_t>(old->size);
      if (r.expunged()) expunged_uids_.add(r.uid);
    }
  } else if (r.expunged()) {
    // An expunged record new here needs no file (whatever the caller
    // found for its GUID): nothing would ever remove one.
  } else if (!file.empty()) {
    if (given != nullptr) {
      cache = given;
    } else if (cache_at_append(r.size)) {
      auto computed = compute_message_cache(file);
      if (!computed.ok()) return computed.status();
      computed_cache = std::move(computed).value();
      cache = &*computed_cache;
    }
    Status s = link_file(file, r.uid);
    if (!s) return s;
    appended_ = true;
  } else {
    return Status(
        Code::kInvalidArgument,
        fmt::format("{}: new record uid {} without a message file", mbox_->name(), r.uid));
  }
  Status s = write_record(r, !exists);
  if (!s) return s;
  if (cache != nullptr && !r.expunged()) {
    s = write_cache(*mbox_->db_, r.uid, r.guid, *cache, false);
  } else if (r.expunged()) {
    s = delete_cache(*mbox_->db_, r.uid);
  }
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
  return Status::success();
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
  return Status::success();
}

Status MailboxTxn::expunge(uint32_t uid) {
  auto old = mbox_->record(uid);
  if (!old.ok()) return old.status();
  if (old->expunged()) return Status::success();
  auto annots = read_annotations(*mbox_->db_, uid);
  if (!annots.ok()) return annots.status();
  IndexRecord r = *old;
  r.system_flags |= kFlagExpunged;
  r.modseq = next_modseq();
  r.last_updated = ::time(nullptr);
  Status s = write_record(r, false);
  if (s) s = delete_cache(*mbox_->db_, uid);
  if (!s) return s;
  counters_.sync_crc ^= record_crc(*old);
  counters_.sync_crc_annot ^= record_annot_crc(*old, *annots);
  counters_.exists--;
  counters_.quota_used -= old->size;
  delta_messages_--;
  delta_bytes_ -= static_cast<int64_t>(old->size);
  expunged_uids_.add(uid);
  return Status::success();
}

Status MailboxTxn::purge_expunged(uint32_t uid) {
  auto old = mbox_->record(uid);
  if (!old.ok()) return old.status();
  if (!old->expunged())
    return Status(Code::kInternal, fmt::format("{}: uid {} is not expunged", mbox_->name(), uid));
  for (const char* sql : {"DELETE FROM records WHERE uid=?", "DELETE FROM annotations WHERE uid=?"}) {
    auto st = mbox_->db_->prepare(sql);
    if (!st.ok()) return st.status();
    if (Status s = st->bind(1, int64_t{uid}).run(); !s) return s;
  }
  if (Status s = delete_cache(*mbox_->db_, uid); !s) return s;
  purged_uids_.add(uid);
  changed_ = true;
  return Status::success();
}

Status MailboxTxn::put_cache(uint32_t uid, const MessageCache& cache) {
  auto r = mbox_->record(uid);
  if (!r.ok()) return r.status();
  if (r->expunged())
    return Status(Code::kNotFound, fmt::format("{}: uid {} is expunged", mbox_->name(), uid));
  return write_cache(*mbox_->db_, uid, r->guid, cache, false);
}

Result<bool> MailboxTxn::has_cache(uint32_t uid) {
  auto r = mbox_->record(uid);
  if (!r.ok()) return r.status();
  auto row = read_cache(*mbox_->db_, uid, r->guid);
  if (!row.ok()) return row.status();
  if (!row->has_value()) return false;
  return has_search_fields(*mbox_->db_, uid, r->guid);
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
  return Status::success();
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
  return Status::success();
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
  return Status::success();
}

std::vector<synclog::Line> MailboxTxn::log_lines() const {
  std::vector<synclog::Line> out;
  if (changed_) out.push_back({"MAILBOX", {mbox_->name()}});
  if (appended_) out.push_back({"APPEND", {mbox_->name()}});
  return out;
}

Status MailboxTxn::commit_deferred_log() {
  if (!open_) return Status(Code::kInternal, "commit of a finished transaction");
  // Nothing commits whose message file is not on disk (a no-op when
  // Instance::commit flushed them already), nor whose link failed.
  Status flushed = wait_links();
  if (flushed) flushed = flush_staged();
  if (!flushed) {
    rollback();
    return flushed;
  }
  Status s = write_counters(*mbox_->db_, counters_);
  // The files of expunged (or purged) records go while the write lock is
  // still held: check_mailbox (reconstruct -n), which reads under that lock,
  // must never see an expunged record whose file should be gone but is not.
  if (s)
    s = mbox_->db_->commit([this] {
      auto unlink = [this](uint32_t uid) { os::env().unlink(message_file(mbox_->dir_, uid)); };
      if (!mbox_->keep_expunged_files_) expunged_uids_.for_each(unlink);
      purged_uids_.for_each(unlink);
    });
  if (!s) {
    rollback();
    return s;
  }
  open_ = false;
  linked_uids_.clear();
  return Status::success();
}

}  // namespace replimail::store
