#include "store/instance.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <future>
#include <map>
#include <optional>

#include "common/fs.h"
#include "common/mboxname_owner.h"
#include "os/env.h"
#include "store/acl.h"
#include "store/mailbox_index.h"
#include "store/sync_crc.h"
#include "synclog/synclog.h"

namespace replimail::store {
namespace {

// Mailbox indexes a process keeps open between uses (see IndexPool).
constexpr size_t kIdleIndexes = 16;

// Removes every file in `dir`, then the directory itself.
Status remove_dir_files(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Status::success();
  while (struct dirent* de = ::readdir(d)) {
    std::string n = de->d_name;
    if (n == "." || n == "..") continue;
    os::env().unlink(fmt::format("{}/{}", dir, n));
  }
  ::closedir(d);
  os::env().rmdir(dir);
  return fs::fsync_dir(fs::dirname(dir));
}

// Creators of mailboxes take turns (flock() of one lock file in
// configdirectory, so threads of one process exclude each other too): two
// sync_server sessions applying the same new mailbox share its uniqueid and
// so its directory, and the one that lost the mailboxes.db insert would
// otherwise have re-initialised, then removed, the winner's index.
class CreateLock {
 public:
  static Result<CreateLock> acquire(const std::string& configdirectory) {
    std::string path = configdirectory + "/mailboxes.create.lock";
    int fd = os::env().open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return Status::from_errno(errno, "open " + path);
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      Status s = Status::from_errno(errno, "flock " + path);
      os::env().close(fd);
      return s;
    }
    return CreateLock(fd);
  }
  CreateLock(CreateLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  CreateLock& operator=(CreateLock&&) = delete;
  ~CreateLock() {
    if (fd_ >= 0) os::env().close(fd_);  // closing releases the flock
  }

 private:
  explicit CreateLock(int fd) : fd_(fd) {}
  int fd_;
};

// What a new mailbox `name` takes over from mailboxes.db: the uniqueid it
// gets (opts' own, an intermediate's, or a new one) and the floor of its
// UIDVALIDITY (a tombstone's). Refused when the name is taken by a real
// mailbox or the uniqueid by another name.
Status claim_name(MailboxList& mboxlist, std::string_view name, std::string* uniqueid,
                  uint32_t* uidvalidity_floor) {
  auto existing = mboxlist.lookup(name);
  if (existing.ok()) {
    if (existing->is_real()) return Status(Code::kMailboxExists, std::string(name));
    if (existing->is_tombstone()) *uidvalidity_floor = existing->uidvalidity;
    if (existing->is_intermediate() && uniqueid->empty()) *uniqueid = existing->uniqueid;
  } else if (existing.status().code() != Code::kMailboxNonexistent) {
    return existing.status();
  }
  if (!uniqueid->empty()) {
    auto holder = mboxlist.lookup_uniqueid(*uniqueid);
    if (holder.ok() && holder->is_real() && holder->name != name)
      return Status(Code::kMailboxMoved,
                    fmt::format("uniqueid {} belongs to {}", *uniqueid, holder->name));
  } else {
    *uniqueid = make_uniqueid();
  }
  return validate_uniqueid(*uniqueid);
}

// A real mailbox's empty index in `dir`.
Status create_index(const MailboxEntry& e, const std::string& dir) {
  MailboxCounters c;
  c.uidvalidity = e.uidvalidity;
  c.highestmodseq = e.createdmodseq;
  c.sync_crc_annot = kAnnotCrcSeed;
  c.options = "P";  // a new mailbox uses POP3 new-UIDL format, as Cyrus's do
  return Mailbox::create(e, dir, c);
}

}  // namespace

Instance::Instance(Config cfg) : cfg_(std::move(cfg)) {}
Instance::~Instance() = default;

Result<std::unique_ptr<Instance>> Instance::open(const Config& cfg) {
  std::string confdir = cfg.configdirectory();
  if (confdir.empty()) return Status(Code::kConfigError, "configdirectory is not set");
  if (!cfg.partition_path(cfg.defaultpartition()))
    return Status(Code::kConfigError,
                  fmt::format("defaultpartition \"{}\" has no partition-{} setting",
                              cfg.defaultpartition(), cfg.defaultpartition()));
  Status s = fs::make_dirs(confdir, 0750);
  if (!s) return s;
  std::unique_ptr<Instance> inst(new Instance(cfg));
  inst->synclog_ = std::make_unique<synclog::SyncLog>(cfg);
  inst->index_pool_ = std::make_shared<IndexPool>(kIdleIndexes);
  auto mbl = MailboxList::open(confdir + "/mailboxes.db");
  if (!mbl.ok()) return mbl.status();
  inst->mboxlist_ = std::move(*mbl);
  auto ud = UserData::open(confdir + "/user.db");
  if (!ud.ok()) return ud.status();
  inst->userdata_ = std::move(*ud);
  auto q = QuotaDb::open(confdir + "/quota.db");
  if (!q.ok()) return q.status();
  inst->quota_ = std::move(*q);
  auto an = AnnotationDb::open(confdir + "/annotations.db");
  if (!an.ok()) return an.status();
  inst->annotations_ = std::move(*an);
  return inst;
}

Result<std::string> Instance::partition_path(std::string_view partition) const {
  std::string p = partition.empty() ? cfg_.defaultpartition() : std::string(partition);
  Status s = validate_partition(p);
  if (!s) return s;
  auto path = cfg_.partition_path(p);
  if (!path) return Status(Code::kConfigError, fmt::format("unknown partition \"{}\"", p));
  return *path;
}

Result<MailboxEntry> Instance::real_entry(std::string_view name) {
  auto e = mboxlist_->lookup(name);
  if (!e.ok()) return e.status();
  if (!e->is_real()) return Status(Code::kMailboxNonexistent, std::string(name));
  return e;
}

bool Instance::read_only() const {
  return ::access((cfg_.configdirectory() + "/" + std::string(kReadOnlyFile)).c_str(), F_OK) == 0;
}

Status Instance::check_writable() const {
  if (!read_only()) return Status::success();
  return Status(Code::kReadOnly, "the instance is in read-only mode");
}

bool Instance::user_fenced(std::string_view userid) const {
  if (userid.empty() || !validate_userid(userid).is_ok()) return false;
  std::string path =
      cfg_.configdirectory() + "/" + std::string(kFenceDir) + "/" + std::string(userid);
  return ::access(path.c_str(), F_OK) == 0;
}

Status Instance::set_user_fence(std::string_view userid, bool fenced, bool moved_away) {
  if (Status v = validate_userid(userid); !v.is_ok())
    return Status(Code::kInvalidArgument, v.message());
  std::string dir = cfg_.configdirectory() + "/" + std::string(kFenceDir);
  std::string path = dir + "/" + std::string(userid);
  if (!fenced && moved_away) {
    // The user lives on another slot now: the fence stays. A delivery or
    // change that reaches this copy through a stale route (an MTA, proxy or
    // client that read the directory before the switch) is deferred and
    // retried at the new primary; lifted, it would be accepted here and
    // lost. The moved file ends the sessions still open here.
    std::string moved = cfg_.configdirectory() + "/" + std::string(kMovedDir);
    if (Status d = fs::make_dirs(moved); !d.is_ok()) return d;
    return fs::write_file_atomic(moved + "/" + std::string(userid), "");
  }
  if (!fenced) {
    if (!fs::exists(path)) return Status::success();
    if (Status r = fs::remove_file(path); !r.is_ok()) return r;
    return fs::fsync_dir(dir);
  }
  if (Status d = fs::make_dirs(dir); !d.is_ok()) return d;
  if (Status w = fs::write_file_atomic(path, ""); !w.is_ok()) return w;
  // A barrier: a writer checks the fence in commit() under the mailbox's
  // write lock, so one that checked before the file existed still holds
  // that lock; taking each of the user's mailboxes' locks once waits for
  // it, and every commit after this sees the fence. So what a move reads
  // next is all the user will ever have here.
  auto boxes = mboxlist_->list_tree(user_inbox(userid));
  if (!boxes.ok()) return boxes.status();
  for (const MailboxEntry& e : *boxes) {
    if (!e.is_real()) continue;
    auto mbox = open_mailbox(e.name);
    if (!mbox.ok()) continue;  // gone meanwhile: nothing to wait for
    auto txn = (*mbox)->begin();
    if (!txn.ok()) return txn.status();
    (*txn)->rollback();
  }
  return Status::success();
}

std::optional<std::chrono::system_clock::time_point> Instance::user_moved_at(
    std::string_view userid) const {
  if (userid.empty() || !validate_userid(userid).is_ok()) return std::nullopt;
  std::string path =
      cfg_.configdirectory() + "/" + std::string(kMovedDir) + "/" + std::string(userid);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  auto since_epoch =
      std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec);
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(since_epoch));
}

