#include "sync/verify.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/fs.h"
#include "common/mboxname_owner.h"
#include "store/mboxname.h"
#include "sync/channel_status.h"
#include "sync/protocol.h"
#include "sync/state.h"

namespace replimail::sync {

namespace {

using dlist::Value;

Value keyed(std::string key, Value v) {
  v.set_key(std::move(key));
  return v;
}

}  // namespace

Verifier::Verifier(store::Instance& instance, ReplicaConnection& conn, FetchSink& sink,
                   VerifyOptions opts, std::function<void(const std::string&)> report)
    : inst_(instance),
      conn_(conn),
      sink_(sink),
      opts_(std::move(opts)),
      report_(std::move(report)) {}

bool Verifier::skipped(const std::string& name) const {
  // Kept by delete_mode: delayed, on either side at its own pace (as
  // cyr_digest leaves them out).
  return name.starts_with(inst_.config().get("deletedprefix") + ".");
}

std::string Verifier::prefix(const std::string& tag, const std::string& name) const {
  std::string user = mboxname_owner(name, inst_.config().get("deletedprefix"));
  return fmt::format("{} channel={} user={} mailbox={}", tag,
                     opts_.channel.empty() ? "\"\"" : opts_.channel, user.empty() ? "-" : user,
                     name);
}

Status Verifier::add_primary(Pairs& pairs, const store::MailboxEntry& e) {
  if (!e.is_real() || skipped(e.name)) return Status::success();
  auto m = mailbox_state(inst_, e, false);
  if (!m.ok()) {
    // Deleted meanwhile: the replica is told of it on its own.
    return m.status().code() == Code::kMailboxNonexistent ? Status::success() : m.status();
  }
  pairs[e.name].primary = std::move(*m);
  return Status::success();
}

Status Verifier::add_replica(Pairs& pairs, const std::vector<Value>& items) {
  for (const Value& item : items) {
    if (item.key() != "MAILBOX") continue;
    auto m = mailbox_from_dlist(item);
    if (!m.ok()) return m.status();
    if (m->intermediate() || skipped(m->mboxname)) continue;
    std::string name = m->mboxname;
    pairs[name].replica = std::move(*m);
  }
  return Status::success();
}

Result<Verifier::Pairs> Verifier::look_user(const std::string& userid) {
  Pairs pairs;
  auto entries = user_entries(inst_, userid);
  if (!entries.ok()) return entries.status();
  for (const auto& e : *entries)
    if (Status s = add_primary(pairs, e); !s) return s;
  auto reply = conn_.command("GET", keyed("USER", Value::atom(userid)));
  if (!reply.ok()) {
    // A replica without the user answers "no such mailbox".
    if (reply.status().code() == Code::kMailboxNonexistent) return pairs;
    return reply.status();
  }
  if (Status s = add_replica(pairs, reply->items); !s) return s;
  return pairs;
}

Result<Verifier::Pairs> Verifier::look_names(const std::vector<std::string>& names) {
  Pairs pairs;
  for (const auto& n : names) {
    auto e = inst_.mailboxes().lookup(n);
    if (!e.ok()) {
      if (e.status().code() == Code::kMailboxNonexistent) continue;
      return e.status();
    }
    if (Status s = add_primary(pairs, *e); !s) return s;
  }
  auto reply = conn_.command("GET", keyed("MAILBOXES", atom_list(names)));
  if (!reply.ok()) {
    if (reply.status().code() == Code::kMailboxNonexistent) return pairs;
    return reply.status();
  }
  if (Status s = add_replica(pairs, reply->items); !s) return s;
  return pairs;
}

Result<std::vector<RecordItem>> Verifier::primary_records(const std::string& name) {
  auto mbox = inst_.open_mailbox(name);
  if (!mbox.ok()) return mbox.status();
  store::Mailbox& mb = **mbox;
  Status s = mb.begin_read();
  if (!s) return s;
  std::vector<RecordItem> out;
  Status failed;
  s = mb.for_each_record(0, [&](const store::IndexRecord& r) {
    auto item = record_item(mb, r);
    if (!item.ok()) {
      failed = item.status();
      return false;
    }
    out.push_back(std::move(*item));
    return true;
  });
  mb.end_read();
  if (!s) return s;
  if (!failed) return failed;
  return out;
}

Result<std::vector<RecordItem>> Verifier::replica_records(const std::string& name) {
  auto reply = conn_.command("GET", keyed("FULLMAILBOX", Value::atom(name)));
  if (!reply.ok()) return reply.status();
  for (const Value& item : reply->items) {
    if (item.key() != "MAILBOX") continue;
    auto m = mailbox_from_dlist(item);
    if (!m.ok()) return m.status();
    if (m->records) return std::move(*m->records);
  }
  return Status(Code::kProtocolError, name + ": GET FULLMAILBOX answered no records");
}

Result<std::vector<Difference>> Verifier::differences(const std::string& name, const Pair& pair) {
  if (!pair.replica) return std::vector<Difference>{{0, "missing on the replica", true}};
  if (!pair.primary)
    return std::vector<Difference>{
        {0, fmt::format("only on the replica (uniqueid {})", pair.replica->uniqueid), false}};
  std::vector<Difference> out = mailbox_differences(*pair.primary, *pair.replica);
  if (!out.empty() && pair.primary->uniqueid != pair.replica->uniqueid) return out;
  if (!records_may_differ(*pair.primary, *pair.replica)) return out;
  auto mine = primary_records(name);
  if (!mine.ok()) return mine.status();
  auto theirs = replica_records(name);
  if (!theirs.ok()) return theirs.status();
  for (auto& d : record_differences(*mine, *theirs, pair.replica->last_uid))
    out.push_back(std::move(d));
  return out;
}

std::string Verifier::repair(const std::string& name, const Pair& pair,
                             const std::vector<Difference>& diffs) {
  // A record's reason first: the mailbox's counters only follow from it.
  const Difference* stop = nullptr;
  for (const auto& d : diffs)
    if (!d.repairable && (stop == nullptr || (stop->uid == 0 && d.uid != 0))) stop = &d;
  const std::string client =
      fmt::format("sync_client{}", opts_.channel.empty() ? "" : " -n " + opts_.channel);
  if (!pair.primary) {
    // Never deleted by the verifier: it may hold mail only the replica has
    // (a folder made there during a failover).
    auto here = inst_.mailboxes().lookup_uniqueid(pair.replica->uniqueid);
    if (here.ok() && here->is_real())
      return fmt::format("the replica's copy of {} under an old name; {} -m {} renames it",
                         here->name, client, here->name);
    std::string user = mboxname_owner(name, inst_.config().get("deletedprefix"));
    if (user.empty()) return "only on the replica; create it here, or delete it on the replica";
    return fmt::format(
        "only on the replica; {} -u {} adopts it into the primary (it changes the primary), or "
        "delete it on the replica",
        client, user);
  }
  if (stop != nullptr) {
    const Difference& d = *stop;
    return fmt::format(
        "{}{}: only a merge that changes the primary resolves it; review, then run {} -m {}",
        d.uid ? fmt::format("uid {} ", d.uid) : "", d.what, client, name);
  }
  {
    ClientOptions co;
    co.channel = opts_.channel;
    co.no_copyback = true;
    co.push_all = true;
    SyncClient sync(inst_, conn_, sink_, co);
    Status s = sync.sync_mailboxes({name});
    if (!s) return "sync failed: " + s.to_string();
  }
  auto again = look_names({name});
  if (!again.ok()) return "could not look again: " + again.status().to_string();
  auto it = again->find(name);
  if (it == again->end()) return "";
  auto left = differences(name, it->second);
  if (!left.ok()) return "could not look again: " + left.status().to_string();
  if (left->empty()) return "";
  return "still differs after repair: " + left->front().what;
}

Status Verifier::check(Result<Pairs> first) {
  if (!first.ok()) {
    stats_.errors++;
    return first.status();
  }
  stats_.mailboxes_checked += first->size();
  std::vector<std::string> suspects;
  for (const auto& [name, pair] : *first)
    if (!pair.primary || !pair.replica ||
        !mailbox_differences(*pair.primary, *pair.replica).empty())
      suspects.push_back(name);
  if (suspects.empty()) return Status::success();
  Pairs second;
  if (opts_.settle.count() > 0) {
    std::this_thread::sleep_for(opts_.settle);
    auto again = look_names(suspects);
    if (!again.ok()) {
      stats_.errors++;
      return again.status();
    }
    second = std::move(*again);
  } else {
    for (const auto& n : suspects) second[n] = (*first)[n];
  }
  Status result;
  // Children before their parents: an extra subtree goes leaf first.
  for (auto it = second.rbegin(); it != second.rend(); ++it) {
    const std::string& name = it->first;
    auto diffs = differences(name, it->second);
    if (!diffs.ok()) {
      stats_.errors++;
      spdlog::error("{}: {}", prefix("ERROR", name), diffs.status().to_string());
      if (result) result = diffs.status();
      continue;
    }
    if (diffs->empty()) continue;
    stats_.divergent_mailboxes++;
    size_t records = 0;
    for (const auto& d : *diffs) {
      stats_.divergences++;
      if (d.uid != 0 && ++records > opts_.max_record_lines) continue;
      report_(fmt::format("{}{}: {}", prefix("DIVERGENCE", name),
                          d.uid ? fmt::format(" uid={}", d.uid) : "", d.what));
    }
    if (records > opts_.max_record_lines)
      report_(fmt::format("{}: {} more records differ", prefix("DIVERGENCE", name),
                          records - opts_.max_record_lines));
    if (!opts_.repair) continue;
    std::string why = repair(name, it->second, *diffs);
    if (why.empty()) {
      stats_.repaired++;
      report_(prefix("REPAIRED", name));
    } else {
      stats_.unrepaired++;
      report_(fmt::format("{}: {}", prefix("UNREPAIRED", name), why));
    }
  }
  return result;
}

Status Verifier::verify_user(const std::string& userid) { return check(look_user(userid)); }

Status Verifier::verify_mailboxes(const std::vector<std::string>& names) {
  return check(look_names(names));
}

Status Verifier::verify_all() {
  auto users = inst_.mailboxes().users();
  if (!users.ok()) return users.status();
  Status result;
  for (const auto& u : *users) {
    Status s = verify_user(u);
    if (!s && result) result = s;
  }
  std::vector<std::string> shared;
  Status s = inst_.mailboxes().list("", false, [&](const store::MailboxEntry& e) {
    if (e.is_real() && store::mboxname_owner(e.name).empty() && !skipped(e.name))
      shared.push_back(e.name);
    return true;
  });
  if (!s) return s;
  if (!shared.empty()) {
    s = verify_mailboxes(shared);
    if (!s && result) result = s;
  }
  return result;
}

std::string verify_status_path(const std::string& configdirectory, const std::string& channel) {
  return channel_dir(configdirectory, channel) + "/verify.json";
}

Status record_verify_run(const std::string& configdirectory, const VerifyRun& run) {
  using json = nlohmann::json;
  const std::string path = verify_status_path(configdirectory, run.channel);
  json totals = json::object();
  if (auto old = fs::read_file(path); old.ok()) {
    json j = json::parse(*old, nullptr, false);
    if (j.is_object() && j.contains("totals") && j["totals"].is_object()) totals = j["totals"];
  }
  auto add = [&](const char* key, uint64_t n) {
    uint64_t before =
        totals.contains(key) && totals[key].is_number_unsigned() ? totals[key].get<uint64_t>() : 0;
    totals[key] = before + n;
  };
  const VerifyStats& st = run.stats;
  add("runs", 1);
  add("divergences", st.divergences);
  add("repaired", st.repaired);
  add("unrepaired", st.unrepaired);
  add("errors", st.errors);
  json j = {{"channel", run.channel},
            {"time", run.time_ms},
            {"duration_ms", run.duration_ms},
            {"mode", run.repair ? "repair" : "report"},
            {"scope", run.scope},
            {"exit", run.exit_code},
            {"mailboxes_checked", st.mailboxes_checked},
            {"divergent_mailboxes", st.divergent_mailboxes},
            {"divergences", st.divergences},
            {"repaired", st.repaired},
            {"unrepaired", st.unrepaired},
            {"errors", st.errors},
            {"totals", totals}};
  Status s = fs::make_dirs(channel_dir(configdirectory, run.channel));
  if (!s) return s;
  return fs::write_file_atomic(path, j.dump() + "\n");
}

}  // namespace replimail::sync
