// clusterd: the slot's registration in the cluster directory (issue 19,
// docs/CLUSTER.md).
//
//   clusterd [-C imapd.conf] [-M cyrus.conf] [-v]
//
// Run by master as a DAEMON entry (cyrus.conf:
//   clusterd cmd="clusterd -M /etc/cyrus.conf"); stays in the foreground.
// Reads the cluster options of imapd.conf (cluster_etcd_endpoints,
// cluster_slot_name, ...) and the slot's ports from cyrus.conf's SERVICES,
// then holds <prefix>slots/<name> in etcd under a lease it keeps alive
// (cluster/registration.h). Beside that (docs/CLUSTER.md "Automatic
// failover"): it runs the commands the failover controller leaves for the
// slot (a promotion or a rejoin: admin/promote.h, master sent SIGHUP as
// its parent), publishes how far each replica slot it feeds has applied
// (<prefix>replication/<name>, every TTL/3), feeds the replica slots its
// users are placed on and writes their bootstrap keys (cluster/
// replica_feed.h), and with cluster_controller:
// yes stands for the controller (cluster/controller.h). Master SIGKILLs it
// when master dies, so a dead
// slot's key goes when the lease's TTL runs out. SIGTERM or SIGINT: the
// lease is revoked (the key goes at once), exit 0. Exit 64 on a usage
// error, 78 on a configuration error.
#include <signal.h>
#include <sysexits.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "admin/promote.h"
#include "cluster/controller.h"
#include "cluster/etcd_client.h"
#include "cluster/move_target.h"
#include "cluster/registration.h"
#include "cluster/replica_feed.h"
#include "common/config.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/program_config.h"
#include "master/cyrus_conf.h"
#include "store/instance.h"
#include "sync/channel_status.h"

using namespace replimail;