Status Instance::check_user_writable(std::string_view userid) const {
  if (Status w = check_writable(); !w) return w;
  if (replication_writer_ || !user_fenced(userid)) return Status::success();
  return Status(Code::kMailboxMoved,
                "user " + std::string(userid) + " is being moved to another slot");
}

Status Instance::check_writable(std::string_view mboxname) const {
  return check_user_writable(mboxname_owner(mboxname));
}

Result<MailboxEntry> Instance::lookup(std::string_view name) { return real_entry(name); }

Status Instance::still_live(const Mailbox& mbox) {
  auto now = mboxlist_->lookup(mbox.name());
  if (!now.ok()) return now.status();
  if (!now->is_real() || now->uniqueid != mbox.entry().uniqueid)
    return Status(Code::kMailboxNonexistent,
                  fmt::format("{} was deleted or renamed meanwhile", mbox.name()));
  return Status::success();
}

Result<MailboxEntry> Instance::create_mailbox(std::string_view name, const CreateOptions& opts) {
  if (Status w = check_writable(name); !w) return w;
  Status s = validate_mboxname(name);
  if (!s) return s;
  auto turn = CreateLock::acquire(cfg_.configdirectory());
  if (!turn.ok()) return turn.status();
  uint32_t uidvalidity_floor = 0;
  std::string uniqueid = opts.uniqueid;
  s = claim_name(*mboxlist_, name, &uniqueid, &uidvalidity_floor);
  if (!s) return s;

  MailboxEntry e;
  e.name = std::string(name);
  e.uniqueid = uniqueid;
  e.mbtype = opts.mbtype.empty() ? "e" : opts.mbtype;
  e.partition = opts.partition.empty() ? cfg_.defaultpartition() : opts.partition;
  auto ppath = partition_path(e.partition);
  if (!ppath.ok()) return ppath.status();
  e.acl = opts.acl.empty() ? default_acl(name) : opts.acl;
  if (opts.uidvalidity != 0) {
    e.uidvalidity = opts.uidvalidity;
  } else {
    auto v = mboxlist_->next_uidvalidity(uidvalidity_floor);
    if (!v.ok()) return v.status();
    e.uidvalidity = *v;
  }
  if (opts.createdmodseq != 0) {
    e.createdmodseq = opts.createdmodseq;
    s = mboxlist_->raise_modseq(opts.createdmodseq);
    if (!s) return s;
  } else {
    auto m = mboxlist_->next_modseq();
    if (!m.ok()) return m.status();
    e.createdmodseq = *m;
  }
  e.foldermodseq = e.createdmodseq;
  e.mtime = ::time(nullptr);

  auto mdir = mailbox_dir(*ppath, e.uniqueid);
  if (!mdir.ok()) return mdir.status();
  const std::string& dir = *mdir;
  // Logged before the change is made (synclog.h): a change that cannot be
  // logged is refused; one that then fails leaves a harmless line.
  std::vector<synclog::Line> lines = {{"MAILBOX", {e.name}}};
  bool with_quota = opts.quota_storage_kib >= 0 || opts.quota_messages >= 0;
  if (with_quota) lines.push_back({"QUOTA", {e.name}});
  auto logged = synclog_->announce(lines);
  if (!logged.ok()) return logged.status();
  if (e.is_real()) {
    s = create_index(e, dir);
    if (!s) return s;
  }
  s = mboxlist_->insert_new(e);
  if (!s) {
    // Creators take turns (CreateLock), so the directory is ours alone.
    if (e.is_real()) {
      Status r = remove_dir_files(dir);
      if (!r) spdlog::warn("create {}: cleanup: {}", name, r.to_string());
    }
    return s;
  }
  if (with_quota) {
    auto q = quota_->set_limits(name, opts.quota_storage_kib, opts.quota_messages);
    if (!q.ok()) spdlog::error("quota for new mailbox {}: {}", name, q.status().to_string());
  }
  return e;
}

