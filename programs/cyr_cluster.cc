// cyr_cluster: the cluster directory by hand (issue 19, docs/CLUSTER.md).
//
//   cyr_cluster [-C imapd.conf] slots
//   cyr_cluster [-C imapd.conf] user <user>
//   cyr_cluster [-C imapd.conf] set-user <user> <primary-slot> [<replica-slot>...]
//   cyr_cluster [-C imapd.conf] set-primary <user> <slot>
//   cyr_cluster [-C imapd.conf] remove-user <user>
//   cyr_cluster [-C imapd.conf] move [-n channel] [--remove-source] <user> <slot>
//   cyr_cluster [-C imapd.conf] move [-n channel] --resume <user>
//   cyr_cluster [-C imapd.conf] move --abort <user>
//   cyr_cluster [-C imapd.conf] place [--replicas N] (--all | <user>...)
//   cyr_cluster [-C imapd.conf] remove-slot [--replicas N] <slot>
//   cyr_cluster [-C imapd.conf] bootstraps
//
// Reads cluster_etcd_endpoints (and the TLS and auth options, docs/CLUSTER.md)
// and cluster_etcd_prefix from imapd.conf.
// `slots` prints one line per live slot:
//   slot <name> host=<host> role=<role> imap=<port> pop3=<port> lmtp=<port> sync=<port>
// `user` prints  user <name> primary=<slot> replicas=<slot>,...  and one
//   bootstrap <slot> <state> since=<unix time> [reason=<one line>]
//   line per replica copy recorded; `bootstraps` prints every copy recorded
//   as  bootstrap <user> <slot> <state> since=<unix time> [reason=...].
// place gives each user (--all: every user) N replicas (default 1) by the
// placement policy (cluster/placement.h: other hosts than the primary's and
// each other's, the slots its primary feeds already, then the least
// loaded), printing  placed <user> replicas=<slot>,... added=... dropped=...
// for each entry written and  refused <reason>  for each user left as it
// was (too few hosts with a live slot: exit 1). The primary slots' clusterd
// then feeds the new replicas (cluster/replica_feed.h). remove-slot
// removes a stopped slot that is no user's primary from the cluster (its
// members key) and places again the users it was a replica of.
// set-user writes the user's entry (compare-and-swap against the entry it
// read); set-primary flips the primary (the old one becomes a replica).
// move moves a user from its primary slot to <slot> (cluster/move.h): it
// runs on the source slot's host with the source's imapd.conf (its
// cluster_slot_name must be the user's primary: the fence is a file of that
// instance), replicates with the credentials of channel -n (default: the
// default channel's sync_authname/sync_password) to the target's
// sync_server, prints one line per step and finally
//   moved <user> <source> -> <target>: copy passes=<n> changes=<n> fenced
//   passes=<n> changes=<n> pause_ms=<ms>
// --remove-source: the source leaves the user entry instead of becoming a
// replica (its copy stays on disk). --resume continues a move that was
// killed; --abort undoes one that was killed before its switch.
// Exit 0; 1 when etcd refuses or the user is unknown (the reason on
// stderr); 64 on a usage error; 78 on a configuration error; 75
// (EX_TEMPFAIL) when no etcd member answered; 70 on an internal error.
// move: 1 when the move failed (it stays recorded, its fence as it was:
// --resume or --abort), 75 when a move of the user is already recorded.
#include <sysexits.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/directory.h"
#include "cluster/move.h"
#include "cluster/move_source.h"
#include "cluster/placer.h"
#include "cluster/registration.h"
#include "common/config.h"
#include "common/log.h"
#include "sync/channel_tool.h"

using namespace replimail;

