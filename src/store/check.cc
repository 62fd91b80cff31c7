#include "store/check.h"

#include <dirent.h>
#include <errno.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>

#include "common/fs.h"
#include "os/env.h"
#include "store/instance.h"
#include "store/sync_crc.h"

namespace replimail::store {
namespace {

// "123." → 123; anything else → 0.
uint32_t message_uid(const std::string& n) {
  if (n.size() < 2 || n.back() != '.') return 0;
  uint64_t v = 0;
  for (size_t i = 0; i + 1 < n.size(); i++) {
    if (n[i] < '0' || n[i] > '9') return 0;
    v = v * 10 + static_cast<uint64_t>(n[i] - '0');
    if (v > 0xffffffffULL) return 0;
  }
  return static_cast<uint32_t>(v);
}

Result<std::vector<std::string>> list_dir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return std::vector<std::string>();
    return Status(Code::kIoError, fmt::format("opendir {}", dir));
  }
  std::vector<std::string> out;
  while (struct dirent* de = ::readdir(d)) out.emplace_back(de->d_name);
  ::closedir(d);
  return out;
}

struct Live {
  uint64_t size;
  std::string guid;
};

// One check_mailbox() run, under the mailbox's write lock: what the index
// holds, what the directory holds, the problems found, and what repairing
// them takes. Each step adds to the report what it finds.
class MailboxCheck {
 public:
  MailboxCheck(Mailbox& mbox, MailboxTxn& txn, const CheckOptions& opts, CheckReport& report)
      : mbox_(mbox), txn_(txn), opts_(opts), report_(report) {}

  // The records: which UIDs are live, which expunged, the highest of each.
  Status read_index();
  // The message files: those of no live record are orphans.
  Status scan_directory();
  // Each live record's file (missing, size, GUID) and message cache.
  Status check_messages();
  // LAST_UID / HIGHESTMODSEQ against the records, and the stored CRCs and
  // usage against a recomputation.
  Status check_counters();
  // Fixes what the steps found, in the transaction; the caller commits.
  Status repair();

 private:
  Status check_message(uint32_t uid, const Live& l);
  void add(CheckProblem::Kind k, uint32_t uid, std::string detail) {
    report_.problems.push_back({k, uid, std::move(detail)});
  }

  Mailbox& mbox_;
  MailboxTxn& txn_;
  const CheckOptions& opts_;
  CheckReport& report_;
  std::map<uint32_t, Live> live_;
  std::map<uint32_t, bool> known_;  // uid → expunged
  uint32_t max_uid_ = 0;
  uint64_t max_modseq_ = 0;
  std::vector<std::string> orphans_;
  std::map<uint32_t, bool> present_;
  std::vector<uint32_t> missing_;
  std::vector<std::pair<uint32_t, FileDigest>> rewrite_;
  std::vector<uint32_t> uncached_;  // live records whose cache is to be (re)computed
};

Status MailboxCheck::read_index() {
  return mbox_.for_each_record(0, [&](const IndexRecord& r) {
    known_[r.uid] = r.expunged();
    if (!r.expunged()) live_[r.uid] = {r.size, r.guid};
    max_uid_ = std::max(max_uid_, r.uid);
    max_modseq_ = std::max(max_modseq_, r.modseq);
    return true;
  });
}

Status MailboxCheck::scan_directory() {
  auto names = list_dir(mbox_.dir());
  if (!names.ok()) return names.status();
  for (const auto& n : *names) {
    uint32_t uid = message_uid(n);
    if (uid == 0) continue;
    auto it = known_.find(uid);
    // expunge_mode: delayed keeps an expunged record's file until cyr_expire.
    if (it != known_.end() && it->second && mbox_.keep_expunged_files()) continue;
    if (it == known_.end() || it->second) {
      add(CheckProblem::Kind::kOrphanFile, uid,
          it == known_.end() ? "file without index record" : "file of an expunged record");
      orphans_.push_back(mbox_.dir() + "/" + n);
    } else {
      present_[uid] = true;
    }
  }
  return Status::success();
}

Status MailboxCheck::check_messages() {
  for (const auto& [uid, l] : live_) {
    if (!present_.count(uid)) {
      add(CheckProblem::Kind::kMissingFile, uid, mbox_.message_path(uid));
      missing_.push_back(uid);
      continue;
    }
    if (Status s = check_message(uid, l); !s) return s;
  }
  return Status::success();
}