Status Instance::delete_mailbox(std::string_view name) {
  if (Status w = check_writable(name); !w) return w;
  auto e = real_entry(name);
  if (!e.ok()) return e.status();
  bool has_children = false;
  Status s = mboxlist_->list(std::string(name) + ".", false, [&](const MailboxEntry&) {
    has_children = true;
    return false;
  });
  if (!s) return s;
  auto ppath = partition_path(e->partition);
  if (!ppath.ok()) return ppath.status();
  auto mdir = mailbox_dir(*ppath, e->uniqueid);
  if (!mdir.ok()) return mdir.status();
  const std::string& dir = *mdir;
  index_pool_->forget(dir + "/" + index::kIndexFile);
  // Hold the mailbox's write lock while it becomes a tombstone, so that no
  // append commits into it afterwards (appends re-check under the lock).
  auto mbox = Mailbox::open(*e, dir);
  std::unique_ptr<MailboxTxn> lock;
  MailboxCounters usage;
  if (mbox.ok()) {
    auto txn = (*mbox)->begin();
    if (!txn.ok()) return txn.status();
    lock = std::move(*txn);
    usage = lock->counters();
  }
  std::vector<synclog::Line> lines = {{"UNMAILBOX", {std::string(name)}}};
  // A quota root goes with the last mailbox it governs.
  bool drop_root = !has_children && quota_->get(name).ok();
  if (drop_root) lines.push_back({"QUOTA", {std::string(name)}});
  auto logged = synclog_->announce(lines);
  if (!logged.ok()) return logged.status();
  auto modseq = mboxlist_->next_modseq();
  if (!modseq.ok()) return modseq.status();
  MailboxEntry t = *e;
  t.mbtype = has_children ? "ei" : "ed";
  t.foldermodseq = *modseq;
  t.mtime = ::time(nullptr);
  s = mboxlist_->put(t);
  if (!s) return s;
  s = quota_->add_usage(name, -static_cast<int64_t>(usage.quota_used),
                        -static_cast<int64_t>(usage.exists));
  if (!s) spdlog::warn("delete {}: quota usage: {}", name, s.to_string());
  s = annotations_->remove_mailbox(name);
  if (!s) spdlog::warn("delete {}: annotations: {}", name, s.to_string());
  s = remove_dir_files(dir);
  if (!s) spdlog::warn("delete {}: {}", name, s.to_string());
  lock.reset();
  if (drop_root) {
    s = quota_->remove(name);
    if (!s) spdlog::warn("delete {}: quota root: {}", name, s.to_string());
  }
  return Status::success();
}