namespace {

void usage() {
  std::fprintf(
      stderr,
      "usage: cyr_cluster [-C imapd.conf] slots\n"
      "       cyr_cluster [-C imapd.conf] user <user>\n"
      "       cyr_cluster [-C imapd.conf] set-user <user> <primary-slot> [<replica-slot>...]\n"
      "       cyr_cluster [-C imapd.conf] set-primary <user> <slot>\n"
      "       cyr_cluster [-C imapd.conf] remove-user <user>\n"
      "       cyr_cluster [-C imapd.conf] move [-n channel] [--remove-source] <user> <slot>\n"
      "       cyr_cluster [-C imapd.conf] move [-n channel] --resume <user>\n"
      "       cyr_cluster [-C imapd.conf] move --abort <user>\n"
      "       cyr_cluster [-C imapd.conf] place [--replicas N] (--all | <user>...)\n"
      "       cyr_cluster [-C imapd.conf] remove-slot [--replicas N] <slot>\n"
      "       cyr_cluster [-C imapd.conf] bootstraps\n");
}

int failed(const Status& s) {
  std::fprintf(stderr, "cyr_cluster: %s\n", s.to_string().c_str());
  return s.code() == Code::kAgain ? EX_TEMPFAIL : 1;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

void print_user(const cluster::UserEntry& u) {
  std::printf("user %s primary=%s replicas=%s\n", u.user.c_str(), u.primary.c_str(),
              join(u.replicas).c_str());
}

// What a subcommand works with.
struct Context {
  const Config& config;
  const cluster::ClusterOptions& options;
  cluster::Directory& dir;
};

int show_slots(Context& ctx, const std::vector<std::string>&) {
  cluster::Directory& dir = ctx.dir;
  auto slots = dir.slots();
  if (!slots.ok()) return failed(slots.status());
  for (const cluster::SlotInfo& s : *slots) {
    std::printf("slot %s host=%s role=%s imap=%d pop3=%d lmtp=%d sync=%d\n", s.name.c_str(),
                s.host.c_str(), s.role.c_str(), s.imap_port, s.pop3_port, s.lmtp_port,
                s.sync_port);
  }
  return 0;
}

// " since=<t>[ reason=<line>]" of a bootstrap key.
std::string bootstrap_detail(const cluster::ReplicaBootstrap& b) {
  std::string out =
      std::string(cluster::bootstrap_state_name(b.state)) + " since=" + std::to_string(b.since);
  if (!b.reason.empty()) out += " reason=" + b.reason;
  return out;
}

int show_user(Context& ctx, const std::vector<std::string>& args) {
  cluster::Directory& dir = ctx.dir;
  auto u = dir.user(args[1]);
  if (!u.ok()) return failed(u.status());
  if (!u->has_value()) return failed(Status(Code::kNotFound, "no user " + args[1]));
  print_user(**u);
  auto boots = dir.bootstraps(args[1]);
  if (!boots.ok()) return failed(boots.status());
  for (const cluster::ReplicaBootstrap& b : *boots) {
    std::printf("bootstrap %s %s\n", b.slot.c_str(), bootstrap_detail(b).c_str());
  }
  return 0;
}

int set_user(Context& ctx, const std::vector<std::string>& args) {
  cluster::Directory& dir = ctx.dir;
  auto cur = dir.user(args[1]);
  if (!cur.ok()) return failed(cur.status());
  cluster::UserEntry u;
  u.user = args[1];
  u.primary = args[2];
  u.replicas.assign(args.begin() + 3, args.end());
  Status s = dir.put_user(u, cur->has_value() ? (*cur)->mod_revision : 0);
  if (!s.is_ok()) return failed(s);
  print_user(u);
  return 0;
}

int set_primary(Context& ctx, const std::vector<std::string>& args) {
  cluster::Directory& dir = ctx.dir;
  auto u = dir.set_primary(args[1], args[2]);
  if (!u.ok()) return failed(u.status());
  print_user(*u);
  return 0;
}

int remove_user(Context& ctx, const std::vector<std::string>& args) {
  cluster::Directory& dir = ctx.dir;
  Status s = dir.remove_user(args[1]);
  return s.is_ok() ? 0 : failed(s);
}

int show_bootstraps(Context& ctx, const std::vector<std::string>&) {
  auto users = ctx.dir.users();
  if (!users.ok()) return failed(users.status());
  for (const cluster::UserEntry& u : *users) {
    auto boots = ctx.dir.bootstraps(u.user);
    if (!boots.ok()) return failed(boots.status());
    for (const cluster::ReplicaBootstrap& b : *boots)
      std::printf("bootstrap %s %s %s\n", b.user.c_str(), b.slot.c_str(),
                  bootstrap_detail(b).c_str());
  }
  return 0;
}

// place's and remove-slot's arguments after the subcommand: --replicas N,
// --all, names. nullopt on a usage error.
struct PlaceArgs {
  size_t replicas = 1;
  bool all = false;
  std::vector<std::string> names;
};

std::optional<PlaceArgs> parse_place(const std::vector<std::string>& args) {
  PlaceArgs p;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--replicas" && i + 1 < args.size()) {
      const std::string& n = args[++i];
      if (n.empty() || n.size() > 2 || n.find_first_not_of("0123456789") != std::string::npos)
        return std::nullopt;
      p.replicas = std::stoul(n);
    } else if (a == "--all") {
      p.all = true;
    } else if (!a.empty() && a[0] == '-') {
      return std::nullopt;
    } else {
      p.names.push_back(a);
    }
  }
  return p;
}