Status MailboxCheck::check_message(uint32_t uid, const Live& l) {
  std::string path = mbox_.message_path(uid);
  FileDigest d;
  if (opts_.verify_content) {
    auto dg = digest_file(path);
    if (!dg.ok()) return dg.status();
    d = *dg;
  } else {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return Status(Code::kIoError, fmt::format("stat {}", path));
    d.size = static_cast<uint64_t>(st.st_size);
    d.guid = l.guid;
  }
  bool bad = false;
  if (d.size != l.size) {
    add(CheckProblem::Kind::kWrongSize, uid,
        fmt::format("record says {} bytes, file has {}", l.size, d.size));
    bad = true;
  }
  if (d.guid != l.guid) {
    add(CheckProblem::Kind::kWrongGuid, uid,
        fmt::format("record GUID {}, file SHA-1 {}", l.guid, d.guid));
    bad = true;
  }
  if (bad) {
    rewrite_.emplace_back(uid, d);
    uncached_.push_back(uid);
    return Status::success();
  }
  auto cached = txn_.has_cache(uid);
  if (!cached.ok()) return cached.status();
  if (!*cached) {
    // A large message's cache is filled on first use, not at append.
    if (cache_at_append(l.size)) add(CheckProblem::Kind::kMissingCache, uid, "no message cache");
    uncached_.push_back(uid);
  }
  return Status::success();
}

Status MailboxCheck::check_counters() {
  MailboxCounters c = txn_.counters();
  if (c.last_uid < max_uid_ || c.highestmodseq < max_modseq_)
    add(CheckProblem::Kind::kCounterBehind, 0,
        fmt::format("LAST_UID {} (max {}), HIGHESTMODSEQ {} (max {})", c.last_uid, max_uid_,
                    c.highestmodseq, max_modseq_));
  // Compare stored CRCs and usage with a recomputation.
  if (Status s = txn_.recompute_derived(); !s) return s;
  const MailboxCounters& d = txn_.counters();
  if (d.sync_crc != c.sync_crc || d.sync_crc_annot != c.sync_crc_annot || d.exists != c.exists ||
      d.quota_used != c.quota_used)
    add(CheckProblem::Kind::kDerivedMismatch, 0,
        fmt::format("stored crc {} annot {} exists {} used {}; computed {} {} {} {}", c.sync_crc,
                    c.sync_crc_annot, c.exists, c.quota_used, d.sync_crc, d.sync_crc_annot,
                    d.exists, d.quota_used));
  return Status::success();
}

Status MailboxCheck::repair() {
  for (const auto& path : orphans_) os::env().unlink(path);
  if (!orphans_.empty()) {
    if (Status s = fs::fsync_dir(mbox_.dir()); !s) return s;
  }
  for (uint32_t uid : missing_) {
    if (Status s = txn_.expunge(uid); !s) return s;
  }
  for (const auto& [uid, dg] : rewrite_) {
    auto r = txn_.record(uid);
    if (!r.ok()) return r.status();
    IndexRecord n = *r;
    n.size = dg.size;
    n.guid = dg.guid;
    n.modseq = txn_.next_modseq();
    if (Status s = txn_.put_record(n, ""); !s) return s;
  }
  for (uint32_t uid : uncached_) {
    auto cache = compute_message_cache(mbox_.message_path(uid));
    if (!cache.ok()) return cache.status();
    if (Status s = txn_.put_cache(uid, *cache); !s) return s;
  }
  MailboxCounters fixed = txn_.counters();
  fixed.last_uid = std::max(fixed.last_uid, max_uid_);
  fixed.highestmodseq = std::max(fixed.highestmodseq, max_modseq_);
  if (!(fixed == txn_.counters())) txn_.set_counters(fixed);
  return txn_.recompute_derived();
}

}  // namespace