Status Instance::rename_mailbox(std::string_view oldname, std::string_view newname) {
  if (Status w = check_writable(oldname); !w) return w;
  if (Status w = check_writable(newname); !w) return w;
  Status s = validate_mboxname(newname);
  if (!s) return s;
  if (oldname == newname || mboxname_is_child(oldname, newname))
    return Status(Code::kMailboxBadName, fmt::format("cannot rename {} to {}", oldname, newname));
  auto root = real_entry(oldname);
  if (!root.ok()) return root.status();
  auto tree = mboxlist_->list_tree(oldname);
  if (!tree.ok()) return tree.status();
  auto modseq = mboxlist_->next_modseq();
  if (!modseq.ok()) return modseq.status();
  int64_t now = ::time(nullptr);
  std::vector<MailboxEntry> puts;
  std::vector<synclog::Line> lines;
  std::vector<std::pair<MailboxEntry, std::string>> moved;
  for (const auto& e : *tree) {
    std::string target = std::string(newname) + e.name.substr(oldname.size());
    s = validate_mboxname(target);
    if (!s) return s;
    auto clash = mboxlist_->lookup(target);
    if (clash.ok() && !clash->is_tombstone()) return Status(Code::kMailboxExists, target);
    MailboxEntry t = e;
    t.mbtype = "ed";
    t.foldermodseq = *modseq;
    t.mtime = now;
    MailboxEntry n = e;
    n.name = target;
    n.foldermodseq = *modseq;
    n.mtime = now;
    puts.push_back(t);
    puts.push_back(n);
    moved.emplace_back(e, target);
    lines.push_back({"RENAME", {e.name, target}});
    lines.push_back({"MAILBOX", {e.name}});
    lines.push_back({"MAILBOX", {target}});
  }
  auto logged = synclog_->announce(lines);
  if (!logged.ok()) return logged.status();
  s = mboxlist_->put_all(puts);
  if (!s) return s;
  for (const auto& [e, target] : moved) {
    if (e.is_real()) {
      auto mbox = open_mailbox(target);
      if (mbox.ok()) {
        auto c = (*mbox)->counters();
        if (c.ok()) {
          Status q = quota_->add_usage(e.name, -static_cast<int64_t>(c->quota_used),
                                       -static_cast<int64_t>(c->exists));
          if (q)
            q = quota_->add_usage(target, static_cast<int64_t>(c->quota_used),
                                  static_cast<int64_t>(c->exists));
          if (!q) spdlog::warn("rename {}: quota usage: {}", e.name, q.to_string());
        }
      }
    }
    Status a = annotations_->rename(e.name, target);
    if (!a) spdlog::warn("rename {}: annotations: {}", e.name, a.to_string());
  }
  return Status::success();
}

Status Instance::set_acl(std::string_view name, std::string_view acl) {
  if (Status w = check_writable(name); !w) return w;
  auto e = real_entry(name);
  if (!e.ok()) return e.status();
  auto modseq = mboxlist_->next_modseq();
  if (!modseq.ok()) return modseq.status();
  e->acl = std::string(acl);
  e->foldermodseq = *modseq;
  e->mtime = ::time(nullptr);
  auto logged = synclog_->announce({{"MAILBOX", {e->name}}});
  if (!logged.ok()) return logged.status();
  return mboxlist_->put(*e);
}

bool keeps_expunged_files(const Config& cfg) { return cfg.get("expunge_mode") == "delayed"; }

Result<std::unique_ptr<Mailbox>> Instance::open_mailbox(std::string_view name) {
  auto e = real_entry(name);
  if (!e.ok()) return e.status();
  auto ppath = partition_path(e->partition);
  if (!ppath.ok()) return ppath.status();
  auto dir = mailbox_dir(*ppath, e->uniqueid);
  if (!dir.ok()) return dir.status();
  auto mbox = Mailbox::open(*e, *dir, index_pool_);
  if (mbox.ok()) (*mbox)->set_keep_expunged_files(keeps_expunged_files(cfg_));
  return mbox;
}