// Places `users` (all when empty) and prints what was written and refused.
int place_and_print(Context& ctx, const std::vector<std::string>& users, size_t replicas) {
  auto round = cluster::place_and_write(ctx.dir, users, replicas);
  if (!round.ok()) return failed(round.status());
  for (const cluster::Placement& p : round->placed)
    std::printf("placed %s replicas=%s added=%s dropped=%s\n", p.entry.user.c_str(),
                join(p.entry.replicas).c_str(), join(p.added).c_str(), join(p.dropped).c_str());
  for (const std::string& why : round->refused) std::printf("refused %s\n", why.c_str());
  return round->refused.empty() ? 0 : 1;
}

int place(Context& ctx, const std::vector<std::string>& args) {
  auto p = parse_place(args);
  if (!p || p->all == !p->names.empty()) {
    usage();
    return EX_USAGE;
  }
  return place_and_print(ctx, p->names, p->replicas);
}

int remove_slot(Context& ctx, const std::vector<std::string>& args) {
  auto p = parse_place(args);
  if (!p || p->all || p->names.size() != 1) {
    usage();
    return EX_USAGE;
  }
  auto had = cluster::remove_slot(ctx.dir, p->names[0]);
  if (!had.ok()) return failed(had.status());
  std::printf("removed slot %s (a replica of %zu user(s))\n", p->names[0].c_str(), had->size());
  if (had->empty()) return 0;
  return place_and_print(ctx, *had, p->replicas);
}

struct MoveArgs {
  std::string channel;
  std::string mode = "move";  // "move", "resume", "abort"
  bool remove_source = false;
  std::vector<std::string> names;  // user [slot]
};

// move's own arguments (after "move"); nullopt on a usage error.
std::optional<MoveArgs> parse_move(const std::vector<std::string>& args) {
  MoveArgs m;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-n" && i + 1 < args.size()) {
      m.channel = args[++i];
    } else if (a == "--remove-source") {
      m.remove_source = true;
    } else if (a == "--resume" || a == "--abort") {
      if (m.mode != "move") return std::nullopt;
      m.mode = a.substr(2);
    } else if (!a.empty() && a[0] == '-') {
      return std::nullopt;
    } else {
      m.names.push_back(a);
    }
  }
  if (m.names.size() != (m.mode == "move" ? 2u : 1u)) return std::nullopt;
  return m;
}