namespace {

// How far each replica slot this slot feeds has applied: its channels with
// a sync host (named after the replica slot, cluster::channel_for_slot),
// read from the channel files as sync_status reads them. nullopt when the
// slot feeds no replica.
std::optional<cluster::ReplicationReport> replication_report(const std::string& conf_path,
                                                             const std::string& slot) {
  auto cfg = Config::load(conf_path);  // again each time: cyr_promote may have changed it
  if (!cfg.ok()) return std::nullopt;
  cluster::ReplicationReport r;
  r.slot = slot;
  r.at_ms = sync::unix_ms_now();
  for (const sync::ChannelReport& c : sync::inspect_channels(*cfg, r.at_ms)) {
    if (c.channel.empty() || cfg->channel_get(c.channel, "sync_host").empty()) continue;
    bool complete = !c.phase || c.phase->phase == store::ChannelPhase::kRolling;
    r.complete_through_ms[c.channel] = complete ? r.at_ms - sync::replication_lag_ms(c) : 0;
  }
  if (r.complete_through_ms.empty()) return std::nullopt;
  return r;
}

constexpr std::string_view kOwnFence = "fenced by clusterd:";

// The slot's lease is lost: the controller may be promoting a replica of
// its users, so the slot takes no more changes (store/instance.h's
// read-only fence) until it is registered again. A fence already there
// (cyr_promote's) is left as it is.
void fence_self(const std::string& fence, const std::string& slot) {
  if (fs::exists(fence)) return;
  Status s = fs::write_file_atomic(
      fence, fmt::format("{} the lease of slot {} was lost at {}: a replica may be promoted\n",
                         kOwnFence, slot, std::time(nullptr)));
  if (s.is_ok())
    spdlog::warn(
        "clusterd: slot {}: lease lost: {} written, changes refused until the slot is "
        "registered again",
        slot, fence);
  else
    spdlog::error("clusterd: slot {}: lease lost, and {} could not be written: {}", slot, fence,
                  s.to_string());
}

// Registered again: the fence clusterd wrote goes, unless the controller
// left a rejoin command (the slot was failed over; rejoin lifts it once
// the slot no longer feeds anyone).
void unfence_self(const std::string& fence, const std::string& slot, cluster::EtcdClient& etcd,
                  const cluster::KeyLayout& layout) {
  auto text = fs::read_file(fence);
  if (!text.ok() || text->rfind(kOwnFence, 0) != 0) return;
  auto rejoin = etcd.get(layout.command_key(slot, cluster::kRejoinCommand));
  if (!rejoin.ok() || !rejoin->kvs.empty()) return;
  if (Status s = fs::remove_file(fence); s.is_ok())
    spdlog::info("clusterd: slot {}: registered again, {} removed", slot, fence);
}

// The promotion, rejoin and channel steps edit the same files: one at a
// time (admin/promote.h).
std::mutex conf_edits;
// The record of the channels clusterd owns (cluster/replica_feed.h): the
// feeder and the promotion update it, one at a time.
std::mutex owned_edits;

Status update_owned(const std::string& path, const std::set<std::string>& own,
                    const std::set<std::string>& disown) {
  std::lock_guard<std::mutex> lock(owned_edits);
  return cluster::update_owned_channels(path, own, disown);
}

// The promotion steps' options for this slot: its config files, and master
// (clusterd's parent) to signal.
admin::PromoteOptions promote_options(const std::string& conf, const std::string& cyrus_conf) {
  admin::PromoteOptions o;
  o.conf = std::filesystem::absolute(conf).string();
  o.cyrus_conf = std::filesystem::absolute(cyrus_conf).string();
  o.master_pid = ::getppid();
  return o;
}

// Runs one of admin/promote.h's step sequences with `o`, each line logged
// under `label`; kInternal with the exit code and the last line if it
// failed.
Status run_steps(const std::string& label, const admin::PromoteOptions& o,
                 int (*steps)(const admin::PromoteOptions&, const admin::PromoteOutput&)) {
  std::string last;
  admin::PromoteOutput out{[&](const std::string& line) {
                             spdlog::info("clusterd: {}: {}", label, line);
                             last = line;
                           },
                           [&](const std::string& line) {
                             spdlog::error("clusterd: {}: {}", label, line);
                             last = line;
                           }};
  int rc = steps(o, out);
  if (rc != 0) return Status(Code::kInternal, fmt::format("exit {}: {}", rc, last));
  return Status::success();
}

// Runs a command of the controller here: the promotion or rejoin steps,
// each line logged.
Result<std::string> run_command(const cluster::SlotCommand& c, const std::string& conf,
                                const std::string& cyrus_conf, const std::string& owned_path) {
  std::lock_guard<std::mutex> edits(conf_edits);
  admin::PromoteOptions o = promote_options(conf, cyrus_conf);
  Status s;
  if (c.op == cluster::SlotCommand::Op::kRejoin) {
    s = run_steps(c.name, o, admin::rejoin);
  } else {
    o.old_primary =
        admin::PromoteTarget{cluster::channel_for_slot(c.old_primary), c.old_primary_sync};
    for (const auto& [slot, host] : c.replicas)
      o.replicas.push_back({cluster::channel_for_slot(slot), host});
    // The promotion's channels are clusterd's: removed when no user of
    // this slot names their replica slot any more.
    std::set<std::string> own{o.old_primary->channel};
    for (const auto& t : o.replicas) own.insert(t.channel);
    s = update_owned(owned_path, own, {});
    if (s.is_ok()) s = run_steps(c.name, o, admin::promote);
  }
  if (!s.is_ok()) return s;
  return std::string(c.op == cluster::SlotCommand::Op::kRejoin ? "rejoined as a replica"
                                                               : "promoted");
}

// The slot's registration follows the role imapd.conf gives it now (a
// promotion or a rejoin writes it: clusterd's commands, or cyr_promote by
// hand).
void follow_role(const std::string& conf, cluster::SlotRegistrar& registrar) {
  auto cfg = Config::load(conf);
  if (!cfg.ok()) return;
  const std::string role = cfg->get("cluster_slot_role");
  if (role == "primary" || role == "replica") registrar.set_role(role);
}

// This instance's replication channels (those with a sync host), for the
// replica feeder: where each sends, and its state in mailboxes.db.
Result<std::map<std::string, cluster::FeedChannel>> feed_channels(const std::string& conf_path) {
  auto cfg = Config::load(conf_path);  // again each time: channels are added meanwhile
  if (!cfg.ok()) return cfg.status();
  std::map<std::string, cluster::FeedChannel> out;
  for (sync::ChannelReport& c : sync::inspect_channels(*cfg, sync::unix_ms_now())) {
    std::string host = cfg->channel_get(c.channel, "sync_host");
    if (c.channel.empty() || host.empty()) continue;
    std::string port = cfg->channel_get(c.channel, "sync_port");
    if (host.find(':') == std::string::npos && !port.empty()) host += ":" + port;
    out[c.channel] = {host, std::move(c.phase)};
  }
  return out;
}

// Adds channels to the replica slots placed for this slot's users:
// cyr_promote's channel steps, each line logged.
Status add_feed_channels(const std::vector<cluster::FeedTarget>& targets, const std::string& conf,
                         const std::string& cyrus_conf) {
  std::lock_guard<std::mutex> edits(conf_edits);
  admin::PromoteOptions o = promote_options(conf, cyrus_conf);
  for (const cluster::FeedTarget& t : targets) o.replicas.push_back({t.channel, t.sync_address});
  return run_steps("add channels", o, admin::add_channels);
}

// Removes channels no user of this slot is placed on any more:
// cyr_promote's channel-removing steps, each line logged.
Status remove_feed_channels(const std::vector<std::string>& channels, const std::string& conf,
                            const std::string& cyrus_conf) {
  std::lock_guard<std::mutex> edits(conf_edits);
  admin::PromoteOptions o = promote_options(conf, cyrus_conf);
  for (const std::string& c : channels) o.replicas.push_back({c, ""});
  return run_steps("remove channels", o, admin::remove_channels);
}

// Signals are taken by one thread (sigwait), so the registrar's threads
// never run a handler: SIGTERM or SIGINT sets `stop` and wakes the
// registrar. Called before any other thread starts (they inherit the mask).
void stop_on_signals(std::atomic<bool>& stop, cluster::SlotRegistrar& registrar) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set, &stop, &registrar] {
    int sig = 0;
    sigwait(&set, &sig);
    spdlog::info("clusterd: signal {}: unregistering", sig);
    stop = true;
    registrar.wake();
  }).detach();
}