Result<std::unique_ptr<StagedMessage>> Instance::stage_message(std::string_view partition) {
  if (Status w = check_writable(); !w) return w;
  std::string p = partition.empty() ? cfg_.defaultpartition() : std::string(partition);
  auto ppath = partition_path(p);
  if (!ppath.ok()) return ppath.status();
  return StagedMessage::create(*ppath + "/stage.", p);
}

// A delivery's critical path, from the end of the message data to the
// reply, is at least two flushes one after the other: the message file and
// its directory entry must be on disk before the index record that names
// them commits (its WAL fsync), or a crash could leave a record without a
// file. The sync log lines must be durable before the commit too (nothing
// commits that no replica will hear of). But those lines, MAILBOX and
// APPEND of the mailbox, depend on nothing but its name, and the staged
// file is complete before the mailbox is locked: so both are started here,
// on the instance's kept threads (common/workers.h), once the mailbox is
// opened (a name that does not exist logs nothing) and before its lock is
// taken. They overlap the wait
// for the lock, the message cache's parse, the link and the directory's
// flush, and deliveries waiting for the same mailbox's lock share the log
// daemon's journal flushes (group commit), which announcing under the lock
// prevented. commit() waits for them before the index commits, so the
// order of what reaches the disk is the same as without them: (file,
// directory entry, log lines) before the index record. Announcing early is
// safe when the append then fails (a deleted mailbox, the quota): a
// MAILBOX/APPEND line for a mailbox that did not change costs its replicas
// one needless comparison (replay is idempotent), and the hold is released
// (the daemon's DONE) only after the commit or the failure, as for any
// announce. A direct writer (no sync_logd) holds the channel logs'
// in-flight lock (shared) from before the mailbox lock: a reader taking a
// log over waits for that commit, but no writer's lock conflicts with it
// (appends take another byte), and a reader holds no mailbox lock, so no
// wait cycle appears.
struct Instance::EarlyLog {
  EarlyLog() = default;
  EarlyLog(const EarlyLog&) = delete;
  EarlyLog& operator=(const EarlyLog&) = delete;
  // The jobs read `lines` and the staged messages: an append that gives up
  // before commit() waits for them to end.
  ~EarlyLog() {
    if (hold.valid()) hold.wait();
    if (files.valid()) files.wait();
  }
  std::vector<synclog::Line> lines;
  std::future<Result<synclog::LogHold>> hold;
  std::future<Status> files;
};

namespace {

// The requests' indexes grouped by mailbox, in the order of each mailbox's
// first request.
std::vector<std::pair<std::string, std::vector<size_t>>> group_by_mailbox(
    const std::vector<AppendRequest>& requests) {
  std::vector<std::pair<std::string, std::vector<size_t>>> groups;
  std::map<std::string, size_t> group_of;
  for (size_t i = 0; i < requests.size(); i++) {
    auto [it, fresh] = group_of.try_emplace(requests[i].mailbox, groups.size());
    if (fresh) groups.emplace_back(requests[i].mailbox, std::vector<size_t>());
    groups[it->second].second.push_back(i);
  }
  return groups;
}

// The fsync of the staged files whose delivery deferred it (lmtpd), started
// on `workers`; no future (invalid) if there are none.
std::future<Status> make_staged_durable(Workers& workers,
                                        const std::vector<AppendRequest>& requests,
                                        const std::vector<size_t>& idxs) {
  std::vector<const StagedMessage*> deferred;
  for (size_t i : idxs) {
    const StagedMessage* m = requests[i].message;
    if (m != nullptr && m->finished() && !m->durable()) deferred.push_back(m);
  }
  if (deferred.empty()) return {};
  return workers.run([deferred] {
    for (const StagedMessage* m : deferred) {
      Status s = m->make_durable();
      if (!s) return s;
    }
    return Status::success();
  });
}

// Appends requests `idxs` to mailbox `name` in `txn`, each within the quota
// (counting those before it) if it asks; each refusal in its result.
// Returns the indexes appended.
std::vector<size_t> append_records(MailboxTxn& txn, QuotaDb& quota, const std::string& name,
                                   const std::vector<AppendRequest>& requests,
                                   const std::vector<size_t>& idxs,
                                   std::vector<AppendResult>* results) {
  std::vector<size_t> appended;
  uint64_t pending_bytes = 0, pending_msgs = 0;
  for (size_t i : idxs) {
    const AppendRequest& req = requests[i];
    AppendResult& result = (*results)[i];
    if (req.message == nullptr || !req.message->finished()) {
      result.status = Status(Code::kInternal, "append of an unfinished message");
      continue;
    }
    if (req.check_quota) {
      Status q = quota.check(name, pending_bytes + req.message->size(), pending_msgs + 1);
      if (!q) {
        result.status = q;
        continue;
      }
    }
    auto rec = txn.append_new(*req.message, req.system_flags, req.user_flags, req.internaldate);
    if (!rec.ok()) {
      result.status = rec.status();
      continue;
    }
    pending_bytes += rec->size;
    pending_msgs++;
    result.uid = rec->uid;
    result.uidvalidity = txn.counters().uidvalidity;
    appended.push_back(i);
  }
  return appended;
}

}  // namespace

