#include "cluster/move.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <ctime>
#include <thread>

#include "cluster/failover.h"

namespace replimail::cluster {
namespace {

int64_t unix_now() { return static_cast<int64_t>(std::time(nullptr)); }

Status changed(const std::string& user) {
  return Status(Code::kSyncChanged,
                "cluster directory: the move of " + user + " changed meanwhile (another mover?)");
}

// The unfence command (move_target.h) for the move `rec`, pending.
SlotCommand unfence_command(const MoveRecord& rec) {
  SlotCommand c;
  c.slot = rec.target;
  c.name = unfence_command_name(rec.user);
  c.op = SlotCommand::Op::kUnfence;
  c.state = SlotCommand::State::kPending;
  c.user = rec.user;
  c.controller = rec.source;
  return c;
}

}  // namespace

Mover::Mover(Directory& dir, MoveSource& source, MoveOptions options)
    : dir_(dir), source_(source), opts_(std::move(options)) {}

void Mover::say(const std::string& line) const {
  if (opts_.progress) opts_.progress(line);
}

Result<std::optional<MoveRecord>> Mover::recorded(const std::string& user) {
  return dir_.move(user);
}

Result<MoveReport> Mover::move(const std::string& user, const std::string& target) {
  if (Status s = check_slot_name(target); !s.is_ok()) return s;
  auto entry = dir_.user(user);
  if (!entry.ok()) return entry.status();
  if (!entry->has_value()) return Status(Code::kNotFound, "cluster directory: no user " + user);
  const UserEntry& u = **entry;
  if (u.primary != source_.slot())
    return Status(Code::kInvalidArgument,
                  fmt::format("{}'s primary is {}, not this slot ({}): run the move there", user,
                              u.primary, source_.slot()));
  if (target == u.primary)
    return Status(Code::kInvalidArgument, user + " is on " + target + " already");
  MoveRecord rec;
  rec.user = user;
  rec.source = u.primary;
  rec.target = target;
  rec.phase = MovePhase::kCopying;
  rec.started = rec.since = unix_now();
  rec.keep_source = opts_.keep_source;
  if (auto slot = target_slot(rec); !slot.ok()) return slot.status();

  // Created only if absent (create revision 0): one move per user. The
  // target's unfence command with it (a leftover replaced), so the target
  // has looked at its fence long before the switch waits for it.
  std::string key = dir_.layout().move_key(user);
  Txn t;
  t.compare.push_back({key, Compare::Target::kCreate, Compare::Result::kEqual, 0, ""});
  t.success.push_back({TxnOp::Kind::kPut, key, encode_move(rec), "", 0});
  t.success.push_back({TxnOp::Kind::kPut,
                       dir_.layout().command_key(target, unfence_command_name(user)),
                       encode_command(unfence_command(rec)), "", 0});
  auto r = dir_.etcd().txn(t);
  if (!r.ok()) return r.status();
  if (!r->succeeded)
    return Status(
        Code::kMailboxLocked,
        "a move of " + user + " is recorded already: cyr_cluster move --resume or --abort");
  rec.mod_revision = r->revision;
  say(fmt::format("move {}: {} -> {}, recorded", user, rec.source, rec.target));
  return run(std::move(rec));
}

Result<MoveReport> Mover::resume(const std::string& user) {
  auto rec = recorded(user);
  if (!rec.ok()) return rec.status();
  if (!rec->has_value()) return Status(Code::kNotFound, "no move of " + user + " is recorded");
  if ((*rec)->source != source_.slot())
    return Status(Code::kInvalidArgument,
                  fmt::format("the move of {} is from {}, not this slot ({}): resume it there",
                              user, (*rec)->source, source_.slot()));
  say(fmt::format("move {}: resuming in phase {}", user, move_phase_name((*rec)->phase)));
  return run(std::move(**rec));
}

Result<MoveRecord> Mover::abort(const std::string& user) {
  auto found = recorded(user);
  if (!found.ok()) return found.status();
  if (!found->has_value()) return Status(Code::kNotFound, "no move of " + user + " is recorded");
  MoveRecord rec = std::move(**found);
  if (rec.source != source_.slot())
    return Status(Code::kInvalidArgument,
                  fmt::format("the move of {} is from {}, not this slot ({}): abort it there", user,
                              rec.source, source_.slot()));
  if (rec.phase == MovePhase::kSwitched)
    return Status(Code::kInvalidArgument, "the move of " + user + " is switched to " + rec.target +
                                              " already: --resume finishes it");
  // The fence first: once the key is gone nothing would say to lift it.
  if (Status s = source_.lift_fence(user, false); !s.is_ok()) return s;
  Txn t;
  std::string key = dir_.layout().move_key(user);
  t.compare.push_back({key, Compare::Target::kMod, Compare::Result::kEqual, rec.mod_revision, ""});
  t.success.push_back({TxnOp::Kind::kDelete, key, "", "", 0});
  // The target keeps its fence (if any): the user stays elsewhere.
  t.success.push_back({TxnOp::Kind::kDelete,
                       dir_.layout().command_key(rec.target, unfence_command_name(user)), "", "",
                       0});
  auto r = dir_.etcd().txn(t);
  if (!r.ok()) return r.status();
  if (!r->succeeded) return changed(user);
  say(fmt::format("move {}: aborted in phase {}; {} stays the primary", user,
                  move_phase_name(rec.phase), rec.source));
  return rec;
}

Result<SlotInfo> Mover::target_slot(const MoveRecord& rec) {
  auto slot = dir_.slot(rec.target);
  if (!slot.ok()) return slot.status();
  if (!slot->has_value())
    return Status(Code::kInvalidArgument, "slot " + rec.target + " is not alive");
  if ((*slot)->sync_port == 0)
    return Status(Code::kInvalidArgument, "slot " + rec.target + " has no sync_server");
  return std::move(**slot);
}

Status Mover::set_phase(MoveRecord& rec, MovePhase phase) {
  MoveRecord next = rec;
  next.phase = phase;
  next.since = unix_now();
  std::string key = dir_.layout().move_key(rec.user);
  Txn t;
  t.compare.push_back({key, Compare::Target::kMod, Compare::Result::kEqual, rec.mod_revision, ""});
  t.success.push_back({TxnOp::Kind::kPut, key, encode_move(next), "", 0});
  auto r = dir_.etcd().txn(t);
  if (!r.ok()) return r.status();
  if (!r->succeeded) return changed(rec.user);
  next.mod_revision = r->revision;
  rec = std::move(next);
  say(fmt::format("move {}: phase {}", rec.user, move_phase_name(phase)));
  return Status::success();
}

Result<bool> Mover::passes(const MoveRecord& rec, int max, int* count, uint64_t* sent) {
  auto target = target_slot(rec);
  if (!target.ok()) return target.status();
  for (int i = 0; i < max; ++i) {
    auto n = source_.sync_pass(rec.user, *target);
    ++*count;
    if (!n.ok() &&
        (n.status().code() == Code::kSyncChecksum || n.status().code() == Code::kSyncChanged)) {
      // The target's copy changed under the pass (the source's rolling
      // channel to it, when it is a replica already, applies the same
      // changes; LocalMoveSource waits for that channel before each pass,
      // but new mail is logged meanwhile while the user is not fenced): the
      // next pass starts from what the target has now. Only a pass that
      // sends nothing ends the passes.
      say(fmt::format("move {}: pass {}: {}; again", rec.user, *count, n.status().to_string()));
      continue;
    }
    if (!n.ok()) return n.status();
    *sent += *n;
    say(fmt::format("move {}: pass {} sent {} changes", rec.user, *count, *n));
    if (*n == 0) return true;
  }
  return false;
}

Status Mover::copy(MoveRecord& rec, MoveReport& report) {
  auto done = passes(rec, std::max(1, opts_.max_copy_passes), &report.copy_passes, &report.copied);
  if (!done.ok()) return done.status();
  if (!*done)
    say(fmt::format("move {}: still changing after {} passes; fencing anyway", rec.user,
                    report.copy_passes));
  fenced_at_ = std::chrono::steady_clock::now();
  return set_phase(rec, MovePhase::kFenced);
}

Status Mover::fence(MoveRecord& rec, MoveReport& report) {
  // The key says fenced before the source does, so a proxy refuses the
  // user no later than the source; set again on a resume (idempotent).
  if (!fenced_at_) fenced_at_ = std::chrono::steady_clock::now();
  if (Status s = source_.fence(rec.user); !s.is_ok()) return s;
  auto done = passes(rec, std::max(2, opts_.max_fenced_passes), &report.fenced_passes,
                     &report.copied_fenced);
  if (!done.ok()) return done.status();
  if (!*done)
    return Status(Code::kAgain, fmt::format("{} still differs on {} after {} fenced passes; the "
                                            "fence stays (--resume or --abort)",
                                            rec.user, rec.target, report.fenced_passes));
  return flip(rec);
}

Status Mover::flip(MoveRecord& rec) {
  // The user entry and the move's phase in one transaction, each on the
  // revision read: the directory names one primary before and after.
  auto entry = dir_.user(rec.user);
  if (!entry.ok()) return entry.status();
  if (!entry->has_value())
    return Status(Code::kNotFound, "cluster directory: user " + rec.user + " went away");
  UserEntry u = **entry;
  if (u.primary != rec.source)
    return Status(Code::kSyncChanged,
                  fmt::format("{}'s primary became {} during the move", rec.user, u.primary));
  UserEntry next = with_primary(u, rec.target);
  if (!rec.keep_source) {
    auto& r = next.replicas;
    r.erase(std::remove(r.begin(), r.end(), rec.source), r.end());
  }
  MoveRecord switched = rec;
  switched.phase = MovePhase::kSwitched;
  switched.since = unix_now();
  std::string ukey = dir_.layout().user_key(rec.user), mkey = dir_.layout().move_key(rec.user);
  Txn t;
  t.compare.push_back({ukey, Compare::Target::kMod, Compare::Result::kEqual, u.mod_revision, ""});
  t.compare.push_back({mkey, Compare::Target::kMod, Compare::Result::kEqual, rec.mod_revision, ""});
  t.success.push_back({TxnOp::Kind::kPut, ukey, encode_user(next), "", 0});
  t.success.push_back({TxnOp::Kind::kPut, mkey, encode_move(switched), "", 0});
  auto r = dir_.etcd().txn(t);
  if (!r.ok()) return r.status();
  if (!r->succeeded) return changed(rec.user);
  switched.mod_revision = r->revision;
  rec = std::move(switched);
  say(fmt::format("move {}: phase switched: primary {}, replicas {}", rec.user, next.primary,
                  fmt::join(next.replicas, ",")));
  return finish(rec);
}

Status Mover::target_unfenced(const MoveRecord& rec) {
  const std::string name = unfence_command_name(rec.user);
  const std::string key = dir_.layout().command_key(rec.target, name);
  const auto deadline = std::chrono::steady_clock::now() + opts_.unfence_timeout;
  bool asked = false;
  while (true) {
    auto got = dir_.etcd().get(key);
    if (!got.ok()) return got.status();
    const int64_t seen = got->kvs.empty() ? 0 : got->kvs[0].mod_revision;
    std::optional<SlotCommand> c;
    if (!got->kvs.empty()) {
      if (auto d = decode_command(rec.target, name, got->kvs[0].value); d.ok()) c = std::move(*d);
    }
    if (c && c->state == SlotCommand::State::kDone) {
      say(fmt::format("move {}: {}: {}", rec.user, rec.target, c->result));
      return Status::success();
    }
    if (c && c->state == SlotCommand::State::kFailed && asked)
      return Status(Code::kInternal, fmt::format("{} could not lift its fence of {}: {}",
                                                 rec.target, rec.user, c->result));
    if (!c || c->state == SlotCommand::State::kFailed) {
      // Absent (a record older than the command, or made by hand),
      // unreadable, or failed before this run: asked (again).
      Txn t;
      t.compare.push_back({key, Compare::Target::kMod, Compare::Result::kEqual, seen, ""});
      t.success.push_back({TxnOp::Kind::kPut, key, encode_command(unfence_command(rec)), "", 0});
      auto r = dir_.etcd().txn(t);
      if (!r.ok()) return r.status();
      say(fmt::format("move {}: {} asked to lift its fence of the user, if any", rec.user,
                      rec.target));
      asked = true;
      continue;
    }
    if (std::chrono::steady_clock::now() >= deadline)
      return Status(Code::kAgain,
                    fmt::format("{}'s clusterd did not run {} in {} ms; the move stays switched "
                                "(--resume)",
                                rec.target, name, opts_.unfence_timeout.count()));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

Status Mover::finish(MoveRecord& rec) {
  // The target first: once the key is gone proxies route the user there.
  if (Status s = target_unfenced(rec); !s.is_ok()) return s;
  if (Status s = source_.lift_fence(rec.user, true); !s.is_ok()) return s;
  std::string key = dir_.layout().move_key(rec.user);
  std::string command = dir_.layout().command_key(rec.target, unfence_command_name(rec.user));
  Txn t;
  t.compare.push_back({key, Compare::Target::kMod, Compare::Result::kEqual, rec.mod_revision, ""});
  t.success.push_back({TxnOp::Kind::kDelete, key, "", "", 0});
  t.success.push_back({TxnOp::Kind::kDelete, command, "", "", 0});
  auto r = dir_.etcd().txn(t);
  if (!r.ok()) return r.status();
  if (!r->succeeded) return changed(rec.user);
  say(fmt::format("move {}: done; {}'s sessions ended, its fence stays", rec.user, rec.source));
  return Status::success();
}

Result<MoveReport> Mover::run(MoveRecord rec) {
  MoveReport report;
  fenced_at_.reset();
  Status s;
  switch (rec.phase) {
    case MovePhase::kCopying:
      s = copy(rec, report);
      if (!s.is_ok()) break;
      [[fallthrough]];
    case MovePhase::kFenced:
      s = fence(rec, report);
      break;
    case MovePhase::kSwitched: {
      // The flip is done; only the fence and the key are left. The user
      // entry must name the target (the flip wrote both in one transaction).
      auto entry = dir_.user(rec.user);
      if (!entry.ok()) return entry.status();
      if (!entry->has_value() || (*entry)->primary != rec.target)
        return Status(Code::kInternal, "the move of " + rec.user +
                                           " is switched but the user entry does not name " +
                                           rec.target);
      s = finish(rec);
      break;
    }
  }
  if (fenced_at_ && s.is_ok())
    report.pause = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - *fenced_at_);
  report.record = rec;
  if (!s.is_ok()) return s;
  return report;
}

}  // namespace replimail::cluster