std::string_view problem_kind_name(CheckProblem::Kind k) {
  switch (k) {
    case CheckProblem::Kind::kOrphanFile:
      return "orphan-file";
    case CheckProblem::Kind::kMissingFile:
      return "missing-file";
    case CheckProblem::Kind::kWrongSize:
      return "wrong-size";
    case CheckProblem::Kind::kWrongGuid:
      return "wrong-guid";
    case CheckProblem::Kind::kCounterBehind:
      return "counter-behind";
    case CheckProblem::Kind::kDerivedMismatch:
      return "derived-mismatch";
    case CheckProblem::Kind::kStaleStage:
      return "stale-stage";
    case CheckProblem::Kind::kMissingCache:
      return "missing-cache";
  }
  return "unknown";
}

Result<CheckReport> check_mailbox(Instance& inst, const std::string& name,
                                  const CheckOptions& opts) {
  auto mbox = inst.open_mailbox(name);
  if (!mbox.ok()) return mbox.status();
  // The write lock gives a stable view even while others deliver: no append
  // can be half-way (file linked, row not yet committed) while we look.
  auto txn = (*mbox)->begin();
  if (!txn.ok()) return txn.status();
  CheckReport report;
  report.mailbox = name;
  MailboxCheck check(**mbox, **txn, opts, report);
  for (auto step : {&MailboxCheck::read_index, &MailboxCheck::scan_directory,
                    &MailboxCheck::check_messages, &MailboxCheck::check_counters}) {
    if (Status s = (check.*step)(); !s) return s;
  }
  if (!opts.repair || report.ok()) return report;
  if (Status s = check.repair(); !s) return s;
  if (Status s = inst.commit(**mbox, **txn); !s) return s;
  report.repaired = true;
  return report;
}

Result<std::vector<CheckProblem>> check_staging(Instance& inst, bool repair) {
  std::vector<CheckProblem> out;
  for (const auto& p : inst.config().partitions()) {
    auto path = inst.partition_path(p);
    if (!path.ok()) continue;
    std::string dir = *path + "/stage.";
    auto names = list_dir(dir);
    if (!names.ok()) return names.status();
    for (const auto& n : *names) {
      if (n == "." || n == "..") continue;
      long pid = std::strtol(n.c_str(), nullptr, 10);
      if (pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM)) continue;
      std::string stale = fmt::format("{}/{}", dir, n);
      out.push_back({CheckProblem::Kind::kStaleStage, 0, stale});
      if (repair) os::env().unlink(stale);
    }
  }
  return out;
}

Result<size_t> reconstruct(Instance& inst, const std::vector<std::string>& names, bool recursive,
                           const CheckOptions& opts,
                           const std::function<void(const std::string&)>& out) {
  std::vector<std::string> targets;
  auto collect = [&](std::string_view prefix, bool exact) -> Status {
    return inst.mailboxes().list(prefix, false, [&](const MailboxEntry& e) {
      if (e.is_real() &&
          (!exact || e.name == prefix ||
           (recursive && e.name.size() > prefix.size() && e.name[prefix.size()] == '.')))
        targets.push_back(e.name);
      return true;
    });
  };
  if (names.empty()) {
    Status s = collect("", false);
    if (!s) return s;
  } else {
    for (const auto& n : names) {
      auto e = inst.lookup(n);
      if (!e.ok()) return e.status();
      Status s = collect(n, true);
      if (!s) return s;
    }
  }
  size_t problems = 0;
  for (const auto& name : targets) {
    auto r = check_mailbox(inst, name, opts);
    if (!r.ok()) {
      out(fmt::format("{}: {}", name, r.status().to_string()));
      problems++;
      continue;
    }
    for (const auto& p : r->problems)
      out(fmt::format("{}: {} uid {}: {}", name, problem_kind_name(p.kind), p.uid, p.detail));
    if (r->repaired) out(fmt::format("{}: repaired", name));
    problems += r->problems.size();
  }
  auto stale = check_staging(inst, opts.repair);
  if (!stale.ok()) return stale.status();
  for (const auto& p : *stale)
    out(fmt::format("staging: {}: {}{}", problem_kind_name(p.kind), p.detail,
                    opts.repair ? " (removed)" : ""));
  problems += stale->size();
  if (opts.repair) {
    auto roots = inst.quota().list("");
    if (!roots.ok()) return roots.status();
    for (const auto& q : *roots) {
      Status s = inst.recompute_quota_usage(q.root);
      if (!s) return s;
    }
  }
  return problems;
}

}  // namespace replimail::store