std::vector<AppendResult> Instance::append(const std::vector<AppendRequest>& requests) {
  std::vector<AppendResult> results(requests.size());
  if (Status w = check_writable(); !w) {
    for (auto& r : results) r.status = w;
    return results;
  }
  for (const auto& group : group_by_mailbox(requests)) {
    // Named references, not a structured binding: clang 14 (clang-tidy, the
    // fuzz build) cannot capture a structured binding in fail_all.
    const std::string& name = group.first;
    const std::vector<size_t>& idxs = group.second;
    auto fail_all = [&](const Status& st) {
      for (size_t i : idxs) results[i] = AppendResult{st, 0, 0};
    };
    // The owner's fence before anything is announced (commit() checks
    // again, under the mailbox lock, for a fence set meanwhile).
    if (Status w = check_writable(name); !w) {
      fail_all(w);
      continue;
    }
    auto mbox = open_mailbox(name);
    if (!mbox.ok()) {
      fail_all(mbox.status());
      continue;
    }
    // Once the mailbox is known to exist, before its lock is taken.
    EarlyLog early;
    early.lines = {{"MAILBOX", {name}}, {"APPEND", {name}}};
    early.hold = workers_.run([this, &early] { return synclog_->announce(early.lines); });
    early.files = make_staged_durable(workers_, requests, idxs);
    auto txn = (*mbox)->begin();
    if (!txn.ok()) {
      fail_all(txn.status());
      continue;
    }
    // Under the mailbox lock: a delete or rename that won the lock first
    // has made this name a tombstone, and the message must not go in.
    Status live = still_live(**mbox);
    if (!live) {
      fail_all(live);
      continue;
    }
    std::vector<size_t> appended = append_records(**txn, *quota_, name, requests, idxs, &results);
    if (appended.empty()) continue;
    Status s = commit(**mbox, **txn, &early);
    if (!s) {
      spdlog::error("append {}: {}", name, s.to_string());
      for (size_t i : appended) results[i] = AppendResult{s, 0, 0};
    }
  }
  return results;
}

Status Instance::check_quota(std::string_view mboxname, uint64_t bytes, uint64_t messages) {
  return quota_->check(mboxname, bytes, messages);
}

Status Instance::wait_replicated() { return synclog_->wait_for_replicas(); }

Status Instance::commit(Mailbox& mbox, MailboxTxn& txn) { return commit(mbox, txn, nullptr); }

Status Instance::commit(Mailbox& mbox, MailboxTxn& txn, EarlyLog* early) {
  if (Status w = check_writable(mbox.name()); !w) return w;
  // Links handed to other threads (MailboxTxn::defer_links) are all made
  // before the directory is flushed.
  if (Status l = txn.wait_links(); !l) {
    txn.rollback();
    return l;
  }
  // The change is logged (and its new links flushed) before the index
  // commits: a change that cannot be logged is rolled back and reported,
  // and a reader taking the log over waits for the commit (synclog.h). The
  // directory is flushed beside the sync log's write and flushes, so that
  // both share the filesystem's journal commits.
  // Messages staged with a deferred fsync (LMTP) are flushed at the same
  // time: the three flushes cost about one journal commit, not three.
  // With `early` (Instance::append), the lines and the staged files were
  // handed over before the mailbox was locked: their results are taken
  // here, before anything commits. Early lines that are not exactly this
  // transaction's are released and these logged now.
  // With them the directory is flushed in this thread: the other flushes
  // are already under way (most often done), and handing it over costs
  // more than the wait.
  std::future<Status> flushed;
  std::future<Status> staged;
  Status durable = Status::success();
  if (txn.appended()) {
    const std::string& dir = mbox.dir();  // the async flush captures a copy
    if (early != nullptr)
      durable = fs::fsync_dir(dir);
    else
      flushed = workers_.run([dir] { return fs::fsync_dir(dir); });
  }
  if (early != nullptr && early->files.valid()) {
    Status s = early->files.get();
    if (durable) durable = s;
  }
  // After the early flushes are joined: make_durable() is not re-entrant
  // (a no-op for the files they made durable).
  if (txn.has_unflushed_staged()) staged = workers_.run([&txn] { return txn.flush_staged(); });
  std::optional<Result<synclog::LogHold>> announced;
  if (early != nullptr && early->hold.valid()) {
    auto hold = early->hold.get();
    if (early->lines == txn.log_lines()) announced.emplace(std::move(hold));
  }
  if (!announced) announced.emplace(synclog_->announce(txn.log_lines()));
  auto& logged = *announced;
  if (flushed.valid()) {
    Status s = flushed.get();
    if (durable) durable = s;
  }
  if (staged.valid()) {
    Status s = staged.get();
    if (durable) durable = s;
  }
  if (!logged.ok()) {
    txn.rollback();
    return logged.status();
  }
  if (!durable) {
    txn.rollback();
    return durable;
  }
  Status s = txn.commit_deferred_log();
  if (!s) return s;
  Status q = quota_->add_usage(mbox.name(), txn.delta_bytes(), txn.delta_messages());
  if (!q) spdlog::warn("{}: quota usage: {}", mbox.name(), q.to_string());
  return Status::success();
}