// A move's unfence command (cluster/move_target.h) for this slot's store.
Result<std::string> unfence(cluster::Directory& dir, const std::string& slot, const Config& config,
                            const std::string& user) {
  auto instance = store::Instance::open(config);
  if (!instance.ok()) return instance.status();
  return cluster::run_unfence(dir, slot, **instance, user);
}

}  // namespace

int main(int argc, char** argv) {
  auto flags = parse_daemon_flags(argc, argv, 'M', "/etc/cyrus.conf", /*required=*/false,
                                  "usage: clusterd [-C imapd.conf] [-M cyrus.conf] [-v]\n");
  if (!flags) return EX_USAGE;
  const std::string& conf = flags->conf;
  const std::string& cyrus_conf = flags->value;
  auto config = load_program_config("clusterd", conf, flags->verbose);
  if (!config.ok()) return EX_CONFIG;
  auto options = cluster::cluster_options(*config, /*need_slot=*/true);
  if (!options.ok()) {
    spdlog::error("{}: {}", conf, options.status().message());
    return EX_CONFIG;
  }
  auto services = master::load_cyrus_conf(cyrus_conf);
  if (!services.ok()) {
    spdlog::error("{}", services.status().to_string());
    return EX_CONFIG;
  }
  auto slot = cluster::slot_info(*options, *services);
  if (!slot.ok()) {
    spdlog::error("{}", slot.status().message());
    return EX_CONFIG;
  }
  auto layout = cluster::KeyLayout::make(options->prefix);
  cluster::EtcdClient etcd(options->etcd);
  cluster::SlotRegistrar registrar(etcd, *layout, std::move(*slot), options->ttl);

  std::atomic<bool> stop{false};
  stop_on_signals(stop, registrar);

  const std::string fence = config->configdirectory() + "/" + std::string(store::kReadOnlyFile);
  registrar.set_hooks({[&] { fence_self(fence, options->slot); },
                       [&] { unfence_self(fence, options->slot, etcd, *layout); }});
  cluster::Directory directory(etcd, *layout);
  const std::string owned_path = cluster::owned_channels_path(config->configdirectory());
  cluster::CommandRunner commands(etcd, *layout, options->slot,
                                  [&](const cluster::SlotCommand& cmd) -> Result<std::string> {
                                    if (cmd.op == cluster::SlotCommand::Op::kUnfence)
                                      return unfence(directory, options->slot, *config, cmd.user);
                                    auto done = run_command(cmd, conf, cyrus_conf, owned_path);
                                    follow_role(conf, registrar);
                                    return done;
                                  });
  std::thread command_thread([&] { commands.run(stop); });
  std::thread publisher([&] {
    while (!stop.load()) {
      if (auto r = replication_report(conf, options->slot))
        (void)etcd.put(layout->replication_key(options->slot), cluster::encode_replication(*r));
      follow_role(conf, registrar);
      for (int i = 0; i < 10 && !stop.load(); i++)
        std::this_thread::sleep_for(std::chrono::milliseconds(options->ttl) / 30);
    }
  });
  cluster::ReplicaFeeder feeder(
      directory, options->slot,
      {[&] { return feed_channels(conf); },
       [&](const std::vector<cluster::FeedTarget>& t) {
         return add_feed_channels(t, conf, cyrus_conf);
       },
       [&](const std::vector<std::string>& c) { return remove_feed_channels(c, conf, cyrus_conf); },
       [&] { return cluster::read_owned_channels(owned_path); },
       [&](const std::set<std::string>& own, const std::set<std::string>& disown) {
         return update_owned(owned_path, own, disown);
       }});
  std::thread feeder_thread([&] { feeder.run(stop); });
  std::optional<cluster::Controller> controller;
  std::thread controller_thread;
  if (options->controller) {
    controller.emplace(etcd, *layout, options->slot, options->ttl);
    controller_thread = std::thread([&] { controller->run(stop); });
  }
  registrar.run(stop);
  command_thread.join();
  publisher.join();
  feeder_thread.join();
  if (controller_thread.joinable()) controller_thread.join();
  return 0;
}