int move_user(Context& ctx, const std::vector<std::string>& args) {
  auto m = parse_move(args);
  if (!m) {
    usage();
    return EX_USAGE;
  }
  if (ctx.options.slot.empty()) {
    std::fprintf(stderr,
                 "cyr_cluster: move runs on the user's primary slot: cluster_slot_name is not "
                 "set in this imapd.conf\n");
    return EX_CONFIG;
  }
  auto instance = sync::open_tool_store(ctx.config);
  if (!instance) return EX_CONFIG;
  cluster::LocalMoveSource source(*instance, ctx.config, ctx.options.slot, m->channel);
  cluster::MoveOptions mo;
  mo.keep_source = !m->remove_source;
  mo.progress = [](const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  };
  cluster::Mover mover(ctx.dir, source, mo);
  const std::string& user = m->names[0];
  if (m->mode == "abort") {
    auto r = mover.abort(user);
    return r.ok() ? 0 : failed(r.status());
  }
  auto r = m->mode == "resume" ? mover.resume(user) : mover.move(user, m->names[1]);
  if (!r.ok()) {
    if (r.status().code() == Code::kMailboxLocked) {
      std::fprintf(stderr, "cyr_cluster: %s\n", r.status().message().c_str());
      return EX_TEMPFAIL;
    }
    return failed(r.status());
  }
  std::printf(
      "moved %s %s -> %s: copy passes=%d changes=%llu fenced passes=%d changes=%llu "
      "pause_ms=%.1f\n",
      user.c_str(), r->record.source.c_str(), r->record.target.c_str(), r->copy_passes,
      static_cast<unsigned long long>(r->copied), r->fenced_passes,
      static_cast<unsigned long long>(r->copied_fenced),
      static_cast<double>(r->pause.count()) / 1000.0);
  return 0;
}

// The subcommands: name, how many words the command line has with it
// (at least, at most), what it does.
struct Subcommand {
  std::string_view name;
  size_t min_words;
  size_t max_words;
  int (*run)(Context& ctx, const std::vector<std::string>& args);
};
constexpr size_t kAny = SIZE_MAX;
constexpr Subcommand kSubcommands[] = {
    {"slots", 1, 1, show_slots},
    {"user", 2, 2, show_user},
    {"set-user", 3, kAny, set_user},
    {"set-primary", 3, 3, set_primary},
    {"remove-user", 2, 2, remove_user},
    {"move", 2, kAny, move_user},           // its own arguments: parse_move
    {"place", 2, kAny, place},              // parse_place
    {"remove-slot", 2, kAny, remove_slot},  // parse_place
    {"bootstraps", 1, 1, show_bootstraps},
};

const Subcommand* find_subcommand(const std::vector<std::string>& args) {
  if (args.empty()) return nullptr;
  for (const Subcommand& c : kSubcommands) {
    if (c.name == args[0] && args.size() >= c.min_words && args.size() <= c.max_words) return &c;
  }
  return nullptr;
}

}  // namespace

static int run(int argc, char** argv) {
  std::string conf = "/etc/imapd.conf";
  int c;
  // '+': options end at the subcommand, whose own options (move's) follow.
  while ((c = ::getopt(argc, argv, "+C:")) != -1) {
    if (c != 'C') {
      usage();
      return EX_USAGE;
    }
    conf = optarg;
  }
  std::vector<std::string> args(argv + optind, argv + argc);
  const Subcommand* cmd = find_subcommand(args);
  if (cmd == nullptr) {
    usage();
    return EX_USAGE;
  }
  init_logging("cyr_cluster");
  auto config = Config::load(conf);
  if (!config.ok()) {
    std::fprintf(stderr, "cyr_cluster: %s\n", config.status().to_string().c_str());
    return EX_CONFIG;
  }
  auto options = cluster::cluster_options(*config, /*need_slot=*/false);
  if (!options.ok()) {
    std::fprintf(stderr, "cyr_cluster: %s: %s\n", conf.c_str(), options.status().message().c_str());
    return EX_CONFIG;
  }
  cluster::EtcdClient etcd(options->etcd);
  cluster::Directory dir(etcd, cluster::KeyLayout::make(options->prefix).value());
  Context ctx{*config, *options, dir};
  return cmd->run(ctx, args);
}

// What the libraries throw (std::bad_alloc, std::system_error from a thread
// that cannot start, cpp-httplib's std::regex_error) ends the program with
// a message instead of std::terminate.
int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cyr_cluster: %s\n", e.what());
    return EX_SOFTWARE;
  }
}