Status Instance::store_flags(std::string_view name, const std::vector<uint32_t>& uids,
                             uint32_t system_flags, const std::vector<std::string>& user_flags,
                             bool add) {
  if (Status w = check_writable(name); !w) return w;
  auto mbox = open_mailbox(name);
  if (!mbox.ok()) return mbox.status();
  auto txn = (*mbox)->begin();
  if (!txn.ok()) return txn.status();
  for (uint32_t uid : uids) {
    auto rec = (*txn)->record(uid);
    if (!rec.ok()) {
      if (rec.status().code() == Code::kNotFound) continue;
      return rec.status();
    }
    if (rec->expunged()) continue;
    uint32_t sys = add ? (rec->system_flags | system_flags) : (rec->system_flags & ~system_flags);
    sys &= ~kFlagExpunged;
    std::vector<std::string> uf =
        change_keywords(rec->user_flags, user_flags, add ? FlagChange::kAdd : FlagChange::kRemove);
    if (sys == (rec->system_flags & ~kFlagExpunged) && same_keywords(uf, rec->user_flags)) continue;
    Status s = (*txn)->set_flags(uid, sys, uf);
    if (!s) return s;
  }
  return commit(**mbox, **txn);
}

Status Instance::expunge(std::string_view name, const std::vector<uint32_t>& uids) {
  if (Status w = check_writable(name); !w) return w;
  auto mbox = open_mailbox(name);
  if (!mbox.ok()) return mbox.status();
  auto txn = (*mbox)->begin();
  if (!txn.ok()) return txn.status();
  for (uint32_t uid : uids) {
    Status s = (*txn)->expunge(uid);
    if (!s && s.code() != Code::kNotFound) return s;
  }
  return commit(**mbox, **txn);
}

Result<uint64_t> Instance::purge_expunged(std::string_view name, int64_t before) {
  if (Status w = check_writable(name); !w) return w;
  auto mbox = open_mailbox(name);
  if (!mbox.ok()) return mbox.status();
  auto txn = (*mbox)->begin();
  if (!txn.ok()) return txn.status();
  UidRuns old;
  uint64_t n = 0;
  Status s = (*mbox)->for_each_record(0, [&](const IndexRecord& r) {
    if (r.expunged() && r.last_updated < before) {
      old.add(r.uid);
      n++;
    }
    return true;
  });
  if (!s) return s;
  if (n == 0) return uint64_t{0};
  old.for_each([&](uint32_t uid) {
    if (s) s = (*txn)->purge_expunged(uid);
  });
  if (!s) return s;
  if (Status c = commit(**mbox, **txn); !c) return c;
  return n;
}

Status Instance::set_seen(std::string_view userid, const SeenRecord& rec) {
  if (Status w = check_user_writable(userid); !w) return w;
  Status s = validate_userid(userid);
  if (!s) return s;
  auto logged = synclog_->announce({{"SEEN", {std::string(userid), rec.uniqueid}}});
  if (!logged.ok()) return logged.status();
  return userdata_->set_seen(userid, rec);
}

Status Instance::set_subscribed(std::string_view userid, std::string_view mboxname,
                                bool subscribed) {
  if (Status w = check_user_writable(userid); !w) return w;
  Status s = validate_userid(userid);
  if (!s) return s;
  s = validate_mboxname(mboxname);
  if (!s) return s;
  auto logged = synclog_->announce({{"SUB", {std::string(userid), std::string(mboxname)}}});
  if (!logged.ok()) return logged.status();
  return userdata_->set_subscribed(userid, mboxname, subscribed);
}

Status Instance::recompute_quota_usage(std::string_view root) {
  uint64_t bytes = 0, messages = 0;
  std::vector<MailboxEntry> tree;
  auto t = mboxlist_->list_tree(root);
  if (!t.ok()) return t.status();
  for (const auto& e : *t) {
    if (!e.is_real()) continue;
    auto governing = quota_->find_root(e.name);
    if (!governing.ok()) return governing.status();
    if (!governing->has_value() || (*governing)->root != root) continue;
    auto mbox = open_mailbox(e.name);
    if (!mbox.ok()) continue;
    auto c = (*mbox)->counters();
    if (!c.ok()) return c.status();
    bytes += c->quota_used;
    messages += c->exists;
  }
  return quota_->set_usage(root, bytes, messages);
}

Status Instance::set_quota(std::string_view root, int64_t storage_kib, int64_t messages,
                           uint64_t modseq) {
  if (Status w = check_writable(); !w) return w;
  Status s = validate_mboxname(root);
  if (!s) return s;
  auto logged = synclog_->announce({{"QUOTA", {std::string(root)}}});
  if (!logged.ok()) return logged.status();
  auto q = quota_->set_limits(root, storage_kib, messages, modseq);
  if (!q.ok()) return q.status();
  return recompute_quota_usage(root);
}

Status Instance::remove_quota(std::string_view root) {
  if (Status w = check_writable(); !w) return w;
  auto q = quota_->get(root);
  if (!q.ok()) return q.status();
  auto logged = synclog_->announce({{"QUOTA", {std::string(root)}}});
  if (!logged.ok()) return logged.status();
  return quota_->remove(root);
}

Status Instance::set_annotation(std::string_view mboxname, std::string_view entry,
                                std::string_view userid, std::string_view value) {
  if (Status w = check_writable(mboxname); !w) return w;
  Annotation a{std::string(mboxname), std::string(entry), std::string(userid), std::string(value),
               0};
  if (mboxname.empty()) {
    auto logged = synclog_->announce({{"ANNOTATION", {""}}});
    if (!logged.ok()) return logged.status();
    return annotations_->set(a);
  }
  // A mailbox annotation change is a change of the mailbox: it takes the
  // mailbox's next modseq, and the mailbox is logged.
  auto mbox = open_mailbox(mboxname);
  if (!mbox.ok()) return mbox.status();
  auto txn = (*mbox)->begin();
  if (!txn.ok()) return txn.status();
  // Logged before either database changes (the annotation is not in the
  // mailbox's transaction).
  auto logged = synclog_->announce({{"MAILBOX", {std::string(mboxname)}}});
  if (!logged.ok()) return logged.status();
  a.modseq = (*txn)->next_modseq();
  Status s = annotations_->set(a);
  if (!s) return s;
  return (*txn)->commit_deferred_log();
}

Status Instance::delete_user_data(std::string_view userid) {
  if (Status w = check_user_writable(userid); !w) return w;
  Status s = validate_userid(userid);
  if (!s) return s;
  auto logged = synclog_->announce({{"UNUSER", {std::string(userid)}}});
  if (!logged.ok()) return logged.status();
  return userdata_->delete_user(userid);
}

Status Instance::put_replicated_entry(const MailboxEntry& entry, uint64_t modseq) {
  if (Status w = check_writable(entry.name); !w) return w;
  Status s = validate_mboxname(entry.name);
  if (!s) return s;
  s = mboxlist_->raise_modseq(modseq);
  if (!s) return s;
  auto cur = mboxlist_->lookup(entry.name);
  if (cur.ok() && *cur == entry) return Status::success();
  if (!cur.ok() && cur.status().code() != Code::kMailboxNonexistent) return cur.status();
  auto logged = synclog_->announce({{"MAILBOX", {entry.name}}});
  if (!logged.ok()) return logged.status();
  return mboxlist_->put(entry);
}

Status Instance::put_replicated_annotations(std::string_view mboxname,
                                            const std::vector<Annotation>& annots) {
  if (Status w = check_writable(mboxname); !w) return w;
  auto have = annotations_->list(mboxname);
  if (!have.ok()) return have.status();
  std::vector<Annotation> writes;
  for (const auto& a : *have) {
    bool kept = std::any_of(annots.begin(), annots.end(), [&](const Annotation& x) {
      return x.entry == a.entry && x.userid == a.userid;
    });
    if (kept) continue;
    Annotation del = a;
    del.value.clear();
    writes.push_back(std::move(del));
  }
  for (Annotation a : annots) {
    a.mboxname = std::string(mboxname);
    auto cur = annotations_->get(a.mboxname, a.entry, a.userid);
    if (cur.ok() && *cur == a) continue;
    writes.push_back(std::move(a));
  }
  if (writes.empty()) return Status::success();
  auto logged = synclog_->announce({{"MAILBOX", {std::string(mboxname)}}});
  if (!logged.ok()) return logged.status();
  for (const auto& a : writes) {
    Status s = annotations_->set(a);
    if (!s) return s;
  }
  return Status::success();
}

}  // namespace replimail::store
